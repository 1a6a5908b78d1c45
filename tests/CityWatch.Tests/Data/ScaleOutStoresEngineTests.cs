using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace CityWatch.Tests.Data;

/// <summary>
/// The server's audit ingest (<see cref="AuditIngest"/>, feature migration <c>scaleout</c>) and candidate ingest
/// (<see cref="CandidateIngest"/>: alerts from workers, their crops sealed into the vault) on both engines: the same
/// tests, once on a SQLite file and once on a PostgreSQL database of a real server (<see cref="PostgresServer"/>), each
/// on an empty database opened with a KEK (the audit trail signs with a wrapped key) and migrated, with a real
/// nats-server per test. The messages are fetched from JetStream and taken in with <see cref="AuditIngest.RecordAll"/>
/// or <see cref="CandidateIngest.RecordAll"/> (no ack), so the same message can be taken in again as a redelivery would be.
/// </summary>
public abstract class ScaleOutStoresEngineTests : IAsyncLifetime
{
    private NatsServer _server = null!;
    private NatsConnection _nats = null!;

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 7, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    public async Task InitializeAsync()
    {
        _server = await NatsServer.StartAsync();
        _nats = new NatsConnection(new NatsOpts { Url = _server.Url });
        await _nats.ConnectAsync();
    }

    public async Task DisposeAsync()
    {
        await _nats.DisposeAsync();
        _server.Dispose();
    }

    [Fact]
    public async Task An_event_is_taken_in_once_and_a_duplicate_message_changes_nothing()
    {
        await using var relay = await RelayAsync();
        await relay.Publisher.PublishAsync(Event("e-1", "cam-1", 3, "first move"));
        var message = Assert.Single(await FetchAsync());

        // The same message twice in one batch: the second finds the row the first wrote in the same transaction.
        Assert.Equal([IngestOutcome.Accepted, IngestOutcome.Duplicate], relay.Ingest.RecordAll([message, message]));
        var taken = await relay.StateAsync();

        // Delivered again (a server that committed and died before its ack), alone and in a later batch.
        Assert.Equal(IngestOutcome.Duplicate, relay.Ingest.Record(message));
        Assert.Equal([IngestOutcome.Duplicate], relay.Ingest.RecordAll([message]));

        Assert.Equal(taken, await relay.StateAsync());
        Assert.Equal([("e-1", "cam-1", "worker-a", 3L, "accepted", (string?)null)], taken.Received);
        Assert.Equal([("cam-1", 3L)], taken.Fences);
        var logged = Assert.Single(taken.Logged, a => a.Outcome == "first move");
        Assert.Equal(("worker:worker-a", WorkerAuditActions.LeaseAcquired), (logged.Actor, logged.Action));
        using var body = System.Text.Json.JsonDocument.Parse(logged.Body);
        var parameters = body.RootElement.GetProperty("Parameters");
        Assert.Equal(("e-1", "cam-1", "3"), (parameters.GetProperty("scaleout.event").GetString(), parameters.GetProperty("scaleout.camera").GetString(), parameters.GetProperty("scaleout.fence").GetString()));
        Assert.Equal(new AuditIngestCounts(1, 3, 0, 0, 0), relay.Ingest.Counts);
    }

    [Fact]
    public async Task A_lower_fencing_token_is_stale_its_refusal_logged_once_and_the_mark_never_falls()
    {
        await using var relay = await RelayAsync();
        await relay.Publisher.PublishAsync(Event("e-1", "cam-1", 5, "taken at 5"));
        await relay.Publisher.PublishAsync(Event("e-2", "cam-1", 3, "taken at 3"));
        await relay.Publisher.PublishAsync(Event("e-3", "cam-1", 7, "taken at 7"));
        await relay.Publisher.PublishAsync(Event("e-4", "cam-2", 2, "other camera at 2"));
        var messages = await FetchAsync();

        Assert.Equal([IngestOutcome.Accepted, IngestOutcome.Stale, IngestOutcome.Accepted, IngestOutcome.Accepted], relay.Ingest.RecordAll(messages));
        var taken = await relay.StateAsync();
        Assert.Equal([IngestOutcome.Duplicate, IngestOutcome.Duplicate, IngestOutcome.Duplicate, IngestOutcome.Duplicate], relay.Ingest.RecordAll(messages));

        Assert.Equal(taken, await relay.StateAsync());
        Assert.Equal([("cam-1", 7L), ("cam-2", 2L)], taken.Fences);
        Assert.Equal(
            [("e-1", "accepted"), ("e-2", "stale"), ("e-3", "accepted"), ("e-4", "accepted")],
            taken.Received.Select(r => (r.EventId, r.Outcome)));
        Assert.Equal("fencing token 3 is below 5 already accepted for camera cam-1", taken.Received[1].Reason);
        var refusal = Assert.Single(taken.Logged, a => a.Action == AuditIngest.StaleEventAction);
        Assert.Equal((AuditIngest.Actor, "refused: fencing token 3 is below 5 already accepted for camera cam-1"), (refusal.Actor, refusal.Outcome));
        Assert.DoesNotContain(taken.Logged, a => a.Outcome == "taken at 3");
        Assert.Equal(["taken at 5", "taken at 7", "other camera at 2"], taken.Logged.Where(a => a.Action == WorkerAuditActions.LeaseAcquired).Select(a => a.Outcome));
        Assert.Equal(new AuditIngestCounts(3, 4, 1, 0, 0), relay.Ingest.Counts);
    }

