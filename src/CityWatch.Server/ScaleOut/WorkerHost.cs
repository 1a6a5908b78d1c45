using System.Globalization;
using CityWatch.Ingest;
using CityWatch.Recognition;
using CityWatch.ScaleOut;
using CityWatch.Vision;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace CityWatch.Server.ScaleOut;

/// <summary>
/// What a worker (<c>serve --role worker</c>) needs: NATS, its name, the lease TTL, the server's grant-signing public
/// key (<c>ScaleOut:GrantKey</c>, base64 of the raw 32 bytes, as in the log's <c>key.create</c> record) and the models.
/// No data folder and no key-encryption key: a worker stores nothing.
/// </summary>
public sealed record WorkerHostOptions(NatsLink Nats, string Worker, TimeSpan LeaseTtl, byte[] GrantKey, string ModelsDirectory)
{
    public const string GrantKeyKey = "ScaleOut:GrantKey";

    /// <summary>How often the worker asks the server for its camera list.</summary>
    public static readonly TimeSpan DefaultRegisterInterval = TimeSpan.FromSeconds(5);

    public string Detector { get; init; } = "yunet";

    public string Embedder { get; init; } = "fr_feature";

    public TimeSpan RegisterInterval { get; init; } = DefaultRegisterInterval;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// A simulation (<c>--replay FILE</c>, <c>Serve:Replay</c>): every camera this worker runs plays this video, decoded
    /// once at start and held in memory, instead of its stream; null: the cameras' streams.
    /// </summary>
    public string? Replay { get; init; }

    /// <summary>How often the worker logs its counters (the stats line <c>citywatch sim</c> reads).</summary>
    public TimeSpan StatsInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Resolves the worker's settings (flags first, then configuration); a missing or bad one throws <see cref="ArgumentException"/> with one line.</summary>
    public static WorkerHostOptions From(ServerOptions options, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        var scaleOut = ScaleOutOptions.From(options, configuration);
        if (scaleOut.Role != ServerRole.Worker || scaleOut.Link is not { } nats || scaleOut.Worker is not { } worker)
        {
            throw new ArgumentException("this process is not in the worker role (--role worker --nats URL --worker NAME)");
        }

        var text = configuration[GrantKeyKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ArgumentException($"--role worker needs the server's grant-signing public key in {GrantKeyKey} (base64, 32 bytes; environment ScaleOut__GrantKey)");
        }

        var key = new byte[32];
        if (!Convert.TryFromBase64String(text.Trim(), key, out var written) || written != key.Length)
        {
            throw new ArgumentException($"{GrantKeyKey} must be the base64 of a 32-byte grant-signing public key");
        }

        return new WorkerHostOptions(nats, worker, scaleOut.LeaseTtl, key, options.ModelsDirectory)
        {
            Detector = options.Detector,
            Embedder = options.Embedder,
            Time = options.Time,
        };
    }
}

/// <summary>
/// The worker role: one process with no database, no data folder and no key-encryption key. On one NATS connection it
/// holds camera leases (<see cref="CameraLeaseKeeper"/>), asks the server for its cameras, grants and galleries
/// (<see cref="ServerLink"/>, which verifies every grant with the configured key) and publishes what it finds
/// (<see cref="CandidatePublisher"/>); the same <see cref="FrameAnalyzer"/> and <see cref="CameraMonitor"/> as one
/// process run over that link. Without NATS the leases and grants lapse and the cameras stop (fail closed).
/// </summary>
public static class WorkerHost
{
    /// <summary>Builds the worker's host; the models are verified here, so a bad model folder fails before anything starts.</summary>
    public static IHost Build(WorkerHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ApplicationName = typeof(WorkerHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("NATS", LogLevel.Warning);
        var vision = new FacePipeline(new VisionOptions { ModelDirectory = options.ModelsDirectory, Detector = options.Detector, Embedder = options.Embedder }, options.Time);
        builder.Services.AddSingleton(vision);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<WorkerService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WorkerService>());
        return builder.Build();
    }
}

/// <summary>Opens the candidate stream (retrying until NATS answers), then runs the keeper, the publisher, the register loop and the camera monitor until the host stops.</summary>
public sealed partial class WorkerService(WorkerHostOptions options, FacePipeline vision, ILoggerFactory loggers) : BackgroundService
{
    private static readonly TimeSpan OpenRetry = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan LeaveDrain = TimeSpan.FromSeconds(3);

    private readonly ILogger _logger = loggers.CreateLogger<WorkerService>();

    /// <summary>The link to the server once the worker is running (null before).</summary>
    public ServerLink? Link { get; private set; }

    /// <summary>This worker's lease keeper once running (null before).</summary>
    public CameraLeaseKeeper? Keeper { get; private set; }

