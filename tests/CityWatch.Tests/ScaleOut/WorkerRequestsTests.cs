using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Keys;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.ScaleOut;
using CityWatch.Server.ScaleOut;
using CityWatch.Tests.Support;
using Microsoft.Extensions.Configuration;
using NATS.Client.Core;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// The server's answers to its workers over a real nats-server and a real data folder: a grant only for the lease's
/// holder at its revision and only where the policy engine grants, signed for that worker; a gallery only for a valid
/// grant of this server for that worker, sealed to the worker's key, holding exactly the grant's watchlists and logged.
/// </summary>
public sealed class WorkerRequestsTests : IAsyncLifetime
{
    private const string WorkerA = "worker-a";
    private const string WorkerB = "worker-b";

    private NatsServer _server = null!;
    private NatsConnection _nats = null!;
    private TestCity _city = null!;
    private CameraLeases _leases = null!;
    private CropSealing _crops = null!;
    private readonly RecognitionOptions _recognition = new() { Threshold = 0.42f };
    private readonly CancellationTokenSource _stop = new();
    private Task _serving = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        _server = await NatsServer.StartAsync();
        _nats = new NatsConnection(new NatsOpts { Url = _server.Url });
        await _nats.ConnectAsync();
        _city = new TestCity();
        _leases = await CameraLeases.OpenAsync(_nats, TimeSpan.FromMinutes(1), TimeProvider.System);
        _crops = new CropSealing(_city.Database);
        var requests = new WorkerRequests(
            _city.Cameras, _city.Policy, _city.Watchlists, _leases, _crops, _city.Audit, _city.Database, () => _recognition.CurrentThreshold, _city.Time);
        _serving = requests.ServeAsync(_nats, _stop.Token);
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _serving;
        _stop.Dispose();
        _crops.Dispose();
        await _nats.DisposeAsync();
        _server.Dispose();
        _city.Dispose();
    }

    [Fact]
    public async Task A_worker_holding_the_lease_gets_a_grant_the_verifier_accepts_for_that_worker_only()
    {
        var camera = await LiveCameraAsync("C1", [1]);
        var lease = await AcquireAsync(camera, WorkerA);

        var reply = await GrantAsync(WorkerA, new GrantRequest(WorkerA, camera, lease.Revision));

        Assert.Null(reply.Refusal);
        var grant = new GrantVerifier(_city.Policy.GrantSigningPublicKey, WorkerA, _city.Time).Verify(reply.Grant!);
        Assert.Equal(camera, grant.CameraId);
        Assert.Equal(ProcessingPurpose.Live, grant.Purpose);
        Assert.Equal([1L], grant.WatchlistIds);
        Assert.Equal(0.42f, reply.Threshold);
        Assert.Equal(_crops.PublicKeyBase64, reply.CropKey);
        Assert.Throws<GrantAudienceException>(() => new GrantVerifier(_city.Policy.GrantSigningPublicKey, WorkerB, _city.Time).Verify(reply.Grant!));

        // The grant is logged by the engine as the in-process path's is, naming the worker.
        await _city.Audit.FlushAsync();
        var logged = Assert.Single(_city.Audit.Read(0, 10_000, AuditActions.PolicyGrant), a => a.Actor == WorkerRequests.WorkerActor(WorkerA));
        Assert.Contains(grant.Id.ToString(), logged.Body, StringComparison.Ordinal);
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_worker_without_the_lease_with_a_revision_it_was_never_given_or_without_a_basis_is_refused()
    {
        var camera = await LiveCameraAsync("C1", [1]);
        var bare = _city.AddCamera("C2", streamUrl: "rtsp://127.0.0.1:8554/c2").Id;
        var lease = await AcquireAsync(camera, WorkerA);
        var bareLease = await AcquireAsync(bare, WorkerA);
        var renewed = await _leases.TryRenewAsync(lease);
        Assert.NotNull(renewed);

        var notHolder = await GrantAsync(WorkerB, new GrantRequest(WorkerB, camera, renewed.Revision));
        var unissued = await GrantAsync(WorkerA, new GrantRequest(WorkerA, camera, renewed.Revision + 1000));
        var none = await GrantAsync(WorkerA, new GrantRequest(WorkerA, camera, 0));
        var unleased = await GrantAsync(WorkerA, new GrantRequest(WorkerA, 999, 1));
        var otherSubject = await GrantAsync(WorkerB, new GrantRequest(WorkerA, camera, renewed.Revision));
        var noBasis = await GrantAsync(WorkerA, new GrantRequest(WorkerA, bare, bareLease.Revision));
        var malformed = WorkerProtocol.Parse<GrantReply>((await _nats.RequestAsync<byte[], byte[]>(WorkerProtocol.GrantSubject(WorkerA), "{\"worker\":1}"u8.ToArray())).Data!);

        Assert.Contains($"leased to '{WorkerA}' at revision {renewed.Revision}, not to '{WorkerB}'", notHolder.Refusal, StringComparison.Ordinal);
        Assert.Contains($"not to '{WorkerA}' at revision {renewed.Revision + 1000} or before", unissued.Refusal, StringComparison.Ordinal);
        Assert.Contains($"not to '{WorkerA}' at revision 0 or before", none.Refusal, StringComparison.Ordinal);
        Assert.Contains("not leased to anyone", unleased.Refusal, StringComparison.Ordinal);
        Assert.Contains("asked on the subject of 'worker-b'", otherSubject.Refusal, StringComparison.Ordinal);
        Assert.NotNull(noBasis.Refusal);
        Assert.Contains("not a GrantRequest", malformed.Refusal, StringComparison.Ordinal);
        Assert.All([notHolder, unissued, none, unleased, otherSubject, noBasis, malformed], r => Assert.Null(r.Grant));

        // The one that reached the policy engine is its logged refusal; nothing was granted to anyone.
        await _city.Audit.FlushAsync();
        Assert.DoesNotContain(_city.Audit.Read(0, 10_000, AuditActions.PolicyGrant), a => a.Actor.StartsWith("worker:", StringComparison.Ordinal));
        Assert.Single(_city.Audit.Read(0, 10_000, AuditActions.PolicyRefusal), a => a.Actor == WorkerRequests.WorkerActor(WorkerA));
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_request_that_names_the_revision_before_its_own_renew_is_still_granted_and_one_after_the_lease_moved_is_not()
    {
        var camera = await LiveCameraAsync("C1", [1]);
        var lease = await AcquireAsync(camera, WorkerA);
        var renewed = await _leases.TryRenewAsync(lease);
        Assert.NotNull(renewed);
        Assert.True(renewed.Revision > lease.Revision);

        // The keeper renewed while the request was on its way: the worker still holds the camera.
        var granted = await GrantAsync(WorkerA, new GrantRequest(WorkerA, camera, lease.Revision));
        Assert.Null(granted.Refusal);
        Assert.NotNull(granted.Grant);

        // Once the lease is another worker's, no revision of the first one's is any use.
        Assert.True(await _leases.ReleaseAsync(renewed));
        var taken = await AcquireAsync(camera, WorkerB);
        var moved = await GrantAsync(WorkerA, new GrantRequest(WorkerA, camera, renewed.Revision));
        Assert.Contains($"leased to '{WorkerB}' at revision {taken.Revision}", moved.Refusal, StringComparison.Ordinal);
        Assert.Null(moved.Grant);
    }

    [Fact]
    public async Task The_gallery_opens_only_with_the_workers_key_and_holds_exactly_the_grants_watchlists_and_its_release_is_logged()
    {
        _city.EnsureWatchlists([1, 2]);
        var first = Template(1);
        var second = Template(2);
        var e1 = _city.Watchlists.AddEntry(1, EntryInputOf("P-1"), "test", first, [1], "enroller");
        var e2 = _city.Watchlists.AddEntry(1, EntryInputOf("P-2"), "test", second, [1], "enroller");
        _city.Watchlists.AddEntry(2, EntryInputOf("P-3"), "test", Template(3), [1], "enroller");
        var camera = await LiveCameraAsync("C1", [1]);
        var grant = await GrantedAsync(camera, WorkerA);
        using var recipient = SealedBox.NewRecipientKey();
        using var other = SealedBox.NewRecipientKey();

        var reply = await GalleryAsync(WorkerA, new GalleryRequest(WorkerA, grant.Grant!, Convert.ToBase64String(SealedBox.PublicKeyOf(recipient))));

        Assert.Null(reply.Refusal);
        var box = Convert.FromBase64String(reply.Sealed!);
        var grantId = SignedGrant.Parse(grant.Grant!).Claims.Id;
        Assert.Throws<CryptographicException>(() => SealedBox.Open(other, box, WorkerRequests.GalleryAssociatedData(grantId)));
        Assert.Throws<CryptographicException>(() => SealedBox.Open(recipient, box, WorkerRequests.GalleryAssociatedData(Guid.NewGuid())));
        var snapshot = WorkerProtocol.Parse<GallerySnapshot>(SealedBox.Open(recipient, box, WorkerRequests.GalleryAssociatedData(grantId)));
        Assert.Equal(grantId, snapshot.GrantId);
        Assert.Equal(grant.GalleryVersion, snapshot.Version);
        Assert.Equal([(1L, e1.Id, "P-1"), (1L, e2.Id, "P-2")], snapshot.Templates.Select(t => (t.WatchlistId, t.EntryId, t.Label)));
        Assert.Equal(first, Floats(snapshot.Templates[0].Template));
        Assert.Equal(second, Floats(snapshot.Templates[1].Template));

        await _city.Audit.FlushAsync();
        var release = Assert.Single(_city.Audit.Read(0, 10_000, WorkerRequests.GalleryReleaseAction));
        Assert.Equal(WorkerRequests.Actor, release.Actor);
        using var body = JsonDocument.Parse(release.Body);
        var parameters = body.RootElement.GetProperty("Parameters");
        Assert.Equal(WorkerA, parameters.GetProperty("worker").GetString());
        Assert.Equal(grantId.ToString(), parameters.GetProperty("grant").GetString());
        Assert.Equal("1", parameters.GetProperty("watchlists").GetString());
        Assert.Equal("2", parameters.GetProperty("entries").GetString());
        Assert.Equal(WorkerRequests.Fingerprint(SealedBox.PublicKeyOf(recipient)), parameters.GetProperty("recipient").GetString());
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_gallery_request_with_a_forged_expired_or_other_workers_grant_is_refused_and_nothing_released()
    {
        _city.EnsureWatchlists([1]);
        _city.Watchlists.AddEntry(1, EntryInputOf("P-1"), "test", Template(1), [1], "enroller");
        var camera = await LiveCameraAsync("C1", [1]);
        var grant = (await GrantedAsync(camera, WorkerA)).Grant!;
        using var recipient = SealedBox.NewRecipientKey();
        var key = Convert.ToBase64String(SealedBox.PublicKeyOf(recipient));
        var parts = grant.Split('.');
        var signature = parts[1].ToCharArray();
        signature[3] = signature[3] == 'A' ? 'B' : 'A';
        var forged = $"{parts[0]}.{new string(signature)}";
        var otherServer = new GrantSigner(RandomNumberGenerator.GetBytes(32)).Sign(new GrantVerifier(_city.Policy.GrantSigningPublicKey, WorkerA, _city.Time).Verify(grant), WorkerA).ToString();

        var refusals = new List<GalleryReply>
        {
            await GalleryAsync(WorkerA, new GalleryRequest(WorkerA, forged, key)),
            await GalleryAsync(WorkerA, new GalleryRequest(WorkerA, otherServer, key)),
            await GalleryAsync(WorkerB, new GalleryRequest(WorkerB, grant, key)),
            await GalleryAsync(WorkerB, new GalleryRequest(WorkerA, grant, key)),
            await GalleryAsync(WorkerA, new GalleryRequest(WorkerA, "not-a-grant", key)),
            await GalleryAsync(WorkerA, new GalleryRequest(WorkerA, grant, "AAAA")),
            WorkerProtocol.Parse<GalleryReply>((await _nats.RequestAsync<byte[], byte[]>(WorkerProtocol.GallerySubject(WorkerA), "[]"u8.ToArray())).Data!),
        };
        _city.Time.Advance(PolicyEngine.GrantLifetime);
        refusals.Add(await GalleryAsync(WorkerA, new GalleryRequest(WorkerA, grant, key)));

        Assert.All(refusals, r => Assert.Null(r.Sealed));
        Assert.All(refusals, r => Assert.False(string.IsNullOrWhiteSpace(r.Refusal)));
        Assert.Contains("signature", refusals[0].Refusal, StringComparison.Ordinal);
        Assert.Contains("not by the trusted grant-signing key", refusals[1].Refusal, StringComparison.Ordinal);
        Assert.Contains($"not for '{WorkerB}'", refusals[2].Refusal, StringComparison.Ordinal);
        Assert.Contains("asked on the subject of 'worker-b'", refusals[3].Refusal, StringComparison.Ordinal);
        Assert.Contains("not an X25519 public key", refusals[5].Refusal, StringComparison.Ordinal);
        Assert.Contains("not a GalleryRequest", refusals[6].Refusal, StringComparison.Ordinal);
        Assert.Contains("is valid from", refusals[7].Refusal, StringComparison.Ordinal);
        await _city.Audit.FlushAsync();
        Assert.Empty(_city.Audit.Read(0, 10_000, WorkerRequests.GalleryReleaseAction));
        AssertLogVerifies();
    }

    [Fact]
    public async Task The_register_lists_the_streaming_cameras_and_its_version_changes_only_when_they_do()
    {
        var c1 = _city.AddCamera("C1", streamUrl: "rtsp://127.0.0.1:8554/c1").Id;
        _city.AddCamera("C2");
        var c3 = _city.AddCamera("C3", faceRecognitionAllowed: false, streamUrl: "rtsp://127.0.0.1:8554/c3").Id;

        var before = await RegisterAsync();
        var again = await RegisterAsync();
        _city.AddCamera("C4", streamUrl: "rtsp://127.0.0.1:8554/c4");
        var after = await RegisterAsync();

        Assert.Equal([c1, c3], before.Cameras.Select(c => c.Id));
        Assert.Equal("rtsp://127.0.0.1:8554/c1", before.Cameras[0].Url);
        Assert.False(before.Cameras[1].FaceRecognitionAllowed);
        Assert.Equal(before.Version, again.Version);
        Assert.NotEqual(before.Version, after.Version);
        Assert.Equal(3, after.Cameras.Count);
    }

    [Fact]
    public async Task The_crop_key_is_kept_wrapped_its_public_half_is_in_the_log_and_crops_sealed_to_it_open_only_for_their_alert()
    {
        var camera = await LiveCameraAsync("C1", [1]);
        var reply = await GrantedAsync(camera, WorkerA);
        var crop = "jpeg bytes"u8.ToArray();

        var box = SealedBox.Seal(Convert.FromBase64String(reply.CropKey!), crop, CropSealing.AssociatedData("alert-1"));

        Assert.Equal(crop, _crops.Open(box, "alert-1"));
        Assert.Throws<CryptographicException>(() => _crops.Open(box, "alert-2"));
        using (var reopened = new CropSealing(_city.Database))
        {
            Assert.Equal(_crops.PublicKey, reopened.PublicKey);
        }

        await _city.Audit.FlushAsync();
        var created = Assert.Single(_city.Audit.ReadSigned(0, 10_000, KeyRing.CreateAction), a => a.Body.Contains(KeyRing.CropSealing, StringComparison.Ordinal));
        using var body = JsonDocument.Parse(created.Body);
        Assert.Equal(reply.CropKey, body.RootElement.GetProperty("Parameters").GetProperty("public_key").GetString());
        using var connection = _city.Database.Open();
        var wrapped = Dapper.SqlMapper.QuerySingle<(string PublicKey, byte[] Wrapped)>(connection, "SELECT public_key, wrapped FROM wrapped_keys WHERE name = @name", new { name = KeyRing.CropSealing });
        Assert.Equal(reply.CropKey, wrapped.PublicKey);
        Assert.Equal(-1, wrapped.Wrapped.AsSpan().IndexOf(Convert.FromBase64String(reply.CropKey!)));
        AssertLogVerifies();
    }

    [Fact]
    public void The_role_resolves_flag_before_configuration_and_refuses_bad_values_with_one_line()
    {
        var options = new CityWatch.Server.ServerOptions { DataDirectory = "/nowhere", ModelsDirectory = "/nowhere" };
        var configured = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [ScaleOutOptions.RoleKey] = "server",
            [ScaleOutOptions.NatsKey] = "nats://127.0.0.1:4222",
        }).Build();
        var empty = new ConfigurationBuilder().Build();

        Assert.Equal(ServerRole.All, ScaleOutOptions.From(options, empty).Role);
        Assert.Equal(ServerRole.Server, ScaleOutOptions.From(options, configured).Role);
        Assert.Equal(ServerRole.All, ScaleOutOptions.From(options with { Role = "all" }, configured).Role);
        var noNats = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { Role = "server" }, empty));
        var worker = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { Role = "worker" }, empty));
        Assert.Equal(ServerRole.Worker, ScaleOutOptions.From(options with { Role = "worker", Worker = "w1" }, configured).Role);
        var bad = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { Role = "both" }, empty));
        var withWorker = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { Worker = "w1" }, configured));

        Assert.StartsWith("--role server needs --nats", noNats.Message, StringComparison.Ordinal);
        Assert.StartsWith("--role worker needs --nats", worker.Message, StringComparison.Ordinal);
        Assert.Equal("--role (ScaleOut:Role) must be all, server or worker, not 'both'", bad.Message);
        Assert.Contains("runs no cameras", withWorker.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--role worker", "error: --role worker needs --nats")]
    [InlineData("--role both", "error: --role (ScaleOut:Role) must be all, server or worker, not 'both'")]
    [InlineData("--role server", "error: --role server needs --nats")]
    public async Task Serve_refuses_a_bad_role_with_one_line_and_exit_1(string flags, string expected)
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

    [Fact]
    public async Task A_server_in_the_server_role_answers_its_workers_and_runs_no_cameras()
    {
        // Only the server's responders answer here (the fixture's stop), and it opens the lease bucket with the same TTL.
        await _stop.CancelAsync();
        await _serving;
        await using var server = await RunningServer.StartAsync(runCameras: true, configure: o => o with { NatsUrl = _server.Url, Role = "server", LeaseTtl = _leases.Ttl });
        var cameras = (CityWatch.Cameras.CameraStore)server.Services.GetService(typeof(CityWatch.Cameras.CameraStore))!;
        if (cameras.ListSites(0, 1).Total == 0)
        {
            cameras.CreateSite(new CityWatch.Cameras.SiteInput("S9", "Server square", 44.8, 20.4, "Test city"));
        }

        var camera = cameras.Create(new CityWatch.Cameras.CameraInput("SRV1", cameras.ListSites(0, 1).Items[0].Code, "Camera SRV1", "Test city", "test", "rtsp://127.0.0.1:9/none", true));
        await using var worker = new NatsConnection(new NatsOpts { Url = _server.Url });

        RegisterReply? reply = null;
        await RunningServer.WaitUntilAsync(
            async () =>
            {
                reply = await TryRegisterAsync(worker);
                return reply?.Cameras.Any(c => c.Id == camera.Id) == true;
            },
            TimeSpan.FromSeconds(30),
            "the server's register over NATS");
        Assert.Contains(reply!.Cameras, c => c.Id == camera.Id);
        var monitor = (CameraMonitor)server.Services.GetService(typeof(CameraMonitor))!;
        Assert.Null(monitor.Health(camera.Id));
    }

    private static async Task<RegisterReply?> TryRegisterAsync(NatsConnection nats)
    {
        try
        {
            var answer = await nats.RequestAsync<byte[], byte[]>(
                WorkerProtocol.RegisterSubject, WorkerProtocol.ToJson(new RegisterRequest(WorkerA)), replyOpts: new NatsSubOpts { Timeout = TimeSpan.FromSeconds(2) });
            return answer.Data is { Length: > 0 } data ? WorkerProtocol.Parse<RegisterReply>(data) : null;
        }
        catch (NatsNoRespondersException)
        {
            return null;
        }
        catch (NatsNoReplyException)
        {
            return null;
        }
    }

    private static CityWatch.Matching.EntryInput EntryInputOf(string label) => new(label, "wanted", "synthetic");

    private static float[] Template(int seed)
    {
        var values = new float[512];
        values[seed] = 1f;
        return values;
    }

    private static float[] Floats(string base64)
    {
        var bytes = Convert.FromBase64String(base64);
        var values = new float[bytes.Length / sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
        }

        return values;
    }

    private async Task<long> LiveCameraAsync(string code, long[] watchlists)
    {
        var camera = _city.AddCamera(code, streamUrl: $"rtsp://127.0.0.1:8554/{code}").Id;
        await _city.ActiveBasisAsync([camera], watchlists);
        return camera;
    }

    private async Task<CameraLease> AcquireAsync(long camera, string worker) =>
        await _leases.TryAcquireAsync(camera.ToString(CultureInfo.InvariantCulture), worker) ?? throw new InvalidOperationException($"camera {camera} is leased already");

    private async Task<GrantReply> GrantedAsync(long camera, string worker)
    {
        var lease = await AcquireAsync(camera, worker);
        var reply = await GrantAsync(worker, new GrantRequest(worker, camera, lease.Revision));
        Assert.Null(reply.Refusal);
        return reply;
    }

    private async Task<RegisterReply> RegisterAsync() =>
        WorkerProtocol.Parse<RegisterReply>((await _nats.RequestAsync<byte[], byte[]>(WorkerProtocol.RegisterSubject, WorkerProtocol.ToJson(new RegisterRequest(WorkerA)))).Data!);

    private async Task<GrantReply> GrantAsync(string subjectWorker, GrantRequest request) =>
        WorkerProtocol.Parse<GrantReply>((await _nats.RequestAsync<byte[], byte[]>(WorkerProtocol.GrantSubject(subjectWorker), WorkerProtocol.ToJson(request))).Data!);

    private async Task<GalleryReply> GalleryAsync(string subjectWorker, GalleryRequest request) =>
        WorkerProtocol.Parse<GalleryReply>((await _nats.RequestAsync<byte[], byte[]>(WorkerProtocol.GallerySubject(subjectWorker), WorkerProtocol.ToJson(request))).Data!);

    private void AssertLogVerifies()
    {
        var verification = AuditVerifier.VerifyDatabase(_city.Database.Path);
        Assert.True(verification.Ok, verification.Message);
    }
}