    [Fact]
    public async Task A_message_that_is_not_an_event_is_kept_once_and_logs_nothing()
    {
        await using var relay = await RelayAsync();
        var js = new NatsJSContext(_nats);
        await js.PublishAsync(AuditPublisher.Subject("worker-a"), "not an event"u8.ToArray(), opts: new NatsJSPubOpts { MsgId = "garbage-1" });
        var forged = Event("e-9", "cam-1", 3, "forged") with { Record = new AuditRecord("admin", WorkerAuditActions.LeaseAcquired, "forged") };
        await js.PublishAsync(AuditPublisher.Subject("worker-a"), forged.ToJson(), opts: new NatsJSPubOpts { MsgId = forged.EventId });
        var messages = await FetchAsync();

        Assert.Equal([IngestOutcome.Malformed, IngestOutcome.Malformed], relay.Ingest.RecordAll(messages));
        var taken = await relay.StateAsync();
        Assert.Equal([IngestOutcome.Malformed, IngestOutcome.Malformed], relay.Ingest.RecordAll(messages));

        Assert.Equal(taken, await relay.StateAsync());
        Assert.Equal([("garbage-1", "citywatch.audit.worker-a"), ("e-9", "citywatch.audit.worker-a")], taken.Rejected);
        Assert.Empty(taken.Received);
        Assert.Empty(taken.Fences);
        Assert.DoesNotContain(taken.Logged, a => a.Outcome == "forged");
    }

    [Fact]
    public async Task Migrating_again_changes_nothing()
    {
        await using var relay = await RelayAsync();
        await relay.Publisher.PublishAsync(Event("e-1", "cam-1", 3, "first move"));
        relay.Ingest.RecordAll(await FetchAsync());
        var taken = await relay.StateAsync();
        var versions = relay.Database.SchemaVersions();

        relay.Database.Migrate(Time);

        Assert.Equal(versions, relay.Database.SchemaVersions());
        Assert.Equal(1, versions["scaleout"]);
        Assert.Equal(taken, await relay.StateAsync());
        Assert.Equal([IngestOutcome.Duplicate], relay.Ingest.RecordAll(await FetchAsync(redelivered: true)));
        Assert.Equal(taken, await relay.StateAsync());
    }

