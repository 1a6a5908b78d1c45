using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using CityWatch.Cli.Hosting;
using CityWatch.Ingest;
using CityWatch.Policy;
using CityWatch.ScaleOut;
using CityWatch.Vision;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Spectre.Console;

namespace CityWatch.Cli.Simulation;

/// <summary>
/// <c>citywatch sim</c>: a city on one box. It starts nats-server (127.0.0.1, a free port, a temporary store), the
/// server role as its own process (<see cref="SimServer"/>) on a temporary SQLite data folder with the demo seeded so
/// that N cameras stream, and K worker processes (<c>serve --role worker --replay</c>: every camera plays the demo clip
/// held in memory, so the cost measured is recognition's and the lease, grant and gallery path is the real one). It
/// measures the workers and the server over a window (the workers' stats lines, CPU from /proc), then the faults asked
/// for: a worker killed with SIGKILL (how long its cameras take to be leased by a survivor, watching the lease bucket on
/// its own NATS connection), nats-server stopped (the workers stop their cameras, nothing is analysed, all resume), the
/// server killed with SIGKILL (every grant lapses within its lifetime, nothing is analysed without one, all resume once
/// it is started again); then it drains and counts the candidate and audit events JetStream acknowledged that the
/// server never consumed. Everything it started it stops, also on error or Ctrl-C.
/// </summary>
internal static partial class SimCommand
{
    private const string NatsServerBinary = "/usr/sbin/nats-server";

    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(420);
    private static readonly TimeSpan SettleReport = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan FailoverTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan NatsStartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan WorkerStopTimeout = TimeSpan.FromSeconds(20);

