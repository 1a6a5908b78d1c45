using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using CityWatch.Recognition;
using CityWatch.ScaleOut;
using CityWatch.Server.ScaleOut;
using CityWatch.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Xunit.Abstractions;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// Lease keepers sharing cameras against a real nats-server with JetStream (one server per test), each keeper on
/// its own connection as a worker process would be. TTL 1.5 s, so a round every 0.5 s.
/// </summary>
public sealed class CameraLeaseKeeperTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(1.5);

    // Liveness bounds on a shared, loaded box: the promise is TTL + a round; the slack is for a starved scheduler.
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(4);

    private static readonly string[] TenCameras = [.. Enumerable.Range(0, 10).Select(i => $"cam-{i:00}")];

    private readonly List<RunningKeeper> _keepers = [];
    private NatsServer _server = null!;

    public async Task InitializeAsync() => _server = await NatsServer.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var keeper in _keepers)
        {
            await keeper.DisposeAsync();
        }

        _server.Dispose();
    }

    [Fact]
    public void The_fair_share_splits_ten_cameras_over_three_workers_4_3_3_and_always_adds_up()
    {
        Assert.Equal([4, 3, 3], Enumerable.Range(0, 3).Select(i => CameraLeaseKeeper.FairShare(10, 3, i)));
        Assert.Equal([1, 1, 0], Enumerable.Range(0, 3).Select(i => CameraLeaseKeeper.FairShare(2, 3, i)));
        for (var cameras = 0; cameras <= 40; cameras++)
        {
            for (var workers = 1; workers <= 7; workers++)
            {
                var shares = Enumerable.Range(0, workers).Select(i => CameraLeaseKeeper.FairShare(cameras, workers, i)).ToList();
                Assert.Equal(cameras, shares.Sum());
                Assert.True(shares.Max() - shares.Min() <= 1);
            }
        }
    }

    [Fact]
    public async Task Three_keepers_over_ten_cameras_settle_to_4_3_3_with_no_camera_held_twice()
    {
        var a = await StartKeeperAsync("worker-a");
        var b = await StartKeeperAsync("worker-b");
        var c = await StartKeeperAsync("worker-c");
        await using var watch = DoubleHoldWatch.Start(_keepers);

        await WaitUntilAsync(() => Shares(a, b, c) == "4/3/3" && AllHeldOnce(), Ttl * 6 + Slack, "4/3/3");
        // Settled: two more TTLs of rounds change nothing.
        await Task.Delay(Ttl * 2);

        Assert.Equal("4/3/3", Shares(a, b, c));
        Assert.True(AllHeldOnce(), Describe());
        Assert.Equal([.. TenCameras], a.Keeper.Held().Concat(b.Keeper.Held()).Concat(c.Keeper.Held()).Order(StringComparer.Ordinal));
        Assert.Empty(watch.Violations);
    }

    [Fact]
    public async Task A_keeper_that_stops_hands_its_cameras_to_the_others_within_a_ttl_and_a_round()
    {
        var a = await StartKeeperAsync("worker-a");
        var b = await StartKeeperAsync("worker-b");
        var c = await StartKeeperAsync("worker-c");
        await WaitUntilAsync(() => Shares(a, b, c) == "4/3/3", Ttl * 6 + Slack, "4/3/3");
        await using var watch = DoubleHoldWatch.Start(_keepers);

        var releasedBefore = a.Keeper.Moves.Released;
        var stopped = Stopwatch.StartNew();
        await a.StopAsync();
        Assert.Empty(a.Keeper.Held());
        Assert.Equal(releasedBefore + 4, a.Keeper.Moves.Released);

        await WaitUntilAsync(() => Shares(b, c) == "5/5" && AllHeldOnce(), Ttl + a.Keeper.Round + Slack, "5/5 after worker-a stopped");
        output.WriteLine($"cancelled keeper: its cameras taken over after {stopped.Elapsed.TotalSeconds:0.00} s (TTL {Ttl.TotalSeconds} s)");
        Assert.Empty(watch.Violations);
    }

    [Fact]
    public async Task A_keeper_abandoned_without_release_has_its_cameras_taken_within_a_ttl_and_a_round()
    {
        var a = await StartKeeperAsync("worker-a");
        var b = await StartKeeperAsync("worker-b");
        var c = await StartKeeperAsync("worker-c");
        await WaitUntilAsync(() => Shares(a, b, c) == "4/3/3", Ttl * 6 + Slack, "4/3/3");
        var abandoned = a.Keeper.Held();
        var releasedBefore = a.Keeper.Moves.Released;
        await using var watch = DoubleHoldWatch.Start(_keepers);

        // Its connection drops (as when the process dies): no release, no goodbye; the keeper is left as it is.
        var lostAt = Stopwatch.StartNew();
        await a.CutConnectionAsync();

        await WaitUntilAsync(() => Shares(b, c) == "5/5" && AllHeldOnce(), Ttl + a.Keeper.Round + Ttl + Slack, "5/5 after worker-a was abandoned");
        output.WriteLine($"abandoned keeper: its cameras taken over after {lostAt.Elapsed.TotalSeconds:0.00} s (TTL {Ttl.TotalSeconds} s)");
        Assert.All(abandoned, camera => Assert.False(a.Keeper.MayRun(camera)));
        Assert.Empty(a.Keeper.Held());
        Assert.Equal(releasedBefore, a.Keeper.Moves.Released);
        Assert.Empty(watch.Violations);
    }

    [Fact]
    public async Task A_keeper_joining_rebalances_the_cameras_with_no_camera_held_twice_at_any_observed_instant()
    {
        var a = await StartKeeperAsync("worker-a");
        var b = await StartKeeperAsync("worker-b");
        await WaitUntilAsync(() => Shares(a, b) == "5/5", Ttl * 6 + Slack, "5/5");
        await using var watch = DoubleHoldWatch.Start(_keepers);

        var before = new[] { a.Keeper.Moves, b.Keeper.Moves };
        var c = await StartKeeperAsync("worker-c");

        await WaitUntilAsync(() => Shares(a, b, c) == "4/3/3" && AllHeldOnce(), Ttl * 6 + Slack, "4/3/3 after worker-c joined");

        // Three cameras moved to worker-c. On a starved box a keeper's live key can lapse for a moment (its round came
        // later than the TTL), the others' share grows, and a camera goes out and back: such a detour adds one
        // acquisition and one release (or loss), so what a and b gave up net of what they took back is exactly three.
        var after = new[] { a.Keeper.Moves, b.Keeper.Moves };
        var given = Enumerable.Range(0, 2).Sum(i =>
            after[i].Released - before[i].Released + after[i].Lost - before[i].Lost - (after[i].Acquired - before[i].Acquired));
        output.WriteLine($"worker-a {before[0]} -> {after[0]}; worker-b {before[1]} -> {after[1]}; worker-c {c.Keeper.Moves}");
        Assert.Equal(3, given);
        Assert.Equal(3, c.Keeper.Moves.Acquired - c.Keeper.Moves.Released - c.Keeper.Moves.Lost);

        Assert.True(watch.Samples > 10, $"only {watch.Samples} samples");
        Assert.Empty(watch.Violations);
    }

    [Fact]
    public async Task With_nats_server_stopped_no_keeper_may_run_any_camera_within_a_ttl_and_after_a_restart_they_resume()
    {
        var a = await StartKeeperAsync("worker-a");
        var b = await StartKeeperAsync("worker-b");
        var c = await StartKeeperAsync("worker-c");
        await WaitUntilAsync(() => Shares(a, b, c) == "4/3/3", Ttl * 6 + Slack, "4/3/3");

        await _server.StopAsync();
        // Every lease was written before the server stopped, so it expires within a TTL of now by each keeper's clock.
        await Task.Delay(Ttl);

        Assert.All(_keepers, k => Assert.All(TenCameras, camera => Assert.False(k.Keeper.MayRun(camera), $"{k.Keeper.Worker} may still run {camera}")));
        Assert.All(_keepers, k => Assert.Empty(k.Keeper.Held()));

        await _server.StartAgainAsync();
        await using var watch = DoubleHoldWatch.Start(_keepers);
        await WaitUntilAsync(() => Shares(a, b, c) == "4/3/3" && AllHeldOnce(), TimeSpan.FromSeconds(30), "4/3/3 after the restart");
        Assert.All(_keepers, k => Assert.True(k.Keeper.Moves.Lost > 0));
        Assert.Empty(watch.Violations);
    }

    [Fact]
    public async Task A_keeper_whose_lease_another_writer_overwrote_stops_that_camera_at_the_next_renew()
    {
        await using var nats = new NatsConnection(new NatsOpts { Url = _server.Url });
        var keeper = new CameraLeaseKeeper(nats, "worker-a", TimeSpan.FromMinutes(1), TimeProvider.System);
        var stopped = new ConcurrentQueue<string>();
        keeper.CameraStopped += stopped.Enqueue;
        keeper.SetCameras(["cam-1", "cam-2"]);
        await keeper.RoundAsync();
        Assert.True(keeper.MayRun("cam-1"));
        var fence = keeper.Lease("cam-1")!.Revision;

        var bucket = await new NatsKVContext(new NatsJSContext(nats)).GetStoreAsync(CameraLeases.DefaultBucket);
        var overwritten = await bucket.PutAsync("camera.cam-1", "intruder");
        await keeper.RoundAsync();

        Assert.True(overwritten > fence);
        Assert.False(keeper.MayRun("cam-1"));
        Assert.Null(keeper.Lease("cam-1"));
        Assert.True(keeper.MayRun("cam-2"));
        Assert.Equal(["cam-1"], stopped);
        Assert.Equal(new LeaseMoves(Acquired: 2, Released: 0, Lost: 1), keeper.Moves);
        Assert.Equal("intruder", (await bucket.GetEntryAsync<string>("camera.cam-1")).Value);
    }

    [Fact]
    public async Task A_top_up_between_rounds_takes_a_camera_that_came_free_and_touches_nothing_at_its_share()
    {
        // Rounds and top-ups by hand; a TTL of a minute, so nothing lapses meanwhile.
        await using var natsA = new NatsConnection(new NatsOpts { Url = _server.Url });
        await using var natsB = new NatsConnection(new NatsOpts { Url = _server.Url });
        var a = new CameraLeaseKeeper(natsA, "worker-a", TimeSpan.FromMinutes(1), TimeProvider.System);
        var b = new CameraLeaseKeeper(natsB, "worker-b", TimeSpan.FromMinutes(1), TimeProvider.System);
        a.SetCameras(["cam-1", "cam-2"]);
        b.SetCameras(["cam-1", "cam-2"]);

        await b.TopUpAsync(); // before any round: no buckets opened, nothing taken
        Assert.Empty(b.Held());
        await a.RoundAsync(); // alone: both cameras
        await b.RoundAsync(); // live now, share 1, nothing free
        Assert.Equal(["cam-1", "cam-2"], a.Held());
        Assert.Empty(b.Held());

        await a.RoundAsync(); // sees worker-b: gives up cam-2, the higher id
        Assert.Equal(["cam-1"], a.Held());
        await b.TopUpAsync();
        Assert.Equal(["cam-2"], b.Held());
        Assert.Equal(new LeaseMoves(Acquired: 1, Released: 0, Lost: 0), b.Moves);

        // At its share, a top-up acquires nothing and releases nothing.
        await a.TopUpAsync();
        await b.TopUpAsync();
        Assert.Equal(["cam-1"], a.Held());
        Assert.Equal(["cam-2"], b.Held());
        Assert.Equal(new LeaseMoves(Acquired: 2, Released: 1, Lost: 0), a.Moves);
        Assert.Equal(new LeaseMoves(Acquired: 1, Released: 0, Lost: 0), b.Moves);
    }

    [Fact]
    public async Task The_camera_monitor_with_a_keeper_runs_only_the_cameras_whose_lease_it_holds()
    {
        // Another worker, named to sort first, shares the two cameras with the server's worker (1 each).
        var other = await StartKeeperAsync("worker-0", cameras: []);
        await using var server = await RunningServer.StartAsync(
            runCameras: true,
            configure: o => o with { NatsUrl = _server.Url, Worker = "worker-1", LeaseTtl = Ttl });
        var keeper = server.Services.GetRequiredService<CameraLeaseKeeper>();
        var monitor = server.Services.GetRequiredService<CameraMonitor>();
        var first = await server.AddCameraAsync("LEASE-1", "rtsp://127.0.0.1:9/first", faceRecognition: false);
        var second = await server.AddCameraAsync("LEASE-2", "rtsp://127.0.0.1:9/second", faceRecognition: false);
        string[] ids = [Id(first.Id), Id(second.Id)];
        other.Keeper.SetCameras(ids);
        monitor.Reconcile();

        await WaitUntilAsync(() => keeper.Held().Count == 1 && other.Keeper.Held().Count == 1 && Runs(monitor, keeper.Held()[0]), Ttl * 8 + Slack, "one camera each, the server's running");
        var mine = keeper.Held()[0];
        var theirs = other.Keeper.Held()[0];
        // Sampled over a few rounds: the camera the other worker holds never gets a worker (no frame source, no analysis) here.
        for (var i = 0; i < 10; i++)
        {
            Assert.Null(monitor.Health(long.Parse(theirs, CultureInfo.InvariantCulture)));
            Assert.True(Runs(monitor, mine));
            await Task.Delay(Ttl / 5);
        }

        await other.StopAsync();
        await WaitUntilAsync(() => Runs(monitor, mine) && Runs(monitor, theirs), Ttl * 2 + Slack, "both cameras running on the server once the other worker left");
        Assert.Equal(2, keeper.Held().Count);
    }

    [Fact]
    public void Scale_out_settings_come_from_the_flags_before_the_configuration_and_bad_ones_are_refused_with_one_line()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [ScaleOutOptions.NatsKey] = "nats://127.0.0.1:4222",
            [ScaleOutOptions.WorkerKey] = "from-config",
            [ScaleOutOptions.LeaseTtlKey] = "00:00:09",
        }).Build();
        var empty = new ConfigurationBuilder().Build();
        var options = new CityWatch.Server.ServerOptions { DataDirectory = "/nowhere", ModelsDirectory = "/nowhere" };

        Assert.Equal(new ScaleOutOptions("nats://127.0.0.1:4222", "from-config", TimeSpan.FromSeconds(9)), ScaleOutOptions.From(options, configuration));
        // Another loopback address: off this box a URL needs a CA file too (NatsTlsTests).
        Assert.Equal(
            new ScaleOutOptions("nats://127.0.0.2:4222", "from-flag", TimeSpan.FromSeconds(3)),
            ScaleOutOptions.From(options with { NatsUrl = "nats://127.0.0.2:4222", Worker = "from-flag", LeaseTtl = TimeSpan.FromSeconds(3) }, configuration));
        Assert.Equal(new ScaleOutOptions(null, null, ScaleOutOptions.DefaultLeaseTtl), ScaleOutOptions.From(options, empty));

        var noNats = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { Worker = "w1" }, empty));
        Assert.StartsWith("--worker (ScaleOut:Worker) needs --nats", noNats.Message, StringComparison.Ordinal);
        var badName = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { NatsUrl = "nats://127.0.0.1:4222", Worker = "no spaces" }, empty));
        Assert.Contains("not a usable worker name", badName.Message, StringComparison.Ordinal);
        var days = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [ScaleOutOptions.LeaseTtlKey] = "6" }).Build();
        Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options, days)); // "6" is six days as a time span
        Assert.All(
            [noNats.Message, badName.Message],
            m => Assert.DoesNotContain('\n', m));
    }

    [Theory]
    [InlineData("--worker w1", "error: --worker (ScaleOut:Worker) needs --nats")]
    [InlineData("--nats nats://127.0.0.1:4222 --worker bad/name", "error: --worker (ScaleOut:Worker) 'bad/name' is not a usable worker name")]
    [InlineData("--nats nats://127.0.0.1:4222 --worker w1 --lease-ttl-s 0", "error: --lease-ttl-s must be a positive number of seconds")]
    [InlineData("--nats nats://127.0.0.1:4222 --worker w1 --lease-ttl-s 900", "error: --lease-ttl-s (ScaleOut:LeaseTtl) must be between 1 s and 300 s")]
    public async Task Serve_refuses_bad_worker_flags_with_one_line_and_exit_1(string flags, string expected)
    {
        var data = TestPaths.NewScratchDirectory();
        try
        {
            TestPaths.KekFor(data);
            var refused = await CliRunner.RunAsync(
                ["serve", "--data", data, "--models", TestPaths.Models, "--urls", "http://127.0.0.1:0", "--kek-file", TestPaths.KekFileFor(data), .. flags.Split(' ')]);

            Assert.Equal(1, refused.ExitCode);
            Assert.StartsWith(expected, Assert.Single(refused.Errors), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
            TestPaths.DeleteKekOf(data);
        }
    }

    private static string Id(long cameraId) => cameraId.ToString(CultureInfo.InvariantCulture);

    private static bool Runs(CameraMonitor monitor, string camera) => monitor.Health(long.Parse(camera, CultureInfo.InvariantCulture)) is not null;

    private static string Shares(params RunningKeeper[] keepers) => string.Join('/', keepers.Select(k => k.Keeper.Held().Count));

    private bool AllHeldOnce()
    {
        var held = _keepers.SelectMany(k => k.Keeper.Held()).ToList();
        return held.Count == TenCameras.Length && held.Distinct(StringComparer.Ordinal).Count() == TenCameras.Length;
    }

    private string Describe() => string.Join("; ", _keepers.Select(k => $"{k.Keeper.Worker}: {string.Join(',', k.Keeper.Held())} ({k.Keeper.Moves})"));

    private async Task WaitUntilAsync(Func<bool> condition, TimeSpan deadline, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            if (waited.Elapsed > deadline)
            {
                Assert.Fail($"not reached within {deadline.TotalSeconds:0.0} s: {what}. Now: {Describe()}");
            }

            await Task.Delay(25);
        }
    }

    private async Task<RunningKeeper> StartKeeperAsync(string worker, string[]? cameras = null)
    {
        var nats = new NatsConnection(new NatsOpts { Url = _server.Url, Name = worker });
        await nats.ConnectAsync();
        var keeper = new CameraLeaseKeeper(nats, worker, Ttl, TimeProvider.System);
        keeper.SetCameras(cameras ?? TenCameras);
        var running = new RunningKeeper(keeper, nats);
        lock (_keepers)
        {
            _keepers.Add(running);
        }

        return running;
    }

    /// <summary>A keeper running its rounds on its own connection, as in a worker process.</summary>
    private sealed class RunningKeeper : IAsyncDisposable
    {
        private readonly NatsConnection _nats;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;
        private bool _cut;

        public RunningKeeper(CameraLeaseKeeper keeper, NatsConnection nats)
        {
            Keeper = keeper;
            _nats = nats;
            _run = Task.Run(() => keeper.RunAsync(_stop.Token));
        }

        public CameraLeaseKeeper Keeper { get; }

        /// <summary>Cancels the keeper: it releases its leases and leaves the live bucket.</summary>
        public async Task StopAsync()
        {
            if (!_stop.IsCancellationRequested)
            {
                await _stop.CancelAsync();
            }

            await _run;
        }

        /// <summary>Closes the keeper's connection under it, as when its process dies; its rounds go on failing.</summary>
        public async Task CutConnectionAsync()
        {
            _cut = true;
            await _nats.DisposeAsync();
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            if (!_cut)
            {
                await _nats.DisposeAsync();
            }

            _stop.Dispose();
        }
    }

    /// <summary>
    /// Samples every keeper's <see cref="CameraLeaseKeeper.MayRun"/> for every camera until disposed. A camera is
    /// held twice at an observed instant when keeper A may run it, then keeper B may, then A still may.
    /// </summary>
    private sealed class DoubleHoldWatch : IAsyncDisposable
    {
        private readonly List<RunningKeeper> _keepers;
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentQueue<string> _violations = new();
        private Task _loop = Task.CompletedTask;
        private long _samples;

        private DoubleHoldWatch(List<RunningKeeper> keepers) => _keepers = keepers;

        public IReadOnlyCollection<string> Violations => _violations;

        public long Samples => Interlocked.Read(ref _samples);

        public static DoubleHoldWatch Start(List<RunningKeeper> keepers)
        {
            var watch = new DoubleHoldWatch(keepers);
            watch._loop = Task.Run(watch.RunAsync);
            return watch;
        }

        private async Task RunAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                // The list can grow while watched (a keeper joining): read a copy.
                RunningKeeper[] keepers;
                lock (_keepers)
                {
                    keepers = [.. _keepers];
                }

                foreach (var camera in TenCameras.Concat(Enumerable.Range(1, 9).Select(i => i.ToString(CultureInfo.InvariantCulture))))
                {
                    var holders = keepers.Where(k => k.Keeper.MayRun(camera)).ToList();
                    if (holders.Count > 1 && holders[0].Keeper.MayRun(camera))
                    {
                        _violations.Enqueue($"{camera}: {string.Join(", ", holders.Select(h => h.Keeper.Worker))}");
                    }
                }

                Interlocked.Increment(ref _samples);
                await Task.Delay(5);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
        }
    }
}