    /// <summary>The camera monitor once running (null before).</summary>
    public CameraMonitor? Monitor { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var time = options.Time;
        // Replies come to this worker's own inbox prefix: its NATS user may subscribe there and nowhere else (NatsAccess).
        await using var nats = new NatsConnection(options.Nats.Options($"citywatch-worker-{options.Worker}", NatsAccess.InboxPrefix(options.Worker)));
        var keeper = new CameraLeaseKeeper(nats, options.Worker, options.LeaseTtl, time, loggers.CreateLogger<CameraLeaseKeeper>());
        CandidatePublisher? publisher = null;
        LeaseAudit? leaseAudit = null;
        while (publisher is null || leaseAudit is null)
        {
            try
            {
                publisher ??= await CandidatePublisher.OpenAsync(nats, loggers.CreateLogger<CandidatePublisher>(), stoppingToken);
                leaseAudit ??= await LeaseAudit.OpenAsync(nats, keeper, loggers.CreateLogger<LeaseAudit>(), stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
            {
                LogOpenFailed(_logger, options.Nats.Url, e.Message);
                try
                {
                    await Task.Delay(OpenRetry, TimeProvider.System, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        ReplayClip? replay = null;
        if (options.Replay is { } file)
        {
            replay = await ReplayClip.DecodeAsync(file, new IngestOptions().Width, stoppingToken);
            LogSimulation(_logger, options.Worker, file, replay.Frames.Count, replay.Duration.TotalSeconds);
        }

        var link = new ServerLink(
            nats,
            options.Worker,
            options.GrantKey,
            id => keeper.Lease(id.ToString(CultureInfo.InvariantCulture)),
            publisher,
            time,
            loggers.CreateLogger<ServerLink>());
        var analyzer = new FrameAnalyzer(link, vision, time, new RecognitionOptions());
        await using var services = new ServiceCollection().AddSingleton(analyzer).BuildServiceProvider();
        using var monitor = new CameraMonitor(link, null, services, time, loggers.CreateLogger<CameraMonitor>(), runCameras: true, keeper, replay);
        Keeper = keeper;
        Link = link;
        Monitor = monitor;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var keeping = keeper.RunAsync(stop.Token);
        var publishing = publisher.RunAsync(stop.Token);
        var logging = leaseAudit.RunAsync(stop.Token);
        var stats = StatsLoopAsync(monitor, link, publisher, leaseAudit, stop.Token);
        await monitor.StartAsync(stop.Token);
        try
        {
            await RegisterLoopAsync(link, monitor, stoppingToken);
        }
        finally
        {
            await monitor.StopAsync(CancellationToken.None);
            await stop.CancelAsync();
            await Task.WhenAll(Quietly(keeping), Quietly(publishing), Quietly(logging), Quietly(stats));

            // The keeper released its leases on the way out: those moves still go to the log, for a short while.
            if (await leaseAudit.DrainAsync(LeaveDrain) is > 0 and var unsent)
            {
                LogLeaseEventsUnsent(_logger, unsent);
            }

            // The last counters, after the drain: what was acknowledged on the way out counts too.
            LogTotals(monitor, link, publisher, leaseAudit);
        }
    }

    private async Task RegisterLoopAsync(ServerLink link, CameraMonitor monitor, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.RegisterInterval, TimeProvider.System);
        try
        {
            do
            {
                try
                {
                    if (await link.RegisterAsync(stoppingToken))
                    {
                        LogRegister(_logger, link.Streaming().Count, link.RegisterVersion ?? 0);
                        monitor.Reconcile();
                    }
                }
                catch (Exception e) when (e is NatsException or TimeoutException or MalformedWorkerMessageException || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
                {
                    // The cameras already known keep running only while their leases and grants hold.
                    LogRegisterFailed(_logger, e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <summary>One line of counters every <see cref="WorkerHostOptions.StatsInterval"/>: cumulative since start, so a reader takes differences.</summary>
    private async Task StatsLoopAsync(CameraMonitor monitor, ServerLink link, CandidatePublisher publisher, LeaseAudit leaseAudit, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(options.StatsInterval, options.Time);
        while (await timer.WaitForNextTickAsync(stop))
        {
            LogTotals(monitor, link, publisher, leaseAudit);
        }
    }

    private void LogTotals(CameraMonitor monitor, ServerLink link, CandidatePublisher publisher, LeaseAudit leaseAudit)
    {
        var (cameras, analysed, faces) = monitor.Totals();
        var answers = link.Answers;
        LogStats(
            _logger, options.Worker, cameras, analysed, faces, publisher.Acknowledged, link.GrantedCameras,
            answers.Granted, answers.Refused, answers.Unanswered, answers.Unusable, publisher.Stored + leaseAudit.Stored);
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {Worker}: SIMULATION: every camera plays {File} ({Frames} frames, {Seconds:0.0} s, decoded once), not its stream")]
    private static partial void LogSimulation(ILogger logger, string worker, string file, int frames, double seconds);

    /// <summary>Parsed by <c>citywatch sim</c>: keep the keys.</summary>
    [LoggerMessage(Level = LogLevel.Information, Message = "Worker stats: worker={Worker} cameras={Cameras} frames_analysed={Analysed} faces={Faces} candidates={Candidates} granted={Granted} grants_issued={Issued} grants_refused={Refused} grants_unanswered={Unanswered} grants_unusable={Unusable} stored={Stored}")]
    private static partial void LogStats(
        ILogger logger, string worker, int cameras, long analysed, long faces, long candidates, int granted, long issued, long refused, long unanswered, long unusable, long stored);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker: cannot open the candidate and events streams on {Url} ({Reason}); retrying")]
    private static partial void LogOpenFailed(ILogger logger, string url, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker: {Count} lease events were not acknowledged before the worker stopped; the leases lapse on the server's clock")]
    private static partial void LogLeaseEventsUnsent(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker: the server lists {Cameras} streaming cameras (version {Version})")]
    private static partial void LogRegister(ILogger logger, int cameras, long version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker: the server did not answer the register request ({Reason})")]
    private static partial void LogRegisterFailed(ILogger logger, string reason);
}