    [Fact]
    public async Task A_candidate_batch_with_one_refused_event_rolls_that_one_back_to_its_savepoint_and_keeps_the_others()
    {
        await using var city = await CityAsync();
        var grant = await city.SignedGrantAsync("worker-a");
        var key = Guid.NewGuid().ToString("N");
        var unknown = Guid.NewGuid().ToString("N");
        var at = Time.GetUtcNow();
        var crop = "a face"u8.ToArray();
        var better = "a better face"u8.ToArray();
        await city.PublishAsync(city.Event(grant, CandidateKind.Raised, key) with
        {
            Raised = new RaisedCandidate(
                1, city.Entry, 0.61f, 0.5f, new WireBox(0.1f, 0.1f, 0.2f, 0.2f), city.Seal(crop, key), Guid.NewGuid(), 2, 0.8f, [new WireMatch(city.WatchlistId, city.Entry, "P-1", 0.61f)], at, 1),
        });
        // Improved with a crop sealed for another alert key: refused after its alert was found.
        await city.PublishAsync(city.Event(grant, CandidateKind.Improved, key) with
        {
            Improved = new ImprovedCandidate(0.9f, new WireBox(0.2f, 0.2f, 0.1f, 0.1f), city.Seal(better, unknown), at.AddSeconds(1), 4, 0.9f, [], 2),
        });
        await city.PublishAsync(city.Event(grant, CandidateKind.Touched, unknown) with { Touched = new TouchedCandidate(at.AddSeconds(2), 7) });
        await city.PublishAsync(city.Event(grant, CandidateKind.Touched, key) with { Touched = new TouchedCandidate(at.AddSeconds(3), 9) });
        var messages = await FetchAsync(WorkerProtocol.CandidateStream, CandidateIngest.DefaultConsumer, count: 4);

        Assert.Equal([IngestOutcome.Accepted, IngestOutcome.Malformed, IngestOutcome.Malformed, IngestOutcome.Accepted], city.Ingest.RecordAll(messages));

        Assert.Equal(new CandidateIngestCounts(2, 0, 0, 2, 0, 0), city.Ingest.Counts);
        var alert = Assert.Single(city.Alerts.All());
        Assert.Equal((0.61f, 9, at.AddSeconds(3), city.Entry), (alert.Score, alert.Frames, alert.LastSeen, alert.EntryId));
        Assert.Equal(crop, city.Alerts.Crop(alert.Id));
        Assert.Single(Directory.GetFiles(city.Alerts.EvidenceDirectory));
        using (var connection = city.Database.Connect())
        {
            Assert.Equal(1, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_keys"));
            Assert.Equal(["accepted", "accepted"], connection.Query<string>("SELECT outcome FROM scaleout_received ORDER BY stream_seq"));
            var reasons = connection.Query<string>("SELECT reason FROM scaleout_rejected ORDER BY stream_seq").ToList();
            Assert.Equal(2, reasons.Count);
            Assert.Contains("does not open", reasons[0], StringComparison.Ordinal);
            Assert.Contains($"no alert with key {unknown}", reasons[1], StringComparison.Ordinal);
            Assert.Equal(key, connection.ExecuteScalar<string>("SELECT source_key FROM alerts WHERE id = @Id", new { alert.Id }));
        }

        await city.Audit.FlushAsync();
        Assert.Equal(["candidate"], city.Audit.Read(0, 10_000, AuditActions.Alert).Select(a => a.Outcome));
        Assert.Equal(2, city.Audit.Read(0, 10_000, CandidateIngest.RefusedAction).Count);
        // Taken in again (a redelivery): duplicates and refusals already recorded change nothing.
        Assert.Equal([IngestOutcome.Duplicate, IngestOutcome.Malformed, IngestOutcome.Malformed, IngestOutcome.Duplicate], city.Ingest.RecordAll(messages));
        Assert.Single(city.Alerts.All());
        await city.Audit.FlushAsync();
        Assert.Equal(2, city.Audit.Read(0, 10_000, CandidateIngest.RefusedAction).Count);
    }

    // What a worker may log: a lease move, under its own name, on the camera's lease at that token.
    private static AuditEvent Event(string id, string camera, ulong fence, string outcome) =>
        new(id, camera, fence, "worker-a", new AuditRecord(WorkerRequests.WorkerActor("worker-a"), WorkerAuditActions.LeaseAcquired, outcome));

    private async Task<Relay> RelayAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        var audit = new AuditTrail(database, Time);
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var ingest = await AuditIngest.OpenAsync(_nats, database, audit, Time, new AuditIngestOptions
        {
            AckWait = TimeSpan.FromSeconds(1),
            FetchWait = TimeSpan.FromSeconds(1),
            RetryDelay = TimeSpan.FromMilliseconds(200),
        });
        return new Relay(database, audit, publisher, ingest);
    }

    // Every message there is now, unacked; a redelivery comes only after the ack wait (1 s).
    private Task<IReadOnlyList<INatsJSMsg<byte[]>>> FetchAsync(bool redelivered = false) =>
        FetchAsync(AuditPublisher.DefaultStream, AuditIngest.DefaultConsumer, redelivered: redelivered);

