using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using Dapper;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// Candidates from workers into alerts over a real nats-server and a real data folder: applied once, under a grant this
/// server signed for that worker and camera and valid when the worker acted, fenced like audit events; refused and
/// malformed ones recorded and terminated; the log verifies after each.
/// </summary>
public sealed class CandidateIngestTests : IAsyncLifetime
{
    private const string WorkerA = "worker-a";
    private const string WorkerB = "worker-b";

    private NatsServer _server = null!;
    private NatsConnection _nats = null!;
    private TestCity _city = null!;
    private CropSealing _crops = null!;
    private long _camera;
    private long _entry;

    public async Task InitializeAsync()
    {
        _server = await NatsServer.StartAsync();
        _nats = new NatsConnection(new NatsOpts { Url = _server.Url });
        await _nats.ConnectAsync();
        _city = new TestCity();
        _crops = new CropSealing(_city.Database);
        _city.EnsureWatchlists([1]);
        var template = new float[512];
        template[0] = 1f;
        _entry = _city.Watchlists.AddEntry(1, new CityWatch.Matching.EntryInput("P-1", "wanted", "synthetic"), "test", template, [1], "enroller").Id;
        _camera = _city.AddCamera("C1", streamUrl: "rtsp://127.0.0.1:8554/c1").Id;
        await _city.ActiveBasisAsync([_camera], [1]);
    }

    public async Task DisposeAsync()
    {
        _crops.Dispose();
        await _nats.DisposeAsync();
        _server.Dispose();
        _city.Dispose();
    }

