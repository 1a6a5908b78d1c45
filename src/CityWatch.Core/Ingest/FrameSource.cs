using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using CityWatch.Vision;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CityWatch.Ingest;

/// <summary>A finite source (a file read once) could not be decoded to its end; the message says why.</summary>
public sealed class IngestException(string message) : Exception(message);

/// <summary>
/// One camera (or video file): runs ffmpeg through <see cref="ProcessRunner"/>, cuts its standard
/// output into frames of exactly the analysis size and queues them in <see cref="Frames"/>.
/// <para>
/// A live source (a URL, or a file with <see cref="IngestOptions.Loop"/>) never ends by itself: when
/// ffmpeg fails, the stream ends or no frame comes for <see cref="IngestOptions.StallTimeout"/>, it
/// marks the camera offline and starts ffmpeg again after a backoff that doubles from BackoffMin to
/// BackoffMax and resets once frames flow. Its queue drops the oldest frame when the consumer lags
/// (counted in <see cref="Health"/>). A finite file is read once at the consumer's pace (nothing is
/// dropped); <see cref="Frames"/> then completes, with an <see cref="IngestException"/> if ffmpeg failed.
/// </para>
/// </summary>
public sealed partial class FrameSource : IAsyncDisposable
{
    private static readonly TimeSpan ExitWait = TimeSpan.FromSeconds(5);

    private readonly IngestOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<VideoFrame> _channel;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<byte[]> _pool = new();
    private readonly int _poolCapacity;
    private Task? _run;
    private long _sequence;
    private int _pooled;
    private int _keyFramesOnly = -1;
    private ReplayClip? _replay;

