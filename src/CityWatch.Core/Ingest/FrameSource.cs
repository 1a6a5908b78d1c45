using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using CityWatch.Vision;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CityWatch.Ingest;

/// <summary>A finite source (a file read once) could not be decoded to its end; the message says why.</summary>
internal sealed class IngestException(string message) : Exception(message);

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
internal sealed partial class FrameSource : IAsyncDisposable
{
    private static readonly TimeSpan ExitWait = TimeSpan.FromSeconds(5);

    private readonly IngestOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<VideoFrame> _channel;
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;
    private long _sequence;

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
        _channel = Channel.CreateBounded<VideoFrame>(channelOptions, _ => Health.FrameDropped());
    }

    public string CameraId { get; }

    public VideoSource Source { get; }

    /// <summary>True for cameras and looping files: reconnects forever and drops the oldest frames when behind.</summary>
    public bool IsLive { get; }

    public CameraHealth Health { get; }

    /// <summary>The decoded frames. Completes when the source is stopped or a finite file ends (faulted if it failed).</summary>
    public ChannelReader<VideoFrame> Frames => _channel.Reader;

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

    /// <summary>One ffmpeg run: probe (if needed), then frames until EOF, failure, stall or stop. Returns the frame count and why it ended (null: a clean end).</summary>
    private async Task<(long Frames, string? Error)> ReadOnceAsync(CancellationToken stop)
    {
        FrameSize size;
        var pad = _options.Height is not null;
        if (_options.Height is { } height)
        {
            size = new FrameSize(_options.Width, height);
        }
        else
        {
            var (info, probeError) = await ProbeAsync(stop);
            if (info is null)
            {
                return (0, probeError);
            }

            size = FrameSize.KeepingAspect(info.DisplayWidth, info.DisplayHeight, _options.Width);
        }

        ProcessRunner runner;
        try
        {
            var logLines = new ProcessRunnerOptions { OnErrorLine = line => LogFfmpegLine(_logger, CameraId, VideoSource.Redact(line)) };
            runner = ProcessRunner.Start(_options.FfmpegPath, FfmpegCommand.Decode(Source, size, pad, _options), logLines, stop);
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
                var pixels = new byte[size.ByteCount];
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
                TimeSpan? position = _options.KeyFramesOnly ? null : TimeSpan.FromSeconds(frames / _options.AnalysisFps);
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
            var result = await ProcessRunner.RunAsync(_options.FfprobePath, FfmpegCommand.Probe(Source, _options), token.Token);
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