    [Fact]
    public async Task Raised_creates_the_alert_with_its_crop_sealed_in_the_vault_and_improved_touched_and_faces_update_it()
    {
        var ingest = await OpenIngestAsync();
        var grant = await SignedGrantAsync(WorkerA, _camera);
        var key = Guid.NewGuid().ToString("N");
        var crop = "first crop"u8.ToArray();
        var better = "better crop"u8.ToArray();
        var at = _city.Time.GetUtcNow();

        await PublishAsync(Raised(WorkerA, grant, key, crop, 0.61f, 10));
        await PublishAsync(Event(WorkerA, grant, CandidateKind.Improved, 10, key) with
        {
            Improved = new ImprovedCandidate(0.72f, new WireBox(0.2f, 0.2f, 0.1f, 0.1f), Seal(better, key), at.AddSeconds(1), 5, 0.9f, [new WireMatch(1, _entry, "P-1", 0.72f)], 3),
        });
        await PublishAsync(Event(WorkerA, grant, CandidateKind.Touched, 10, key) with { Touched = new TouchedCandidate(at.AddSeconds(3), 9) });
        await PublishAsync(Event(WorkerA, grant, CandidateKind.Faces, 10) with { Faces = new FacesCounted(at, grant.Claims.LegalBasisId, 17) });
        await IngestUntilAsync(ingest, c => c.Accepted == 4);

        var alert = Assert.Single(_city.Alerts.All());
        Assert.Equal((_camera, 1L, _entry, "P-1", grant.Claims.Id.ToString()), (alert.CameraId!.Value, alert.WatchlistId, alert.EntryId, alert.Label, alert.GrantId));
        Assert.Equal(0.72f, alert.Score);
        Assert.Equal(9, alert.Frames);
        Assert.Equal(at.AddSeconds(3), alert.LastSeen);
        Assert.Equal(better, _city.Alerts.Crop(alert.Id));
        var day = DateOnly.FromDateTime(at.UtcDateTime);
        var statistics = Assert.Single(new AlertStatistics(_city.Database).Statistics(day, day));
        Assert.Equal((1, 17L), (statistics.Raised, statistics.Faces));
        await _city.Audit.FlushAsync();
        var logged = _city.Audit.Read(0, 10_000, AuditActions.Alert).Where(a => a.Actor == WorkerRequests.WorkerActor(WorkerA)).Select(a => a.Outcome).ToList();
        Assert.Equal(["candidate", "improved"], logged);
        using var connection = _city.Database.Open();
        Assert.Equal(key, connection.ExecuteScalar<string>("SELECT source_key FROM alerts WHERE id = @Id", new { alert.Id }));
        // The crops are on disk only sealed, and the replaced one is gone.
        var files = Directory.GetFiles(_city.Alerts.EvidenceDirectory);
        Assert.Single(files);
        Assert.All(files, f => Assert.Equal(-1, File.ReadAllBytes(f).AsSpan().IndexOf(better)));
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_duplicate_changes_nothing_and_a_stale_fence_changes_nothing_and_is_recorded()
    {
        var ingest = await OpenIngestAsync();
        var grant = await SignedGrantAsync(WorkerA, _camera);
        var first = Raised(WorkerA, grant, Guid.NewGuid().ToString("N"), "crop"u8.ToArray(), 0.6f, 10);
        var late = Raised(WorkerA, grant, Guid.NewGuid().ToString("N"), "late crop"u8.ToArray(), 0.6f, 5);

        await PublishAsync(first);
        await IngestUntilAsync(ingest, c => c.Accepted == 1);
        // A second consumer over the stream (a consumer recreated from scratch) delivers the same event again.
        var again = await OpenIngestAsync("citywatch-candidate-ingest-2");
        await IngestUntilAsync(again, c => c.Duplicates == 1);
        await PublishAsync(late);
        await IngestUntilAsync(ingest, c => c.Stale == 1);

        Assert.Single(_city.Alerts.All());
        using var connection = _city.Database.Open();
        Assert.Equal("stale", connection.ExecuteScalar<string>("SELECT outcome FROM scaleout_received WHERE event_id = @EventId", new { late.EventId }));
        Assert.Equal(10, connection.ExecuteScalar<long>("SELECT revision FROM camera_fences WHERE camera_id = @camera", new { camera = _camera.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        await _city.Audit.FlushAsync();
        var refusal = Assert.Single(_city.Audit.Read(0, 10_000, CandidateIngest.RefusedAction));
        Assert.Contains("fencing token 5 is below 10", refusal.Outcome, StringComparison.Ordinal);
        AssertLogVerifies();
    }

    [Fact]
    public async Task An_event_under_another_workers_an_expired_or_another_cameras_grant_or_from_the_future_is_refused()
    {
        var ingest = await OpenIngestAsync();
        var other = _city.AddCamera("C2", streamUrl: "rtsp://127.0.0.1:8554/c2").Id;
        await _city.ActiveBasisAsync([other], [1]);
        var forB = await SignedGrantAsync(WorkerB, _camera);
        var onOther = await SignedGrantAsync(WorkerA, other);
        var expiring = await SignedGrantAsync(WorkerA, _camera);
        var forged = SignedGrant.Parse(new GrantSigner(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))
            .Sign(new GrantVerifier(_city.Policy.GrantSigningPublicKey, WorkerA, _city.Time).Verify(expiring.ToString()), WorkerA).ToString());

        await PublishAsync(Raised(WorkerA, forB, Guid.NewGuid().ToString("N"), "a"u8.ToArray(), 0.6f, 10));
        await PublishAsync(Raised(WorkerA, onOther, Guid.NewGuid().ToString("N"), "b"u8.ToArray(), 0.6f, 10) with { CameraId = _camera });
        await PublishAsync(Raised(WorkerA, forged, Guid.NewGuid().ToString("N"), "c"u8.ToArray(), 0.6f, 10));
        await PublishAsync(Raised(WorkerA, expiring, Guid.NewGuid().ToString("N"), "d"u8.ToArray(), 0.6f, 10) with { At = _city.Time.GetUtcNow().AddMinutes(1) });
        _city.Time.Advance(PolicyEngine.GrantLifetime);
        await PublishAsync(Raised(WorkerA, expiring, Guid.NewGuid().ToString("N"), "e"u8.ToArray(), 0.6f, 10));
        await IngestUntilAsync(ingest, c => c.Refused == 5);

        Assert.Empty(_city.Alerts.All());
        using var connection = _city.Database.Open();
        var reasons = connection.Query<string>("SELECT reason FROM scaleout_rejected ORDER BY stream_seq").ToList();
        Assert.Equal(5, reasons.Count);
        Assert.Contains($"not for '{WorkerA}'", reasons[0], StringComparison.Ordinal);
        Assert.Contains($"not a live grant on camera {_camera}", reasons[1], StringComparison.Ordinal);
        Assert.Contains("not by the trusted grant-signing key", reasons[2], StringComparison.Ordinal);
        Assert.Contains("ahead of the server's", reasons[3], StringComparison.Ordinal);
        Assert.Contains("is valid from", reasons[4], StringComparison.Ordinal);
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM scaleout_received"));
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM camera_fences"));
        await _city.Audit.FlushAsync();
        Assert.Equal(5, _city.Audit.Read(0, 10_000, CandidateIngest.RefusedAction).Count);
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_batch_refuses_one_event_alone_and_one_the_database_fails_on_leaves_no_crop_file_and_is_taken_one_by_one()
    {
        var ingest = await OpenIngestAsync();
        var grant = await SignedGrantAsync(WorkerA, _camera);
        var key = Guid.NewGuid().ToString("N");
        var better = "better crop"u8.ToArray();
        var at = _city.Time.GetUtcNow();
        await PublishAsync(Raised(WorkerA, grant, key, "first crop"u8.ToArray(), 0.61f, 10));
        await IngestUntilAsync(ingest, c => c.Accepted == 1);
        using (var connection = _city.Database.Open())
        {
            connection.Execute(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON scaleout_received WHEN NEW.event_id = 'poison-1' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
        }

        // One batch: an improvement (it places a new crop file), an event for an alert nobody raised (refused), a
        // touch, and one the database fails on. The batch rolls back whole, then each is taken on its own.
        await PublishAsync(Event(WorkerA, grant, CandidateKind.Improved, 10, key) with
        {
            Improved = new ImprovedCandidate(0.72f, new WireBox(0.2f, 0.2f, 0.1f, 0.1f), Seal(better, key), at.AddSeconds(1), 5, 0.9f, [new WireMatch(1, _entry, "P-1", 0.72f)], 3),
        });
        await PublishAsync(Event(WorkerA, grant, CandidateKind.Touched, 10, Guid.NewGuid().ToString("N")) with { Touched = new TouchedCandidate(at.AddSeconds(2), 7) });
        await PublishAsync(Event(WorkerA, grant, CandidateKind.Touched, 10, key) with { Touched = new TouchedCandidate(at.AddSeconds(3), 9) });
        await PublishAsync(Event(WorkerA, grant, CandidateKind.Touched, 10, key) with { EventId = "poison-1", Touched = new TouchedCandidate(at.AddSeconds(4), 11) });
        Assert.Equal(4, await ingest.ProcessAvailableAsync());

        Assert.Equal(new CandidateIngestCounts(3, 0, 0, 1, 0, 1), ingest.Counts);
        var alert = Assert.Single(_city.Alerts.All());
        Assert.Equal((0.72f, 9, at.AddSeconds(3)), (alert.Score, alert.Frames, alert.LastSeen));
        Assert.Equal(better, _city.Alerts.Crop(alert.Id));
        // The failed batch's crop file is gone, and so is the one the improvement replaced: one file, the better crop's.
        Assert.Single(Directory.GetFiles(_city.Alerts.EvidenceDirectory));
        using (var connection = _city.Database.Open())
        {
            Assert.Equal(3, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM scaleout_received"));
            Assert.Contains("no alert with key", connection.ExecuteScalar<string>("SELECT reason FROM scaleout_rejected"), StringComparison.Ordinal);
            connection.Execute("DROP TRIGGER refuse_poison");
        }

        await IngestUntilAsync(ingest, c => c.Accepted == 4);
        Assert.Equal(11, Assert.Single(_city.Alerts.All()).Frames);
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_malformed_message_is_terminated_and_recorded_and_the_next_good_one_still_lands()
    {
        var ingest = await OpenIngestAsync();
        var grant = await SignedGrantAsync(WorkerA, _camera);
        var js = new NatsJSContext(_nats);
        var noMember = Event(WorkerA, grant, CandidateKind.Raised, 10, Guid.NewGuid().ToString("N"));

        await js.PublishAsync(WorkerProtocol.CandidateSubject(WorkerA), "not an event"u8.ToArray(), opts: new NatsJSPubOpts { MsgId = "garbage-1" });
        await PublishAsync(noMember);
        await js.PublishAsync(WorkerProtocol.CandidateSubject(WorkerB), WorkerProtocol.ToJson(Raised(WorkerA, grant, Guid.NewGuid().ToString("N"), "x"u8.ToArray(), 0.6f, 10) with { EventId = "wrong-subject" }), opts: new NatsJSPubOpts { MsgId = "wrong-subject" });
        await PublishAsync(Raised(WorkerA, grant, Guid.NewGuid().ToString("N"), "good"u8.ToArray(), 0.6f, 10));
        await IngestUntilAsync(ingest, c => c.Malformed == 3 && c.Accepted == 1);

        Assert.Single(_city.Alerts.All());
        using var connection = _city.Database.Open();
        var reasons = connection.Query<string>("SELECT reason FROM scaleout_rejected ORDER BY stream_seq").ToList();
        Assert.Equal(3, reasons.Count);
        Assert.StartsWith("not a CandidateEvent", reasons[0], StringComparison.Ordinal);
        Assert.Contains("exactly its own member", reasons[1], StringComparison.Ordinal);
        Assert.Contains($"came on the subject {WorkerProtocol.CandidateSubject(WorkerB)}", reasons[2], StringComparison.Ordinal);
        Assert.Equal(0, await ingest.ProcessAvailableAsync());
        AssertLogVerifies();
    }

    private Task<CandidateIngest> OpenIngestAsync(string consumer = CandidateIngest.DefaultConsumer) =>
        CandidateIngest.OpenAsync(_nats, _city.Database, _city.Alerts, _crops, _city.Policy.GrantSigningPublicKey, _city.Audit, _city.Time, new CandidateIngestOptions
        {
            Consumer = consumer,
            AckWait = TimeSpan.FromSeconds(1),
            FetchWait = TimeSpan.FromSeconds(1),
            RetryDelay = TimeSpan.FromMilliseconds(200),
        });

    private async Task<SignedGrant> SignedGrantAsync(string worker, long camera)
    {
        var grant = await _city.Policy.RequireAsync(new PolicyRequest(WorkerRequests.WorkerActor(worker), ProcessingPurpose.Live, camera, [1]));
        return _city.Policy.Sign(grant, worker);
    }

    private CandidateEvent Event(string worker, SignedGrant grant, CandidateKind kind, ulong fence, string? alertKey = null) =>
        new(Guid.NewGuid().ToString("N"), kind, grant.Claims.CameraId!.Value, fence, worker, grant.ToString(), _city.Time.GetUtcNow(), alertKey);

    private CandidateEvent Raised(string worker, SignedGrant grant, string alertKey, byte[] crop, float score, ulong fence) =>
        Event(worker, grant, CandidateKind.Raised, fence, alertKey) with
        {
            Raised = new RaisedCandidate(
                1, _entry, score, 0.5f, new WireBox(0.1f, 0.1f, 0.2f, 0.2f), Seal(crop, alertKey), Guid.NewGuid(), 2, 0.8f,
                [new WireMatch(1, _entry, "P-1", score)], _city.Time.GetUtcNow(), 1),
        };

    private string Seal(byte[] crop, string alertKey) => Convert.ToBase64String(SealedBox.Seal(_crops.PublicKey, crop, CropSealing.AssociatedData(alertKey)));

    private async Task PublishAsync(CandidateEvent candidate) =>
        await new NatsJSContext(_nats).PublishAsync(
            WorkerProtocol.CandidateSubject(candidate.Worker), WorkerProtocol.ToJson(candidate), opts: new NatsJSPubOpts { MsgId = candidate.EventId });

    private void AssertLogVerifies()
    {
        var verification = AuditVerifier.VerifyDatabase(_city.Database.Path);
        Assert.True(verification.Ok, verification.Message);
    }

    private static async Task IngestUntilAsync(CandidateIngest ingest, Func<CandidateIngestCounts, bool> done)
    {
        for (var pass = 0; pass < 150 && !done(ingest.Counts); pass++)
        {
            if (await ingest.ProcessAvailableAsync() == 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }

        Assert.True(done(ingest.Counts), $"the ingest stopped at {ingest.Counts}");
    }
}