    // The run's certificates need last only the run: a day covers the longest window anyone asks for.
    private static readonly TimeSpan CertificateValidity = TimeSpan.FromDays(1);
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public static Command Create()
    {
        var cameras = new Option<int>("--cameras") { Description = "How many cameras stream (the demo city's first N, 1 to 1000)", DefaultValueFactory = _ => 1000 };
        var workers = new Option<int>("--workers") { Description = "How many worker processes", DefaultValueFactory = _ => 3 };
        var seconds = new Option<double>("--seconds") { Description = "The measuring window in seconds, after every camera runs", DefaultValueFactory = _ => 30 };
        var kill = new Option<bool>("--kill-worker") { Description = "After the window, kill one worker with SIGKILL and time its cameras' move to the others" };
        var stopServer = new Option<double>("--stop-server") { Description = "After the window (the kill and the NATS outage), kill the server (SIGKILL) for this many seconds, check that every grant lapses within its lifetime and no frame is analysed without one, start it again on the same folder and time the cameras' return; 0: no outage", DefaultValueFactory = _ => 0 };
        var stopNats = new Option<double>("--stop-nats") { Description = "After the window (and the kill), stop nats-server (SIGTERM) for this many seconds, check that the workers stop analysing (fail closed), start it again and time the cameras' return; 0: no outage", DefaultValueFactory = _ => 0 };
        var postgresOption = new Option<bool>("--postgres") { Description = "Run the server role on a PostgreSQL the sim starts (Debian's postgresql package, 127.0.0.1, a password for the run) rather than its SQLite file" };
        var killNats = new Option<bool>("--kill-nats") { Description = "With --stop-nats: stop nats-server with SIGKILL (a crash: nothing flushed on the way out) rather than SIGTERM" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object on stdout (progress stays on stderr)" };
        var ttl = new Option<double>("--lease-ttl-s") { Description = "The camera lease TTL in seconds", DefaultValueFactory = _ => 6 };
        var assets = new Option<string>("--assets") { Description = "The folder of verified demo assets (the clip and the enrolled people)", DefaultValueFactory = _ => Path.Combine(".data", "assets") };
        var command = new Command("sim", "Run a simulated city on this box: nats-server, the server role (its own process, SQLite or with --postgres a PostgreSQL it starts) and K worker processes replaying the demo clip on N cameras; prints throughput, CPU per camera, failover time and lost events")
        {
            cameras, workers, seconds, kill, stopNats, killNats, stopServer, postgresOption, json, ttl, assets, CliCommon.Models,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var settings = new SimSettings(
                result.GetValue(cameras),
                result.GetValue(workers),
                result.GetValue(seconds),
                result.GetValue(kill),
                result.GetValue(ttl),
                Path.GetFullPath(result.GetValue(assets)!),
                Path.GetFullPath(result.GetValue(CliCommon.Models)!))
            {
                StopNatsSeconds = result.GetValue(stopNats),
                KillNats = result.GetValue(killNats),
                StopServerSeconds = result.GetValue(stopServer),
                Postgres = result.GetValue(postgresOption),
            }.Validate();
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            var report = await RunAsync(settings, line => console.MarkupLineInterpolated($"[grey]sim:[/] {line}"), cancellationToken);
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, Json));
            }
            else
            {
                console.WriteLine(JsonSerializer.Serialize(report, Json));
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Runs the whole simulation; every process started is stopped before this returns or throws.</summary>
    public static async Task<SimReport> RunAsync(SimSettings settings, Action<string> progress, CancellationToken cancellationToken)
    {
        var clip = Path.Combine(settings.Assets, ModelCatalog.HamiltonClip);
        var store = Directory.CreateTempSubdirectory("citywatch-sim-nats-").FullName;
        var workers = new List<SimWorker>();
        ProcessRunner? nats = null;
        SimServer? server = null;
        SimPostgres? postgres = null;
        try
        {
            var port = SimProcess.FreePort();
            var natsUrl = $"nats://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
            // One NATS user for the server and one per worker, each allowed only its own subjects (NatsAccess).
            var serverUser = NatsAccess.NewUser(NatsAccess.ServerUser);
            var workerUsers = Enumerable.Range(1, settings.Workers).Select(i => NatsAccess.NewUser($"sim-w{i.ToString(CultureInfo.InvariantCulture)}")).ToList();
            // A throwaway CA per run, its key never written, and a certificate for 127.0.0.1 signed by it (key 0600 in
            // the store folder): every connection requires TLS and checks nats-server's certificate against that CA.
            var tls = NatsCertificates.Write(store, IPAddress.Loopback, CertificateValidity, TimeProvider.System);
            await File.WriteAllTextAsync(NatsConfiguration(store), tls.ServerConfiguration() + NatsAccess.Authorization(serverUser, workerUsers), cancellationToken);
            nats = await StartNatsAsync(port, store, cancellationToken);
            progress($"nats-server on {natsUrl} with TLS (a CA of this run's), a user for the server and one for each worker");

            var serverLink = new NatsLink(natsUrl, serverUser, tls.CaFile);
#pragma warning disable CA2000 // disposed in the finally below, as the server and nats-server are (the analyser does not follow it here)
            postgres = settings.Postgres ? await SimPostgres.StartAsync(cancellationToken) : null;
#pragma warning restore CA2000
            if (postgres is not null)
            {
                progress($"postgres on {postgres.ConnectionString} (a password for this run)");
            }

            server = await SimServer.StartAsync(settings, serverLink, postgres, cancellationToken);
            var grantKey = await server.GrantKeyAsync(cancellationToken);
            progress($"server (its own process, {(postgres is null ? $"SQLite in {server.Folder}" : "on PostgreSQL")}) on {server.Address}; grant key {grantKey} from its log");

            await using var connection = new NatsConnection(serverLink.Options("citywatch-sim"));
            var kv = new NatsKVContext(new NatsJSContext(connection));
            var leases = new LeaseWatch();
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var watch = Task.Run(() => leases.RunAsync(kv, watching.Token), CancellationToken.None);

            foreach (var user in workerUsers)
            {
                workers.Add(SimWorker.Start(user.Name, serverLink with { User = user }, grantKey, settings, clip, cancellationToken));
            }

            progress($"{settings.Workers} workers started, each replaying {clip}");

            // Settle: every camera leased and running somewhere.
            var time = TimeProvider.System;
            var settleStart = time.GetTimestamp();
            var nextReport = SettleReport;
            while (workers.Sum(w => w.Latest.Cameras) < settings.Cameras || leases.Owners().Count < settings.Cameras)
            {
                if (time.GetElapsedTime(settleStart) > SettleTimeout)
                {
                    throw new InvalidOperationException($"after {SettleTimeout.TotalSeconds:0} s only {workers.Sum(w => w.Latest.Cameras)} of {settings.Cameras} cameras run ({leases.Owners().Count} leased)");
                }

                foreach (var worker in workers.Where(w => w.HasExited))
                {
                    throw new InvalidOperationException($"worker {worker.Name} exited: {worker.LastLines}");
                }

                if (time.GetElapsedTime(settleStart) >= nextReport)
                {
                    progress($"settling, {nextReport.TotalSeconds:0} s: {workers.Sum(w => w.Latest.Cameras)} of {settings.Cameras} cameras run, {leases.Owners().Count} leased, {workers.Sum(w => w.Latest.Granted)} hold a grant");
                    nextReport += SettleReport;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), time, cancellationToken);
            }

            var settled = time.GetElapsedTime(settleStart).TotalSeconds;
            progress($"all {settings.Cameras} cameras run after {settled:0.0} s; measuring {settings.Seconds:0} s");
            var before = workers.Select(w => (w.Latest, Cpu: w.CpuSeconds())).ToList();
            var serverCpuBefore = server.CpuSeconds();
            var windowStart = time.GetTimestamp();
            await Task.Delay(TimeSpan.FromSeconds(settings.Seconds), time, cancellationToken);
            var window = time.GetElapsedTime(windowStart).TotalSeconds;
            var after = workers.Select(w => (w.Latest, Cpu: w.CpuSeconds())).ToList();
            var serverCores = (server.CpuSeconds() - serverCpuBefore) / window;
            var frames = after.Sum(a => a.Latest.FramesAnalysed) - before.Sum(b => b.Latest.FramesAnalysed);
            var faces = after.Sum(a => a.Latest.Faces) - before.Sum(b => b.Latest.Faces);
            var cpu = after.Sum(a => a.Cpu) - before.Sum(b => b.Cpu);
            // Camera-seconds actually analysed: on a box too small for N cameras the queues drop frames, and the cost
            // per camera is what analysing one camera at its rate takes, not CPU spread over cameras left unanalysed.
            var cameraSeconds = Math.Max(1, frames) / (double)Server.Demo.DemoInventory.StreamingAnalysisFps;
            var perWorker = leases.Owners().GroupBy(o => o.Value).ToDictionary(g => g.Key, g => g.Count());
            var camerasPerWorker = workers.Select(w => perWorker.GetValueOrDefault(w.Name)).ToList();
            var analysedPerCameraS = frames / (settings.Cameras * window);
            progress($"{frames / window:0.0} frames/s analysed, {faces / window:0.0} faces/s, {cpu / window:0.00} CPU cores busy in the workers, {serverCores:0.00} in the server; {after.Sum(a => a.Latest.Granted)} cameras hold a grant");

            double? failover = null;
            string? killed = null;
            if (settings.KillWorker)
            {
                var victim = workers.OrderByDescending(w => perWorker.GetValueOrDefault(w.Name)).First();
                killed = victim.Name;
                var itsCameras = leases.Owners().Where(o => o.Value == victim.Name).Select(o => o.Key).ToList();
                var killedAt = time.GetUtcNow();
                victim.KillHard();
                progress($"killed {victim.Name} (SIGKILL), holding {itsCameras.Count} cameras");
                var killStart = time.GetTimestamp();
                while (time.GetElapsedTime(killStart) < FailoverTimeout)
                {
                    var moved = itsCameras.Select(c => leases.MovedAfter(c, victim.Name, killedAt)).ToList();
                    if (moved.All(m => m is not null))
                    {
                        failover = itsCameras.Count == 0 ? 0 : moved.Max(m => (m!.Value - killedAt).TotalSeconds);
                        break;
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
                }

                progress(failover is { } f ? $"its cameras resumed on the others within {f:0.00} s" : $"its cameras did not all resume within {FailoverTimeout.TotalSeconds:0} s");
            }

            NatsOutage? outage = null;
            if (settings.StopNatsSeconds > 0)
            {
                var alive = workers.Where(w => !w.HasExited).ToList();
                progress($"stopping nats-server ({(settings.KillNats ? "SIGKILL" : "SIGTERM")}) for {settings.StopNatsSeconds:0.#} s");
                await StopNatsAsync(nats, settings.KillNats, cancellationToken);
                await nats.DisposeAsync();
                nats = null;
                var closed = await WatchClosedAsync(alive, s => s.Cameras == 0, TimeSpan.FromSeconds(settings.StopNatsSeconds), time, cancellationToken);
                progress(closed.FailClosed is { } c
                    ? $"every worker stopped its cameras {c:0.0} s into the outage; {closed.FramesWhileClosed} frames analysed after that"
                    : "some worker still ran cameras when the outage ended");
                nats = await StartNatsAsync(port, store, cancellationToken);
                var restart = time.GetTimestamp();
                double? resumed = null;
                while (time.GetElapsedTime(restart) < FailoverTimeout)
                {
                    if (alive.Sum(w => w.Latest.Cameras) >= settings.Cameras)
                    {
                        resumed = time.GetElapsedTime(restart).TotalSeconds;
                        break;
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
                }

                var back = alive.Sum(w => w.Latest.Cameras);
                progress(resumed is { } r ? $"nats-server back: all {settings.Cameras} cameras run again after {r:0.0} s" : $"nats-server back: {back} of {settings.Cameras} cameras ran again within {FailoverTimeout.TotalSeconds:0} s");
                outage = new NatsOutage(settings.StopNatsSeconds, closed.FailClosed is { } f ? Round(f) : null, closed.FramesWhileClosed, resumed is { } took ? Round(took) : null, back);
            }

            ServerOutage? serverOutage = null;
            if (settings.StopServerSeconds > 0)
            {
                var alive = workers.Where(w => !w.HasExited).ToList();
                // On a box too small for N cameras not every camera holds a grant at once (a grant is asked for when a
                // frame is to be analysed): the restart is judged against what was held just before the kill.
                // (A grant held for a camera whose lease has just moved counts on both workers until it lapses: at most N.)
                // Right after the NATS outage no camera may hold a grant yet, and a kill then would show nothing lapse:
                // wait (bounded) until some camera holds one again.
                var waitForGrant = time.GetTimestamp();
                while (alive.Sum(w => w.Latest.Granted) == 0 && time.GetElapsedTime(waitForGrant) < FailoverTimeout)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
                }

                var grantedBefore = Math.Min(settings.Cameras, alive.Sum(w => w.Latest.Granted));
                progress($"killing the server (SIGKILL) for {settings.StopServerSeconds:0.#} s; grants live {PolicyEngine.GrantLifetime.TotalSeconds:0} s; {grantedBefore} cameras hold one");
                await server.KillHardAsync(cancellationToken);
                var lapsed = await WatchClosedAsync(alive, s => s.Granted == 0, TimeSpan.FromSeconds(settings.StopServerSeconds), time, cancellationToken);
                progress(lapsed.FailClosed is { } c
                    ? $"every grant lapsed {c:0.0} s after the kill; {lapsed.FramesWhileClosed} frames analysed after that"
                    : "some worker still held a grant when the outage ended");
                var restart = time.GetTimestamp();
                await server.StartAgainAsync(cancellationToken);
                var startSeconds = time.GetElapsedTime(restart).TotalSeconds;
                var ready = time.GetTimestamp();
                double? resumed = null;
                var framesAtReady = alive.Sum(w => w.Latest.FramesAnalysed);
                while (time.GetElapsedTime(ready) < FailoverTimeout)
                {
                    if (alive.Sum(w => w.Latest.Granted) >= grantedBefore && alive.Sum(w => w.Latest.FramesAnalysed) > framesAtReady)
                    {
                        resumed = time.GetElapsedTime(ready).TotalSeconds;
                        break;
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
                }

                var grantedAfter = alive.Sum(w => w.Latest.Granted);
                progress(resumed is { } r
                    ? $"server back after {startSeconds:0.0} s: {grantedAfter} cameras hold a grant and analyse again {r:0.0} s later"
                    : $"server back after {startSeconds:0.0} s: {grantedAfter} of the {grantedBefore} cameras held a grant again within {FailoverTimeout.TotalSeconds:0} s (server: {server.LastLines})");
                serverOutage = new ServerOutage(
                    settings.StopServerSeconds, lapsed.FailClosed is { } f ? Round(f) : null, lapsed.FramesWhileClosed, Round(startSeconds), resumed is { } back ? Round(back) : null, grantedBefore, grantedAfter);
            }

            var candidates = workers.Sum(w => w.Latest.Candidates);
            var grants = workers.Select(w => w.Latest.Grants).ToList();
            var leaseMoves = leases.Moves;
            progress("stopping the workers (SIGTERM: each releases its leases and writes its last counters), then draining the streams");
            await Task.WhenAll(workers.Select(w => w.StopAsync(WorkerStopTimeout, cancellationToken)));
            var (notIngested, streamMessages) = await AcknowledgedLostAsync(connection, time, cancellationToken);
            // What JetStream acknowledged to the workers as stored (their last stats lines: a lower bound, since acks after a
            // worker's last line are not counted) against what its two streams hold now, after every outage.
            var storedAcknowledged = workers.Sum(w => w.Latest.Stored);
            var notInStream = Math.Max(0, storedAcknowledged - streamMessages);
            var lost = notIngested + notInStream;
            await watching.CancelAsync();
            await Quietly(watch);

            return new SimReport(
                settings.Cameras,
                settings.Workers,
                camerasPerWorker,
                Round(settled),
                Round(window),
                Round(frames / window),
                Round(faces / window),
                Round(analysedPerCameraS),
                candidates,
                leaseMoves,
                Round(cpu / cameraSeconds, 5),
                Round(cpu / cameraSeconds * 1000),
                killed,
                failover is { } s ? Round(s) : null,
                lost)
            {
                Database = settings.Postgres ? "postgresql" : "sqlite",
                NatsStoppedSeconds = outage?.Seconds,
                NatsStopSignal = outage is null ? null : settings.KillNats ? "SIGKILL" : "SIGTERM",
                AcknowledgedStored = storedAcknowledged,
                StreamMessages = streamMessages,
                AcknowledgedNotInStream = notInStream,
                NatsFailClosedSeconds = outage?.FailClosed,
                FramesAnalysedWhileClosed = outage?.FramesWhileClosed,
                NatsResumeSeconds = outage?.Resumed,
                NatsCamerasBack = outage?.CamerasBack,
                ServerCores = Round(serverCores),
                GrantLifetimeSeconds = PolicyEngine.GrantLifetime.TotalSeconds,
                ServerStoppedSeconds = serverOutage?.Seconds,
                GrantsLapsedSeconds = serverOutage?.Lapsed,
                FramesAnalysedWithoutGrant = serverOutage?.FramesWithoutGrant,
                ServerStartSeconds = serverOutage?.Start,
                ServerResumeSeconds = serverOutage?.Resumed,
                GrantedBeforeServerStop = serverOutage?.GrantedBefore,
                GrantedAfterServerRestart = serverOutage?.GrantedAfter,
                GrantsIssued = grants.Sum(g => g.Granted),
                GrantsRefused = grants.Sum(g => g.Refused),
                GrantsUnanswered = grants.Sum(g => g.Unanswered),
                GrantsUnusable = grants.Sum(g => g.Unusable),
            };
        }
        finally
        {
            await Task.WhenAll(workers.Select(w => w.DisposeAsync().AsTask()));
            if (server is not null)
            {
                await server.DisposeAsync();
            }

            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }

            if (nats is not null)
            {
                await nats.DisposeAsync();
            }

            try
            {
                Directory.Delete(store, recursive: true);
            }
            catch (IOException)
            {
                // nats-server's files, in the temporary directory.
            }
        }
    }

    // nats-server's configuration (TLS and the users), beside its store in the temporary directory.
    private static string NatsConfiguration(string store) => Path.Combine(store, "nats-server.conf");

    /// <summary>Starts nats-server with JetStream on 127.0.0.1:<paramref name="port"/> over <paramref name="store"/> and its users, and waits until it says it is ready.</summary>
    private static async Task<ProcessRunner> StartNatsAsync(int port, string store, CancellationToken cancellationToken)
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var nats = ProcessRunner.Start(
            NatsServerBinary,
            ["-c", NatsConfiguration(store), "-js", "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-sd", store],
            new ProcessRunnerOptions { OnErrorLine = line => { if (line.Contains("Server is ready", StringComparison.Ordinal)) { ready.TrySetResult(); } } },
            cancellationToken);
        try
        {
            await ready.Task.WaitAsync(NatsStartTimeout, cancellationToken);
            return nats;
        }
        catch (TimeoutException)
        {
            var said = string.Join(" | ", nats.ErrorLines.TakeLast(3));
            await nats.DisposeAsync();
            throw new InvalidOperationException($"nats-server did not become ready on port {port} within {NatsStartTimeout.TotalSeconds:0} s: {said}");
        }
        catch
        {
            await nats.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Stops nats-server as an operator would (SIGTERM: it flushes its store and exits) or as a crash does (SIGKILL:
    /// what it had not yet written to its files is gone; what it had is in the kernel's page cache) and waits for it to exit.
    /// </summary>
    private static Task StopNatsAsync(ProcessRunner nats, bool crash, CancellationToken cancellationToken) =>
        SimProcess.SignalAsync(nats, crash, NatsStartTimeout, cancellationToken);

    /// <summary>
    /// Through an outage of <paramref name="length"/>: when every worker's stats line first says it is
    /// <paramref name="closed"/> (runs no camera, holds no grant: fail closed, from the stop), and how many frames the
    /// workers analysed from their next stats line after that until the outage ends (a frame in flight when the closed
    /// line was written is not counted; any later one is a frame analysed without a lease or grant). Null and 0 when
    /// some worker never closed.
    /// </summary>
    private static async Task<(double? FailClosed, long FramesWhileClosed)> WatchClosedAsync(
        IReadOnlyList<SimWorker> workers, Func<WorkerStats, bool> closed, TimeSpan length, TimeProvider time, CancellationToken cancellationToken)
    {
        var start = time.GetTimestamp();
        double? failClosed = null;
        long[]? zeroLines = null;
        var baseline = new long?[workers.Count];
        while (time.GetElapsedTime(start) < length)
        {
            if (zeroLines is null && workers.All(w => closed(w.Latest)))
            {
                failClosed = time.GetElapsedTime(start).TotalSeconds;
                zeroLines = [.. workers.Select(w => w.StatsLines)];
            }

            for (var i = 0; zeroLines is not null && i < workers.Count; i++)
            {
                if (baseline[i] is null && workers[i].StatsLines > zeroLines[i])
                {
                    baseline[i] = workers[i].Latest.FramesAnalysed;
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken);
        }

        var frames = 0L;
        for (var i = 0; zeroLines is not null && i < workers.Count; i++)
        {
            frames += workers[i].Latest.FramesAnalysed - (baseline[i] ?? workers[i].Latest.FramesAnalysed);
        }

        return (failClosed, frames);
    }

    /// <summary>
    /// Waits (a bounded time) for the server's durable consumers to have acknowledged everything in the candidate and
    /// audit-event streams, then returns how many stored messages they have not (per stream, its last sequence minus
    /// its consumer's ack floor) and how many messages the two streams hold, both from the same reading (a stream
    /// nobody published to counts 0 for both).
    /// </summary>
    private static async Task<(long NotIngested, long Messages)> AcknowledgedLostAsync(NatsConnection connection, TimeProvider time, CancellationToken cancellationToken)
    {
        (string Stream, string Consumer)[] taken =
        [
            (WorkerProtocol.CandidateStream, CandidateIngest.DefaultConsumer),
            (AuditPublisher.DefaultStream, AuditIngest.DefaultConsumer),
        ];
        var js = new NatsJSContext(connection);
        var start = time.GetTimestamp();
        while (true)
        {
            var lost = 0L;
            var messages = 0L;
            foreach (var (streamName, consumerName) in taken)
            {
                long last;
                try
                {
                    var state = (await js.GetStreamAsync(streamName, cancellationToken: cancellationToken)).Info.State;
                    last = (long)state.LastSeq;
                    messages += (long)state.Messages;
                }
                catch (NatsJSApiException)
                {
                    continue; // no stream: nothing was stored
                }

                long floor;
                try
                {
                    var consumer = await js.GetConsumerAsync(streamName, consumerName, cancellationToken);
                    floor = (long)(consumer.Info.AckFloor?.StreamSeq ?? 0);
                }
                catch (NatsJSApiException)
                {
                    floor = 0; // no consumer: nothing was taken
                }

                lost += Math.Max(0, last - floor);
            }

            if (lost == 0 || time.GetElapsedTime(start) > DrainTimeout)
            {
                return (lost, messages);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), time, cancellationToken);
        }
    }

    private static double Round(double value, int digits = 3) => Math.Round(value, digits);

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (OperationCanceledException)
        {
            // stopped
        }
    }

    /// <summary>Follows the lease bucket: who holds each camera, when each put happened, and how often a camera changed hands.</summary>
    private sealed class LeaseWatch
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, (string Worker, DateTimeOffset Since)> _owners = new(StringComparer.Ordinal);
        private int _moves;

        public int Moves
        {
            get
            {
                lock (_lock)
                {
                    return _moves;
                }
            }
        }

        public Dictionary<string, string> Owners()
        {
            lock (_lock)
            {
                return _owners.ToDictionary(o => o.Key, o => o.Value.Worker, StringComparer.Ordinal);
            }
        }

        /// <summary>When the camera was first put by a worker other than <paramref name="from"/> after <paramref name="after"/>; null: not yet.</summary>
        public DateTimeOffset? MovedAfter(string camera, string from, DateTimeOffset after)
        {
            lock (_lock)
            {
                return _owners.TryGetValue(camera, out var owner) && owner.Worker != from && owner.Since >= after ? owner.Since : null;
            }
        }

        /// <summary>Follows the bucket until cancelled; a watch broken by nats-server going away is opened again (it replays every key, which counts no move).</summary>
        public async Task RunAsync(NatsKVContext kv, CancellationToken cancellationToken)
        {
            while (true)
            {
                try
                {
                    await WatchAsync(kv, cancellationToken);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is NatsException or NatsJSException or TimeoutException)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250), TimeProvider.System, cancellationToken);
                }
            }
        }

        private async Task WatchAsync(NatsKVContext kv, CancellationToken cancellationToken)
        {
            INatsKVStore? store = null;
            while (store is null)
            {
                try
                {
                    store = await kv.GetStoreAsync(CameraLeases.DefaultBucket, cancellationToken);
                }
                catch (NatsKVException)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250), TimeProvider.System, cancellationToken);
                }
                catch (NatsJSApiException)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250), TimeProvider.System, cancellationToken);
                }
            }

            await foreach (var entry in store.WatchAsync<string>(">", cancellationToken: cancellationToken))
            {
                if (entry.Operation != NatsKVOperation.Put || entry.Value is not { Length: > 0 } worker || !entry.Key.StartsWith("camera.", StringComparison.Ordinal))
                {
                    continue;
                }

                var camera = entry.Key["camera.".Length..];
                lock (_lock)
                {
                    if (_owners.TryGetValue(camera, out var owner))
                    {
                        if (owner.Worker != worker)
                        {
                            _moves++;
                            _owners[camera] = (worker, TimeProvider.System.GetUtcNow());
                        }
                    }
                    else
                    {
                        _owners[camera] = (worker, TimeProvider.System.GetUtcNow());
                    }
                }
            }
        }
    }
}