    // Every message of the consumer there is now (at least count), unacked.
    private async Task<IReadOnlyList<INatsJSMsg<byte[]>>> FetchAsync(string stream, string consumerName, int count = 1, bool redelivered = false)
    {
        var consumer = await new NatsJSContext(_nats).GetConsumerAsync(stream, consumerName);
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var fetched = new List<INatsJSMsg<byte[]>>();
            await foreach (var message in consumer.FetchNoWaitAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 100 }))
            {
                fetched.Add(message);
            }

            if (fetched.Count >= count && (!redelivered || fetched.All(m => m.Metadata?.NumDelivered > 1)))
            {
                return fetched;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        throw new InvalidOperationException("no message came within 5 s");
    }

    // A city on this engine: the policy engine (grants under an authorised basis and a deployment of an approved
    // watchlist with one entry, both written as WatchlistStore's SQLite acts leave them), the alert store, the
    // crop-sealing key and the candidate ingest.
    private async Task<City> CityAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        var city = new City(database, Time, _nats);
        await city.StartAsync();
        return city;
    }

    private sealed class City(CityWatchDatabase database, FakeTimeProvider time, NatsConnection nats) : IAsyncDisposable
    {
        private readonly string _evidence = TestPaths.NewScratchDirectory();
        private PolicyEngine _policy = null!;
        private long _camera;

        public CityWatchDatabase Database { get; } = database;

        public AuditTrail Audit { get; } = new(database, time);

        public AlertStore Alerts { get; private set; } = null!;

        public CropSealing Crops { get; } = new(database);

        public CandidateIngest Ingest { get; private set; } = null!;

        public long WatchlistId { get; private set; }

        public long Entry { get; private set; }

        public async Task StartAsync()
        {
            var legalBases = new LegalBasisStore(Database, Audit, time);
            var cameras = new CameraStore(Database);
            var watchlists = new WatchlistStore(Database, time);
            Alerts = new AlertStore(Database, _evidence);
            var scope = new CameraScope(Database);
            var deployments = new DeploymentStore(Database, legalBases, watchlists, scope, Audit, time);
            var urgency = new UrgencyGuard(Database, legalBases, deployments, watchlists, Alerts, Audit);
            var cases = new CaseStore(Database, legalBases, scope, Audit, time);
            _policy = new PolicyEngine(legalBases, cameras, deployments, watchlists, scope, urgency, cases, Audit, Database, time);
            cameras.CreateSite(new SiteInput("S1", "Test square", 44.8, 20.4, "Test city"));
            _camera = cameras.Create(new CameraInput("C1", "S1", "Camera C1", "Test city", "test", "rtsp://127.0.0.1:8554/c1", true)).Id;
            WatchlistId = watchlists.Create(new WatchlistInput("sought", "test"), "curator").Id;
            using (var connection = Database.Connect())
            {
                Entry = connection.ExecuteScalar<long>(
                    """
                    INSERT INTO watchlist_entries (watchlist_id, label, category, image_source, enrolled_by, enrolled_at, approved_by, approved_at, model, template, template_hash, label_salt)
                    VALUES (@WatchlistId, 'P-1', 'wanted', 'synthetic', 'enroller', @now, 'approver', @now, 'faceres', @template, @hash, @salt) RETURNING id
                    """,
                    new { WatchlistId, now = Timestamps.Format(time.GetUtcNow()), template = Template, hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Template)), salt = new byte[] { 1 } });
                connection.Execute(
                    "UPDATE watchlists SET approved_digest = @digest, approved_by = 'approver', approved_at = @now WHERE id = @WatchlistId",
                    new { WatchlistId, digest = watchlists.Get(WatchlistId).CurrentDigest, now = Timestamps.Format(time.GetUtcNow()) });
            }

            var now = time.GetUtcNow();
            var basis = await legalBases.RegisterAsync(
                new LegalBasisDraft(
                    "Test basis", "Test Act s.1", "Test court", LegalObjective.VictimOrMissingPersonSearch, "test", [ProcessingPurpose.Live],
                    [_camera], [WatchlistId], now.AddMinutes(-1), now.AddDays(1)),
                "registrar");
            await legalBases.RecordPrerequisitesAsync(basis.Id, TestCity.SamplePrerequisites, "registrar");
            await legalBases.AuthoriseAsync(basis.Id, new AuthorityDecision("T-1"), "authority");
            await deployments.StartAsync(new DeploymentInput(basis.Id, [_camera], [WatchlistId]), "operator");
            Ingest = await CandidateIngest.OpenAsync(nats, Database, Alerts, Crops, _policy.GrantSigningPublicKey, Audit, time, new CandidateIngestOptions
            {
                AckWait = TimeSpan.FromSeconds(1),
                FetchWait = TimeSpan.FromSeconds(1),
                RetryDelay = TimeSpan.FromMilliseconds(200),
            });
        }

        public async Task<SignedGrant> SignedGrantAsync(string worker)
        {
            var grant = await _policy.RequireAsync(new PolicyRequest(WorkerRequests.WorkerActor(worker), ProcessingPurpose.Live, _camera, [WatchlistId]));
            return _policy.Sign(grant, worker);
        }

        public CandidateEvent Event(SignedGrant grant, CandidateKind kind, string alertKey) =>
            new(Guid.NewGuid().ToString("N"), kind, _camera, 10, "worker-a", grant.ToString(), time.GetUtcNow(), alertKey);

        public string Seal(byte[] crop, string alertKey) => Convert.ToBase64String(SealedBox.Seal(Crops.PublicKey, crop, CropSealing.AssociatedData(alertKey)));

        public async Task PublishAsync(CandidateEvent candidate) =>
            await new NatsJSContext(nats).PublishAsync(
                WorkerProtocol.CandidateSubject(candidate.Worker), WorkerProtocol.ToJson(candidate), opts: new NatsJSPubOpts { MsgId = candidate.EventId });

        public async ValueTask DisposeAsync()
        {
            Crops.Dispose();
            await Audit.DisposeAsync();
            Directory.Delete(_evidence, recursive: true);
        }

        private static readonly byte[] Template = [1, 2, 3, 4];
    }

    /// <summary>What the ingest has written: the taken events, the fences, the rejected messages and the log.</summary>
    private sealed record State(
        IReadOnlyList<(string EventId, string CameraId, string Worker, long Fence, string Outcome, string? Reason)> Received,
        IReadOnlyList<(string CameraId, long Revision)> Fences,
        IReadOnlyList<(string? MsgId, string Subject)> Rejected,
        IReadOnlyList<LoggedAct> Logged)
    {
        public bool Equals(State? other) =>
            other is not null && Received.SequenceEqual(other.Received) && Fences.SequenceEqual(other.Fences) && Rejected.SequenceEqual(other.Rejected) && Logged.SequenceEqual(other.Logged);

        public override int GetHashCode() => HashCode.Combine(Received.Count, Fences.Count, Rejected.Count, Logged.Count);
    }

    private sealed class Relay(CityWatchDatabase database, AuditTrail audit, AuditPublisher publisher, AuditIngest ingest) : IAsyncDisposable
    {
        public CityWatchDatabase Database { get; } = database;

        public AuditPublisher Publisher { get; } = publisher;

        public AuditIngest Ingest { get; } = ingest;

        public async Task<State> StateAsync()
        {
            await audit.FlushAsync();
            using var connection = Database.Connect();
            return new State(
                [.. connection.Query<(string, string, string, long, string, string?)>(
                    "SELECT event_id, camera_id, worker, fence, outcome, reason FROM scaleout_received ORDER BY stream_seq")],
                [.. connection.Query<(string, long)>("SELECT camera_id, revision FROM camera_fences ORDER BY camera_id")],
                [.. connection.Query<(string?, string)>("SELECT msg_id, subject FROM scaleout_rejected ORDER BY stream_seq")],
                [.. audit.Read(0, 10_000)]);
        }

        public ValueTask DisposeAsync() => audit.DisposeAsync();
    }
}

public sealed class ScaleOutStoresOnSqliteTests : ScaleOutStoresEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class ScaleOutStoresOnPostgresTests(PostgresFixture postgres) : ScaleOutStoresEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    [Fact]
    public async Task The_scaleout_tables_have_64_bit_tokens_and_sequences_and_an_identity_id()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);

        using var connection = database.Connect();
        var types = connection.Query<(string Table, string Column, string Type, string Identity)>(
            """
            SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns
            WHERE table_name IN ('scaleout_received', 'camera_fences', 'scaleout_rejected') AND column_name IN ('id', 'fence', 'stream_seq', 'revision')
            ORDER BY table_name, column_name
            """);
        Assert.Equal(
            [
                ("camera_fences", "revision", "bigint", "NO"),
                ("scaleout_received", "fence", "bigint", "NO"), ("scaleout_received", "stream_seq", "bigint", "NO"),
                ("scaleout_rejected", "id", "bigint", "YES"), ("scaleout_rejected", "stream_seq", "bigint", "NO"),
            ],
            types);
    }

    public void Dispose() => _databases.Dispose();
}
