using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace CityWatch.Tests.Data;

/// <summary>
/// The server's audit ingest (<see cref="AuditIngest"/>, feature migration <c>scaleout</c>) on both engines: the same
/// tests, once on a SQLite file and once on a PostgreSQL database of a real server (<see cref="PostgresServer"/>), each
/// on an empty database opened with a KEK (the audit trail signs with a wrapped key) and migrated, with a real
/// nats-server per test. The messages are fetched from JetStream and taken in with <see cref="AuditIngest.RecordAll"/>
/// (no ack), so the same message can be taken in again as a redelivery would be.
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
    private async Task<IReadOnlyList<INatsJSMsg<byte[]>>> FetchAsync(bool redelivered = false)
    {
        var consumer = await new NatsJSContext(_nats).GetConsumerAsync(AuditPublisher.DefaultStream, AuditIngest.DefaultConsumer);
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var fetched = new List<INatsJSMsg<byte[]>>();
            await foreach (var message in consumer.FetchNoWaitAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 100 }))
            {
                fetched.Add(message);
            }

            if (fetched.Count > 0 && (!redelivered || fetched.All(m => m.Metadata?.NumDelivered > 1)))
            {
                return fetched;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        throw new InvalidOperationException("no message came within 5 s");
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