/// <summary>The sim's flags, checked: a bad one is a one-line <see cref="ArgumentException"/> (exit 1).</summary>
internal sealed record SimSettings(int Cameras, int Workers, double Seconds, bool KillWorker, double LeaseTtlSeconds, string Assets, string Models)
{
    /// <summary>How long nats-server is stopped after the window; 0: not at all.</summary>
    public double StopNatsSeconds { get; init; }

    /// <summary>With <see cref="StopNatsSeconds"/>: nats-server is stopped with SIGKILL rather than SIGTERM.</summary>
    public bool KillNats { get; init; }

    /// <summary>The server role's database is a PostgreSQL the sim starts (<see cref="SimPostgres"/>), not its SQLite file.</summary>
    public bool Postgres { get; init; }

    /// <summary>How long the server is down (killed with SIGKILL, then started again) after the window and the NATS outage; 0: not at all.</summary>
    public double StopServerSeconds { get; init; }

    public SimSettings Validate()
    {
        if (Cameras is < 1 or > Server.Demo.DemoInventory.Cameras)
        {
            throw new ArgumentException($"--cameras must be from 1 to {Server.Demo.DemoInventory.Cameras}, not {Cameras}");
        }

        if (Workers < 1)
        {
            throw new ArgumentException($"--workers must be at least 1, not {Workers}");
        }

        if (KillWorker && Workers < 2)
        {
            throw new ArgumentException("--kill-worker needs at least 2 workers (one to kill, one to take over)");
        }

        if (!double.IsFinite(Seconds) || Seconds <= 0)
        {
            throw new ArgumentException($"--seconds must be a positive number, not {Seconds}");
        }

        if (!double.IsFinite(LeaseTtlSeconds) || LeaseTtlSeconds <= 0)
        {
            throw new ArgumentException($"--lease-ttl-s must be a positive number, not {LeaseTtlSeconds}");
        }

        if (!double.IsFinite(StopNatsSeconds) || StopNatsSeconds < 0)
        {
            throw new ArgumentException($"--stop-nats must be 0 (no outage) or a number of seconds, not {StopNatsSeconds}");
        }

        if (KillNats && StopNatsSeconds <= 0)
        {
            throw new ArgumentException("--kill-nats needs --stop-nats (how long nats-server stays down)");
        }

        if (!double.IsFinite(StopServerSeconds) || StopServerSeconds < 0)
        {
            throw new ArgumentException($"--stop-server must be 0 (no outage) or a number of seconds, not {StopServerSeconds}");
        }

        if (!File.Exists("/usr/sbin/nats-server"))
        {
            throw new ArgumentException("nats-server not found at /usr/sbin/nats-server (install the Debian package nats-server)");
        }

        if (!File.Exists(Path.Combine(Assets, ModelCatalog.HamiltonClip)))
        {
            throw new ArgumentException($"the demo clip is missing at {Path.Combine(Assets, ModelCatalog.HamiltonClip)} (run `citywatch models fetch`, or pass --assets)");
        }

        return this;
    }
}

