using CityWatch.Audit;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Server;
using CityWatch.Server.ScaleOut;
using CityWatch.Tests.Ingest;
using CityWatch.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// The worker role end to end: a real nats-server, a server in the server role (no cameras) and a
/// <see cref="WorkerHost"/> (no database, no data folder, no KEK) watching a real RTSP camera; the alert lands on the server.
/// </summary>
public sealed class WorkerHostTests
{
    private const string Worker = "worker-e2e";
    private static readonly string Clip = TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4");
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task A_worker_over_nats_raises_the_alert_on_a_server_that_runs_no_camera_and_stops_without_nats()
    {
        // Over TLS, as a city runs it: the server and the worker trust the CA nats-server's certificate chains to.
        using var nats = await NatsServer.StartTlsAsync();
        using var rtsp = await RtspTestServer.StartAsync(Clip);
        var ttl = TimeSpan.FromSeconds(3);
        await using var server = await RunningServer.StartAsync(runCameras: true, configure: o => o with { NatsUrl = nats.Url, NatsCaFile = nats.CaFile, Role = "server", LeaseTtl = ttl });
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-W1", rtsp.Url);
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        (await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png"))).EnsureSuccessStatusCode();
        var grantKey = server.Services.GetRequiredService<PolicyEngine>().GrantSigningPublicKey;

        using var host = WorkerHost.Build(new WorkerHostOptions(nats.Link(), Worker, ttl, grantKey, TestPaths.Models) { RegisterInterval = TimeSpan.FromSeconds(1) });
        await host.StartAsync();
        var worker = host.Services.GetRequiredService<WorkerService>();
        try
        {
            // The crop came sealed over NATS and is opened from the server's evidence vault.
            await CityWatch.Tests.Recognition.CameraRecognitionTests.AssertAlertWithCropAsync(server, camera.Id, "lin_manuel_miranda", Deadline);
            var records = server.Services.GetRequiredService<AuditTrail>().Read(0, 1000, AuditActions.Alert);
            Assert.Contains(records, r => r.Actor == $"worker:{Worker}");
            var verification = AuditVerifier.VerifyDatabase(server.Options.DatabasePath);
            Assert.True(verification.Ok, verification.Message);
            // The camera ran on the worker under its lease, never in the server's own process.
            Assert.Null(server.Services.GetRequiredService<CameraMonitor>().Health(camera.Id));
            Assert.NotNull(worker.Monitor!.Health(camera.Id));
            Assert.Contains(camera.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), worker.Keeper!.Held());

            // Fail closed: with nats-server gone the worker cannot renew its lease or its grant, and its camera stops.
            await nats.StopAsync();
            await RunningServer.WaitUntilAsync(
                () => Task.FromResult(worker.Keeper.Held().Count == 0 && worker.Monitor.Health(camera.Id) is null && worker.Link!.GrantedCameras == 0),
                TimeSpan.FromSeconds(60),
                "the worker's camera to stop without NATS");
            Assert.Null(worker.Link!.Gallery(camera.Id));
        }
        finally
        {
            await host.StopAsync();
        }

        // Stopped, the worker holds no lease and its camera runs nowhere; the last grant and its gallery lapse with the
        // grant's lifetime, as nothing renews them.
        Assert.Empty(worker.Keeper!.Held());
        Assert.Null(worker.Monitor!.Health(camera.Id));
        await RunningServer.WaitUntilAsync(() => Task.FromResult(worker.Link!.GrantedCameras == 0), TimeSpan.FromSeconds(30), "the last grant to lapse");
        Assert.Null(worker.Link!.Gallery(camera.Id));
    }

    [Theory]
    [InlineData("--role worker", "error: --role worker needs --nats")]
    [InlineData("--role worker --nats nats://127.0.0.1:9", "error: --role worker needs --nats")]
    [InlineData("--role worker --worker w1", "error: --worker (ScaleOut:Worker) needs --nats")]
    [InlineData("--role worker --nats nats://127.0.0.1:9 --worker w1", "error: --role worker needs the server's grant-signing public key in ScaleOut:GrantKey")]
    public async Task Serve_as_a_worker_without_nats_a_name_or_the_grant_key_is_one_line_and_exit_1(string flags, string expected)
    {
        // No --data folder, no KEK: a worker needs neither, so they are not what it refuses over.
        var refused = await CliRunner.RunAsync(["serve", "--models", TestPaths.Models, .. flags.Split(' ')]);

        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith(expected, Assert.Single(refused.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void The_grant_key_must_be_32_bytes_of_base64_and_the_role_worker()
    {
        var options = new ServerOptions { DataDirectory = "unused", ModelsDirectory = TestPaths.Models, Role = "worker", NatsUrl = "nats://127.0.0.1:4222", Worker = "w1" };
        IConfiguration Config(string? key) => new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [WorkerHostOptions.GrantKeyKey] = key }).Build();
        var key = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

        var resolved = WorkerHostOptions.From(options, Config(key));

        Assert.Equal(("nats://127.0.0.1:4222", "w1"), (resolved.Nats.Url, resolved.Worker));
        Assert.Equal(Enumerable.Range(1, 32).Select(i => (byte)i), resolved.GrantKey);
        var short16 = Assert.Throws<ArgumentException>(() => WorkerHostOptions.From(options, Config(Convert.ToBase64String(new byte[16]))));
        var notBase64 = Assert.Throws<ArgumentException>(() => WorkerHostOptions.From(options, Config("not base64!")));
        var server = Assert.Throws<ArgumentException>(() => WorkerHostOptions.From(options with { Role = "server", Worker = null }, Config(key)));
        Assert.StartsWith("ScaleOut:GrantKey must be the base64", short16.Message, StringComparison.Ordinal);
        Assert.StartsWith("ScaleOut:GrantKey must be the base64", notBase64.Message, StringComparison.Ordinal);
        Assert.StartsWith("this process is not in the worker role", server.Message, StringComparison.Ordinal);
    }
}