    /// <param name="cameraId">Names the camera in frames, health and logs.</param>
    /// <param name="source">rtsp://, http(s):// or another ffmpeg URL, or a local file path.</param>
    /// <exception cref="InvalidRequestException">Invalid options, an empty source, or a file that does not exist.</exception>
    public FrameSource(string cameraId, string source, IngestOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cameraId);
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Validate();
        Source = VideoSource.Parse(source);
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        CameraId = cameraId;
        Health = new CameraHealth(cameraId, _time);
        IsLive = !Source.IsFile || options.Loop;
        var channelOptions = new BoundedChannelOptions(options.QueueCapacity)
        {
            FullMode = IsLive ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
            SingleWriter = true,
        };
        _poolCapacity = options.QueueCapacity + 2;
        _channel = Channel.CreateBounded<VideoFrame>(channelOptions, dropped =>
        {
            Health.FrameDropped();
            Return(dropped);
        });
    }

    /// <summary>
    /// A simulated camera: it plays <paramref name="clip"/> (already decoded, shared) at the analysis rate, looping,
    /// from a start that differs per camera, instead of running ffmpeg on a stream. Health, queue and dropping are
    /// those of a live source, so what consumes the frames cannot tell the difference.
    /// </summary>
    public static FrameSource Replaying(string cameraId, ReplayClip clip, IngestOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(clip);
        return new FrameSource(cameraId, clip.Path, options with { Loop = true }, timeProvider, logger) { _replay = clip };
    }

    public string CameraId { get; }

    public VideoSource Source { get; }

    /// <summary>True for cameras and looping files: reconnects forever and drops the oldest frames when behind.</summary>
    public bool IsLive { get; }

    public CameraHealth Health { get; }

    /// <summary>The decoded frames. Completes when the source is stopped or a finite file ends (faulted if it failed).</summary>
    public ChannelReader<VideoFrame> Frames => _channel.Reader;

    /// <summary>
    /// What the current (or last) ffmpeg run decodes: true key frames only, false every frame, null before the
    /// first run started. With <see cref="DecodeMode.Auto"/> it follows the probe at each connect.
    /// </summary>
    public bool? KeyFramesOnly => Volatile.Read(ref _keyFramesOnly) switch { -1 => null, 0 => false, _ => true };

    /// <summary>
    /// Gives a frame's pixel buffer back for reuse by a later frame. Only for a consumer that is done with the
    /// frame and holds no reference to its image; a frame never returned is simply collected. Frames the queue
    /// drops are reused without this.
    /// </summary>
    public void Return(VideoFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (_replay is not null)
        {
            return; // the clip's frames are shared, never reused as buffers
        }

        if (Interlocked.Increment(ref _pooled) <= _poolCapacity)
        {
            _pool.Enqueue(frame.Image.Pixels);
        }
        else
        {
            Interlocked.Decrement(ref _pooled);
        }
    }

    /// <summary>Completes when the source has stopped; faults with <see cref="IngestException"/> if a finite file failed.</summary>
    public Task Completion => _run ?? throw new InvalidOperationException("The frame source has not been started.");

    /// <summary>Starts reading in the background. Call once.</summary>
    public void Start()
    {
        if (_run is not null)
        {
            throw new InvalidOperationException("The frame source has already been started.");
        }

        _run = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary>
    /// Decodes a video file once, as fast as the consumer takes frames (with default options), and
    /// yields its frames in order. Throws <see cref="IngestException"/> at the end if ffmpeg failed,
    /// <see cref="InvalidRequestException"/> at once if the file does not exist.
    /// </summary>
    public static async IAsyncEnumerable<VideoFrame> ReadFileAsync(
        string path,
        IngestOptions options,
        TimeProvider? timeProvider = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var source = new FrameSource(Path.GetFileName(path), path, options, timeProvider);
        source.Start();
        await foreach (var frame in source.Frames.ReadAllAsync(cancellationToken))
        {
            yield return frame;
        }

        await source.Completion;
    }

    /// <summary>Stops ffmpeg (killing its process tree) and waits for the reader to finish.</summary>
    public async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
        }

        if (_run is not null)
        {
            try
            {
                await _run;
            }
            catch (IngestException)
            {
                // Already reported through Frames, Completion and Health.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        Exception? failure = null;
        try
        {
            if (_replay is not null)
            {
                await ReplayAsync(_replay, stop);
                return;
            }

            var backoff = _options.BackoffMin;
            for (var attempt = 0; ; attempt++)
            {
                if (attempt > 0)
                {
                    Health.ReconnectStarted();
                }

                var (frames, error) = await ReadOnceAsync(stop);
                if (!IsLive)
                {
                    if (error is not null)
                    {
                        Health.Failed(error);
                        failure = new IngestException($"Decoding {Source.Redacted} failed: {error}");
                    }

                    break;
                }

                if (frames > 0)
                {
                    backoff = _options.BackoffMin;
                }

                error ??= "the stream ended";
                Health.Failed(error);
                var delay = Jitter(backoff);
                LogReconnecting(_logger, CameraId, error, delay.TotalSeconds);
                await Task.Delay(delay, _time, stop);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.BackoffMax.Ticks));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped.
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            if (failure is null)
            {
                Health.Stopped();
            }

            _channel.Writer.TryComplete(failure);
        }

        if (failure is not null)
        {
            throw failure;
        }
    }

    /// <summary>Plays the clip at the analysis rate until stopped, starting at a point of it that depends on the camera.</summary>
    private async Task ReplayAsync(ReplayClip clip, CancellationToken stop)
    {
        var interval = TimeSpan.FromSeconds(1 / _options.AnalysisFps);
        var offset = TimeSpan.FromSeconds((uint)CameraId.Aggregate(17, (h, c) => unchecked((h * 31) + c)) % Math.Max(1, (int)clip.Duration.TotalSeconds));
        using var timer = new PeriodicTimer(interval, _time);
        var started = _time.GetUtcNow();
        while (await timer.WaitForNextTickAsync(stop))
        {
            var now = _time.GetUtcNow();
            var position = offset + (now - started);
            Health.FrameDecoded(now);
            await _channel.Writer.WriteAsync(new VideoFrame(CameraId, clip.At(position), now, _sequence++, position), stop);
        }
    }

    /// <summary>One ffmpeg run: probe (if needed), then frames until EOF, failure, stall or stop. Returns the frame count and why it ended (null: a clean end).</summary>
    private async Task<(long Frames, string? Error)> ReadOnceAsync(CancellationToken stop)
    {
        FrameSize size;
        var pad = _options.Height is not null;
        var keyFramesFit = false;
        if (_options.Height is null || _options.Decode == DecodeMode.Auto)
        {
            var (info, probeError) = await ProbeAsync(stop);
            if (info is null && _options.Height is null)
            {
                return (0, probeError);
            }

            // A fixed size needs no probe: if only the key-frame probe failed, decode every frame.
            size = _options.Height is { } fixedHeight
                ? new FrameSize(_options.Width, fixedHeight)
                : FrameSize.KeepingAspect(info!.DisplayWidth, info.DisplayHeight, _options.Width);
            keyFramesFit = info?.KeyFrameInterval is { } interval && interval <= IngestOptions.KeyFrameSlack / _options.AnalysisFps;
        }
        else
        {
            size = new FrameSize(_options.Width, _options.Height.Value);
        }

        var keyFramesOnly = _options.Decode == DecodeMode.KeyFrames || (_options.Decode == DecodeMode.Auto && keyFramesFit);
        Volatile.Write(ref _keyFramesOnly, keyFramesOnly ? 1 : 0);

        ProcessRunner runner;
        try
        {
            var logLines = new ProcessRunnerOptions { OnErrorLine = line => LogFfmpegLine(_logger, CameraId, VideoSource.Redact(line)) };
            runner = ProcessRunner.Start(_options.FfmpegPath, FfmpegCommand.Decode(Source, size, pad, _options, keyFramesFit), logLines, stop);
        }
        catch (ProcessStartException e)
        {
            return (0, e.Message);
        }

        await using (runner)
        {
            using var stall = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
            using var killOnStall = stall.Token.Register(static r => ((ProcessRunner)r!).Kill(), runner);
            using var readToken = CancellationTokenSource.CreateLinkedTokenSource(stop, stall.Token);
            long frames = 0;
            while (true)
            {
                // The first frame may also wait for the connection; the timer runs only while reading,
                // so a slow consumer of a finite file never counts as a stall.
                stall.CancelAfter(frames == 0 ? _options.ConnectTimeout + _options.StallTimeout : _options.StallTimeout);
                var pixels = Rent(size.ByteCount);
                try
                {
                    await runner.StandardOutput.ReadExactlyAsync(pixels, readToken.Token);
                }
                catch (EndOfStreamException)
                {
                    break;
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    break;
                }
                catch (IOException)
                {
                    break;
                }

                stall.CancelAfter(Timeout.InfiniteTimeSpan);
                var now = _time.GetUtcNow();
                TimeSpan? position = _options.Decode == DecodeMode.KeyFrames ? null : TimeSpan.FromSeconds(frames / _options.AnalysisFps);
                var frame = new VideoFrame(CameraId, new BgrImage(size.Width, size.Height, pixels), now, _sequence++, position);
                frames++;
                Health.FrameDecoded(now);
                await _channel.Writer.WriteAsync(frame, stop);
            }

            stop.ThrowIfCancellationRequested();
            if (stall.IsCancellationRequested)
            {
                var waited = (frames == 0 ? _options.ConnectTimeout + _options.StallTimeout : _options.StallTimeout).TotalSeconds;
                return (frames, $"no frame for {waited.ToString("0.#", CultureInfo.InvariantCulture)} s; ffmpeg restarted");
            }

            int? exitCode = null;
            using (var exitTimeout = new CancellationTokenSource(ExitWait, _time))
            using (var exitToken = CancellationTokenSource.CreateLinkedTokenSource(stop, exitTimeout.Token))
            {
                try
                {
                    exitCode = await runner.WaitForExitAsync(exitToken.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    // Closed its output but did not exit: disposing the runner kills it.
                }
            }

            var errors = runner.ErrorLines;
            if (exitCode == 0 && (!IsLive || errors.Count == 0))
            {
                return (frames, IsLive ? "the stream ended" : null);
            }

            return (frames, "ffmpeg: " + FfmpegOutput.DescribeFailure(errors, exitCode));
        }
    }

    private async Task<(VideoStreamInfo? Info, string? Error)> ProbeAsync(CancellationToken stop)
    {
        var limit = _options.ConnectTimeout + _options.StallTimeout;
        using var timeout = new CancellationTokenSource(limit, _time);
        using var token = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        try
        {
            var result = await ProcessRunner.RunAsync(_options.FfprobePath, FfmpegCommand.Probe(Source, _options, PacketWindow()), token.Token);
            if (result.ExitCode != 0)
            {
                return (null, "ffprobe: " + FfmpegOutput.DescribeFailure(result.ErrorLines, result.ExitCode));
            }

            return (FfmpegOutput.ParseProbe(result.StandardOutput), null);
        }
        catch (ProbeFormatException e)
        {
            return (null, e.Message);
        }
        catch (ProcessStartException e)
        {
            return (null, e.Message);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return (null, $"ffprobe gave no answer within {limit.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s");
        }
    }

    /// <summary>
    /// With <see cref="DecodeMode.Auto"/>, how much of the stream's start the probe lists packets for: three
    /// analysis intervals (1.5 s at 2 frames/s), at least 1 s and at most 10 s, so that a key-frame interval
    /// that fits shows at least two key frames.
    /// </summary>
    private TimeSpan? PacketWindow() =>
        _options.Decode == DecodeMode.Auto ? TimeSpan.FromSeconds(Math.Clamp(3 / _options.AnalysisFps, 1, 10)) : null;

    /// <summary>A pooled pixel buffer of exactly <paramref name="length"/> bytes, or a new one; buffers of another size (before a reconnect) are let go.</summary>
    private byte[] Rent(int length)
    {
        while (_pool.TryDequeue(out var pixels))
        {
            Interlocked.Decrement(ref _pooled);
            if (pixels.Length == length)
            {
                return pixels;
            }
        }

        return new byte[length];
    }

    private TimeSpan Jitter(TimeSpan delay)
    {
        if (_options.BackoffJitter <= 0)
        {
            return delay;
        }

        // Spread, not security: a shared non-cryptographic generator is right here.
#pragma warning disable CA5394
        var factor = 1 + (_options.BackoffJitter * ((2 * Random.Shared.NextDouble()) - 1));
#pragma warning restore CA5394
        return TimeSpan.FromTicks((long)(delay.Ticks * factor));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Camera {CameraId}: {Error}; reconnecting in {DelaySeconds:0.0} s")]
    private static partial void LogReconnecting(ILogger logger, string cameraId, string error, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Camera {CameraId} ffmpeg: {Line}")]
    private static partial void LogFfmpegLine(ILogger logger, string cameraId, string line);
}