/// <summary>What the sim measured (snake_case keys, one JSON object).</summary>
internal sealed record SimReport(
    [property: JsonPropertyName("cameras")] int Cameras,
    [property: JsonPropertyName("workers")] int Workers,
    [property: JsonPropertyName("cameras_per_worker")] IReadOnlyList<int> CamerasPerWorker,
    [property: JsonPropertyName("settle_s")] double SettleSeconds,
    [property: JsonPropertyName("window_s")] double WindowSeconds,
    [property: JsonPropertyName("frames_per_s")] double FramesPerSecond,
    [property: JsonPropertyName("faces_per_s")] double FacesPerSecond,
    [property: JsonPropertyName("analysed_fps_per_camera")] double AnalysedFpsPerCamera,
    [property: JsonPropertyName("candidates")] long Candidates,
    [property: JsonPropertyName("lease_moves")] int LeaseMoves,
    [property: JsonPropertyName("cpu_s_per_camera_s")] double CpuSecondsPerCameraSecond,
    [property: JsonPropertyName("cores_per_1000_cameras")] double CoresPer1000Cameras,
    [property: JsonPropertyName("killed_worker")] string? KilledWorker,
    [property: JsonPropertyName("failover_resume_s")] double? FailoverResumeSeconds,
    [property: JsonPropertyName("acknowledged_lost")] long AcknowledgedLost)
{
    /// <summary>The server role's database: "sqlite" (its data folder's file) or "postgresql" (<c>--postgres</c>).</summary>
    [JsonPropertyName("database")]
    public string Database { get; init; } = "sqlite";

    /// <summary>How long nats-server was stopped (<c>--stop-nats</c>); null: no outage.</summary>
    [JsonPropertyName("nats_stopped_s")]
    public double? NatsStoppedSeconds { get; init; }

    /// <summary>How nats-server was stopped: "SIGTERM", or "SIGKILL" with <c>--kill-nats</c>; null: no outage.</summary>
    [JsonPropertyName("nats_stop_signal")]
    public string? NatsStopSignal { get; init; }

    /// <summary>Candidates and lease events JetStream acknowledged to the workers as newly stored (their last stats lines).</summary>
    [JsonPropertyName("acknowledged_stored")]
    public long AcknowledgedStored { get; init; }

    /// <summary>Messages the two streams held at the end: at least <see cref="AcknowledgedStored"/> unless an acknowledged one was lost.</summary>
    [JsonPropertyName("stream_messages")]
    public long StreamMessages { get; init; }

    /// <summary>Of <see cref="AcknowledgedLost"/>: acknowledged to a worker as stored but not in its stream (a lower bound).</summary>
    [JsonPropertyName("acknowledged_not_in_stream")]
    public long AcknowledgedNotInStream { get; init; }

    /// <summary>From the stop until every worker's stats line said it ran no camera; null: some worker never stopped.</summary>
    [JsonPropertyName("nats_fail_closed_s")]
    public double? NatsFailClosedSeconds { get; init; }

    /// <summary>Frames the workers analysed after they had all stopped, until nats-server came back: 0 when they fail closed.</summary>
    [JsonPropertyName("frames_analysed_while_closed")]
    public long? FramesAnalysedWhileClosed { get; init; }

    /// <summary>From nats-server ready again until every camera ran again; null: not within a minute.</summary>
    [JsonPropertyName("nats_resume_s")]
    public double? NatsResumeSeconds { get; init; }

    /// <summary>Cameras running when every camera ran again, or when the minute's wait for that ended.</summary>
    [JsonPropertyName("nats_cameras_back")]
    public int? NatsCamerasBack { get; init; }

    /// <summary>CPU cores the server process used over the window (its ingest of candidates and events, grants, galleries, the log).</summary>
    [JsonPropertyName("server_cores")]
    public double ServerCores { get; init; }

    /// <summary>How long a grant lives (<c>PolicyEngine.GrantLifetime</c>): a silent server stops every camera within it.</summary>
    [JsonPropertyName("grant_lifetime_s")]
    public double GrantLifetimeSeconds { get; init; }

    /// <summary>How long the server was down (<c>--stop-server</c>); null: no outage.</summary>
    [JsonPropertyName("server_stopped_s")]
    public double? ServerStoppedSeconds { get; init; }

    /// <summary>From the kill until every worker's stats line said it held no grant; null: some worker still held one.</summary>
    [JsonPropertyName("grants_lapsed_s")]
    public double? GrantsLapsedSeconds { get; init; }

    /// <summary>Frames the workers analysed after every grant had lapsed, until the server came back: 0 when they fail closed.</summary>
    [JsonPropertyName("frames_analysed_without_grant")]
    public long? FramesAnalysedWithoutGrant { get; init; }

    /// <summary>From starting the server again until it answered (its process start, the store opened, the log checked).</summary>
    [JsonPropertyName("server_start_s")]
    public double? ServerStartSeconds { get; init; }

    /// <summary>
    /// From the server answering again until as many cameras held a grant as just before the kill and frames were
    /// analysed; null: not within a minute.
    /// </summary>
    [JsonPropertyName("server_resume_s")]
    public double? ServerResumeSeconds { get; init; }

    /// <summary>Cameras that held a grant just before the kill (on a box too small for N cameras, fewer than N).</summary>
    [JsonPropertyName("granted_before_server_stop")]
    public int? GrantedBeforeServerStop { get; init; }

    /// <summary>Cameras holding a grant when the server had resumed, or when the minute's wait for that ended.</summary>
    [JsonPropertyName("granted_after_server_restart")]
    public int? GrantedAfterServerRestart { get; init; }

    /// <summary>
    /// Grant requests the workers sent over the whole run (each worker's last stats line, the killed one's included)
    /// that ended in a verified grant with its gallery.
    /// </summary>
    [JsonPropertyName("grants_issued")]
    public long GrantsIssued { get; init; }

    /// <summary>Grant requests the server refused (a lease it did not see held, no basis in force, ...).</summary>
    [JsonPropertyName("grants_refused")]
    public long GrantsRefused { get; init; }

    /// <summary>Grant or gallery requests with no reply in time (nats-server or the server down or slow).</summary>
    [JsonPropertyName("grants_unanswered")]
    public long GrantsUnanswered { get; init; }

    /// <summary>Grants the worker could not use (did not verify, not for live processing of that camera, no crop key, gallery refused).</summary>
    [JsonPropertyName("grants_unusable")]
    public long GrantsUnusable { get; init; }
}

/// <summary>What an outage of nats-server showed.</summary>
internal sealed record NatsOutage(double Seconds, double? FailClosed, long FramesWhileClosed, double? Resumed, int CamerasBack);

/// <summary>What an outage of the server showed.</summary>
internal sealed record ServerOutage(double Seconds, double? Lapsed, long FramesWithoutGrant, double Start, double? Resumed, int GrantedBefore, int GrantedAfter);
