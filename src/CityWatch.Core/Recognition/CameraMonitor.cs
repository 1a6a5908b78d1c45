using System.Collections.Concurrent;
using CityWatch.Cameras;
using CityWatch.Ingest;
using CityWatch.ScaleOut;
using CityWatch.Vision;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CityWatch.Recognition;

/// <summary>A camera's health as the API shows it: ingest (from ffmpeg) and recognition (from the analyzer).</summary>
public sealed record CameraHealthView(
    string State,
    DateTimeOffset Since,
    DateTimeOffset? LastFrameAt,
    long FramesDecoded,
    long FramesAnalysed,
    long FramesDropped,
    long Reconnects,
    int ConsecutiveFailures,
    string? LastError,
    long FacesDetected,
    long Alerts,
    string? PolicyRefusal)
{
    /// <summary>Frames the motion gate kept from analysis because nothing moved since the last analysed one.</summary>
    public long FramesGated { get; init; }
}

/// <summary>
/// Runs one worker per streaming camera in the register: an ffmpeg frame source and, where face
/// recognition is allowed, the frame analyzer, whose loop runs on the monitor's <see cref="AnalysisThreads"/> (as many as
/// <see cref="VisionOptions.AnalysisThreads"/>, one per core unless configured) rather than the thread pool. Reconciles with the register when it changes, so adding,
/// disabling or deleting a camera starts or stops its worker. A dead camera only affects its own worker.
/// Once a minute (by <see cref="TimeProvider"/>) it records each worker's camera as up (frames arriving)
/// or not in <see cref="CameraUptime"/>, for the register's 30-day share.
/// With a <see cref="CameraLeaseKeeper"/> (one of several workers) the register's streaming cameras are the set the
/// keeper shares out, a camera runs only while this worker holds its lease (the keeper's start and stop events
/// reconcile at once), and every frame is checked with <see cref="CameraLeaseKeeper.MayRun"/> before analysis.
/// Without one, every streaming camera runs here (one process). The cameras come from an <see cref="IStreamingCameras"/>
/// (the register, or on a worker the server); without a <see cref="CameraUptime"/> (a worker has no database) nothing is sampled.
/// With a <see cref="ReplayClip"/> (a simulated worker, <c>citywatch sim</c>) every camera plays that clip instead of
/// opening its stream; leases, grants and analysis are unchanged.
/// </summary>
public sealed partial class CameraMonitor(
    IStreamingCameras cameras,
    CameraUptime? uptime,
    IServiceProvider services,
    TimeProvider time,
    ILogger<CameraMonitor> logger,
    bool runCameras,
    CameraLeaseKeeper? keeper = null,
    ReplayClip? replay = null) : BackgroundService
{
    private long _retiredAnalysed;
    private long _retiredFaces;

    private readonly ConcurrentDictionary<long, Worker> _workers = new();
    // As many as the face pipeline has sessions per model, so no loop waits for a session while another thread idles.
    private readonly AnalysisThreads _threads = new(services.GetService<VisionOptions>()?.AnalysisThreads ?? Environment.ProcessorCount);
    private readonly SemaphoreSlim _changed = new(0);

    /// <summary>Asks the monitor to compare its workers with the register now.</summary>
    public void Reconcile() => _changed.Release();

    public CameraHealthView? Health(long cameraId) => _workers.TryGetValue(cameraId, out var worker) ? worker.View() : null;

    /// <summary>
    /// Cameras running now, and frames analysed and faces found since start (cameras stopped since included), for the
    /// worker's periodic stats line that <c>citywatch sim</c> reads.
    /// </summary>
    public (int Cameras, long FramesAnalysed, long Faces) Totals()
    {
        long analysed = Interlocked.Read(ref _retiredAnalysed), faces = Interlocked.Read(ref _retiredFaces);
        var running = 0;
        foreach (var worker in _workers.Values)
        {
            var view = worker.View();
            analysed += view.FramesAnalysed;
            faces += view.FacesDetected;
            running++;
        }

        return (running, analysed, faces);
    }

    /// <summary>The sampling interval of <see cref="CameraUptime"/>.</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromMinutes(1);

    /// <summary>Records one minute for every camera with a worker: up while its frames arrive.</summary>
    public void Sample()
    {
        if (uptime is null)
        {
            return;
        }

        try
        {
            uptime.Record(time.GetUtcNow(), _workers.Select(w => (w.Key, w.Value.IsUp)).ToList());
        }
        catch (Exception e) when (e is System.Data.Common.DbException or ObjectDisposedException)
        {
            LogSampleFailed(logger, e.Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!runCameras)
        {
            return;
        }

        var sampling = uptime is null ? Task.CompletedTask : Task.Run(() => SampleAsync(stoppingToken), CancellationToken.None);
        if (keeper is not null)
        {
            keeper.CameraStarted += OnLeaseStarted;
            keeper.CameraStopped += OnLeaseStopped;
        }

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await ReconcileAsync(stoppingToken);
                await _changed.WaitAsync(TimeSpan.FromSeconds(30), stoppingToken);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
        finally
        {
            if (keeper is not null)
            {
                keeper.CameraStarted -= OnLeaseStarted;
                keeper.CameraStopped -= OnLeaseStopped;
            }

            await sampling;
            await Task.WhenAll(_workers.Values.Select(w => w.DisposeAsync().AsTask()));
            _workers.Clear();
        }
    }

    private void OnLeaseStarted(CameraLease lease) => Reconcile();

    private void OnLeaseStopped(string cameraId) => Reconcile();

    private static string LeaseId(long cameraId) => cameraId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public override void Dispose()
    {
        _changed.Dispose();
        _threads.Dispose();
        base.Dispose();
    }

    private async Task SampleAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SampleInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Sample();
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var wanted = cameras.Streaming().ToDictionary(c => c.Id);
        if (keeper is not null)
        {
            keeper.SetCameras(wanted.Keys.Select(LeaseId));
            wanted = wanted.Where(c => keeper.MayRun(LeaseId(c.Key))).ToDictionary();
        }

        foreach (var (id, worker) in _workers)
        {
            if (!wanted.TryGetValue(id, out var camera) || camera != worker.Camera)
            {
                _workers.TryRemove(id, out _);
                await worker.DisposeAsync();
                var view = worker.View();
                Interlocked.Add(ref _retiredAnalysed, view.FramesAnalysed);
                Interlocked.Add(ref _retiredFaces, view.FacesDetected);
            }
        }

        foreach (var camera in wanted.Values)
        {
            if (!_workers.ContainsKey(camera.Id))
            {
                var analyzer = camera.FaceRecognitionAllowed ? services.GetRequiredService<FrameAnalyzer>() : null;
                var leaseId = LeaseId(camera.Id);
                Func<bool>? mayRun = keeper is null ? null : () => keeper.MayRun(leaseId);
                _workers[camera.Id] = Worker.Start(camera, cameras.IngestUrl(camera), analyzer, mayRun, replay, _threads, time, logger, cancellationToken);
            }
        }
    }

    private sealed class Worker : IAsyncDisposable
    {
        private readonly FrameSource _source;
        private readonly CameraRecognitionState _state;
        private readonly CancellationTokenSource _stop;
        private readonly MotionGate _gate;
        private Task _loop = Task.CompletedTask;
        private FrameAnalyzer? _analyzer;
        private string _url = "";
        private long _faces;
        private long _alerts;

        private Worker(StreamingCamera camera, FrameSource source, IngestOptions options, CancellationTokenSource stop)
        {
            _gate = new MotionGate(options);
            Camera = camera;
            _source = source;
            _stop = stop;
            _state = new CameraRecognitionState(camera.Id);
        }

        public StreamingCamera Camera { get; }

        public bool IsUp => _source.Health.Snapshot().State == CameraState.Online;

        public static Worker Start(StreamingCamera camera, string url, FrameAnalyzer? analyzer, Func<bool>? mayRun, ReplayClip? replay, AnalysisThreads threads, TimeProvider time, ILogger logger, CancellationToken stopping)
        {
            var (source, isFile) = SourceOf(url);
            var options = new IngestOptions
            {
                AnalysisFps = camera.AnalysisFps,
                Width = camera.AnalysisWidth,
                // A file registered as a camera plays in real time, looping, like a live stream.
                RealTime = isFile,
                Loop = isFile,
            }.Validate();
            var id = camera.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var frameSource = replay is null ? new FrameSource(id, source, options, time, logger) : FrameSource.Replaying(id, replay, options, time, logger);
            var worker = new Worker(camera, frameSource, options, CancellationTokenSource.CreateLinkedTokenSource(stopping)) { _analyzer = analyzer, _url = url };
            frameSource.Start();
            worker._loop = threads.Run(() => worker.RunAsync(analyzer, mayRun, logger));
            return worker;
        }

        public CameraHealthView View()
        {
            var h = _source.Health.Snapshot();
            return new CameraHealthView(
                h.State.ToString().ToLowerInvariant(), h.Since, h.LastFrameAt, h.FramesDecoded, h.FramesAnalysed, h.FramesDropped,
                h.Reconnects, h.ConsecutiveFailures, StreamCredentials.Scrub(h.LastError, _url), Interlocked.Read(ref _faces), Interlocked.Read(ref _alerts), _state.LastRefusal)
            {
                FramesGated = h.FramesGated,
            };
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _source.StopAsync();
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
                // stopped
            }

            // Tracked alerts get their final last-seen time and frame count; track embeddings are dropped.
            _analyzer?.EndTracks(_state);
            await _source.DisposeAsync();
            _stop.Dispose();
        }

        private async Task RunAsync(FrameAnalyzer? analyzer, Func<bool>? mayRun, ILogger logger)
        {
            await foreach (var frame in _source.Frames.ReadAllAsync(_stop.Token))
            {
                if (analyzer is null)
                {
                    _source.Return(frame);
                    continue; // face recognition not allowed here: frames are not analysed
                }

                if (mayRun is not null && !mayRun())
                {
                    // The lease lapsed (or was lost) and the keeper's stop has not reached this worker yet: fail closed.
                    _source.Return(frame);
                    continue;
                }

                if (!_gate.ShouldAnalyse(frame.Image, TimeSpan.FromTicks(frame.CapturedAt.UtcTicks)))
                {
                    // Nothing moved since the last analysed frame: detection would find what it found then.
                    _source.Health.FrameGated();
                    _source.Return(frame);
                    continue;
                }

                try
                {
                    var outcome = await analyzer.AnalyzeAsync(_state, frame.Image, frame.CapturedAt, _stop.Token);
                    if (outcome.Analysed)
                    {
                        _source.Health.FrameAnalysed();
                        Interlocked.Add(ref _faces, outcome.Faces);
                        Interlocked.Add(ref _alerts, outcome.Raised);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogAnalysisFailed(logger, Camera.Id, e.Message);
                }

                // The analyser keeps no reference to the picture (crops are encoded as it goes).
                _source.Return(frame);
            }
        }

        private static (string Source, bool IsFile) SourceOf(string url) =>
            Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.IsFile ? (uri.LocalPath, true) : (url, false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Camera {Camera}: frame analysis failed: {Reason}")]
    private static partial void LogAnalysisFailed(ILogger logger, long camera, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Camera health sample not recorded: {Reason}")]
    private static partial void LogSampleFailed(ILogger logger, string reason);
}
