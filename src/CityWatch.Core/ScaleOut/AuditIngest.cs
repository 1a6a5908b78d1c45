using System.Data.Common;
using System.Globalization;
using CityWatch.Audit;
using CityWatch.Data;
using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace CityWatch.ScaleOut;

/// <summary>Settings of the server's audit ingest.</summary>
public sealed class AuditIngestOptions
{
    /// <summary>The stream workers publish to.</summary>
    public string Stream { get; set; } = AuditPublisher.DefaultStream;

    /// <summary>The durable consumer's name: its position in the stream survives restarts of the server and of nats-server.</summary>
    public string Consumer { get; set; } = AuditIngest.DefaultConsumer;

    /// <summary>How long JetStream waits for an ack before it delivers a message again.</summary>
    public TimeSpan AckWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>At most this many messages per pull.</summary>
    public int BatchSize { get; set; } = 256;

    /// <summary>How long one pull of <see cref="AuditIngest.RunAsync"/> waits for messages.</summary>
    public TimeSpan FetchWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the loop waits after a failure (NATS down, the database busy) before it pulls again; also the delay of a redelivery after a failed message.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>What the ingest did with one message.</summary>
public enum IngestOutcome
{
    /// <summary>A new event: its record is staged for the log and the camera's fence is raised to its token.</summary>
    Accepted,

    /// <summary>An event id already taken in (a republish or a redelivery): nothing changed.</summary>
    Duplicate,

    /// <summary>A fencing token lower than one already accepted for the camera: dropped, recorded, and the refusal logged.</summary>
    Stale,

    /// <summary>Not a usable event: recorded in <c>scaleout_rejected</c> and terminated (never redelivered).</summary>
    Malformed,
}

/// <summary>Counts since the ingest was opened; <see cref="Failed"/> are messages left for redelivery because the database or the ack failed.</summary>
public sealed record AuditIngestCounts(long Accepted, long Duplicates, long Stale, long Malformed, long Failed);

/// <summary>
/// The server's side of the audit relay: a durable pull consumer on the events stream. The messages that arrived
/// while the last batch was being recorded are taken in with ONE transaction (a thousand lease moves at start
/// are a few commits, not a thousand), each in its order: its event id goes into <c>scaleout_received</c>
/// (<c>ON CONFLICT DO NOTHING</c>: an id already there writes no row, and the message changes nothing); its fencing token is checked against the highest accepted for
/// the camera in <c>camera_fences</c> (lower: the event is dropped, and the refusal is recorded and logged; equal or
/// higher: accepted, and the mark rises); its record is staged with <see cref="AuditTrail.Stage"/>. Only after the
/// commit are the messages acked, so a crash between the two leads to a redelivery, which the event-id table turns
/// into a no-op. A batch the database fails on is taken again message by message. A message that is not a usable event is recorded and terminated; no message stops the loop. A usable
/// event is one a worker may send (<see cref="WorkerAuditActions"/>): its record's actor is the worker itself and
/// its action a lease move; anything else a worker names is refused the same way.
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>, feature migration <c>scaleout</c>): the batch's transaction
/// is a <see cref="SqlDialect.BeginWrite"/> of <c>scaleout_received</c> and <c>camera_fences</c> (SQLite's
/// <c>BEGIN IMMEDIATE</c>; on PostgreSQL the batches of two servers on one database take turns), so the fence an event
/// is checked against is the highest accepted before it, and an event id is taken in once.
/// </para>
/// </summary>
public sealed partial class AuditIngest
{
    /// <summary>The durable consumer's name unless told otherwise.</summary>
    public const string DefaultConsumer = "citywatch-audit-ingest";

    /// <summary>The actor of the records the ingest itself logs (a stale event's refusal).</summary>
    public const string Actor = "scaleout-ingest";

    /// <summary>The action of a stale event's refusal in the log.</summary>
    public const string StaleEventAction = "scaleout.stale_event";

    private const string MsgIdHeader = "Nats-Msg-Id";

    private const string Name = "Audit ingest";

    private readonly INatsJSConsumer _consumer;
    private readonly CityWatchDatabase _database;
    private readonly AuditTrail _audit;
    private readonly TimeProvider _time;
    private readonly AuditIngestOptions _options;
    private readonly ILogger _logger;
    private long _accepted;
    private long _duplicates;
    private long _stale;
    private long _malformed;
    private long _failed;

    private AuditIngest(INatsJSConsumer consumer, CityWatchDatabase database, AuditTrail audit, TimeProvider time, AuditIngestOptions options, ILogger logger)
    {
        _consumer = consumer;
        _database = database;
        _audit = audit;
        _time = time;
        _options = options;
        _logger = logger;
    }

    /// <summary>What the ingest has done since it was opened.</summary>
    public AuditIngestCounts Counts => new(
        Interlocked.Read(ref _accepted),
        Interlocked.Read(ref _duplicates),
        Interlocked.Read(ref _stale),
        Interlocked.Read(ref _malformed),
        Interlocked.Read(ref _failed));

    /// <summary>
    /// Opens the ingest: creates the events stream if no worker has yet, and the durable consumer (explicit acks,
    /// every audit subject, from the first message, redelivered without limit until acked).
    /// </summary>
    public static async Task<AuditIngest> OpenAsync(
        INatsConnection nats,
        CityWatchDatabase database,
        AuditTrail audit,
        TimeProvider time,
        AuditIngestOptions? options = null,
        ILogger<AuditIngest>? logger = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nats);
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(audit);
        ArgumentNullException.ThrowIfNull(time);
        options ??= new AuditIngestOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.AckWait, TimeSpan.FromSeconds(1));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.FetchWait, TimeSpan.FromSeconds(1));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Consumer);

        var js = new NatsJSContext(nats);
        await AuditPublisher.EnsureStreamAsync(js, options.Stream, update: true, cancellationToken);
        var consumer = await js.CreateOrUpdateConsumerAsync(
            options.Stream,
            new ConsumerConfig(options.Consumer)
            {
                Description = "CityWatch server: audit events into the log",
                AckPolicy = ConsumerConfigAckPolicy.Explicit,
                AckWait = options.AckWait,
                DeliverPolicy = ConsumerConfigDeliverPolicy.All,
                FilterSubject = AuditPublisher.SubjectPrefix + ">",
                MaxDeliver = -1,
            },
            cancellationToken);
        return new AuditIngest(consumer, database, audit, time, options, (ILogger?)logger ?? NullLogger.Instance);
    }

    /// <summary>
    /// Takes in messages until <paramref name="cancellationToken"/> is cancelled: one pull after another, each
    /// waiting up to <see cref="AuditIngestOptions.FetchWait"/>. A failed pull (nats-server down or restarting)
    /// is logged and retried after <see cref="AuditIngestOptions.RetryDelay"/>; it never ends the loop.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        PullIngest.RunAsync(_consumer, _options.BatchSize, _options.FetchWait, _options.RetryDelay, HandleAsync, _logger, Name, cancellationToken);

    /// <summary>Takes in the messages available now (at most <paramref name="max"/>) without waiting for more; returns how many it handled.</summary>
    public Task<int> ProcessAvailableAsync(int max = 256, CancellationToken cancellationToken = default) =>
        PullIngest.ProcessAvailableAsync(_consumer, max, HandleAsync, cancellationToken);

    // Record the batch, then ack (or terminate); a message the database could not take is left for redelivery after RetryDelay.
    private async Task HandleAsync(IReadOnlyList<INatsJSMsg<byte[]>> messages, CancellationToken cancellationToken) =>
        Interlocked.Add(ref _failed, await PullIngest.HandleBatchAsync(messages, RecordAll, _options.RetryDelay, _logger, Name, cancellationToken));

    /// <summary>
    /// Takes one message into the database in one transaction and counts it, without acking it (what a server
    /// that dies before its ack has done). Throws only when the database fails; then nothing is written.
    /// </summary>
    internal IngestOutcome Record(INatsJSMsg<byte[]> message) => RecordAll([message])[0];

    /// <summary>
    /// Takes messages into the database in ONE transaction, in their order, and counts them once it has committed,
    /// without acking them. A duplicate within the batch is found as one across batches is (its event id went in
    /// earlier in the same transaction). Throws only when the database fails; then nothing of the batch is written
    /// and nothing is counted.
    /// </summary>
    internal IReadOnlyList<IngestOutcome> RecordAll(IReadOnlyList<INatsJSMsg<byte[]>> messages)
    {
        var outcomes = new IngestOutcome[messages.Count];
        var logs = new List<Action>();
        using (var connection = _database.Connect())
        using (var transaction = _database.Dialect.BeginWrite(connection, "scaleout_received", "camera_fences"))
        {
            for (var i = 0; i < messages.Count; i++)
            {
                outcomes[i] = Record(connection, transaction, messages[i], logs);
            }

            transaction.Commit();
        }

        Interlocked.Add(ref _accepted, outcomes.Count(o => o == IngestOutcome.Accepted));
        Interlocked.Add(ref _duplicates, outcomes.Count(o => o == IngestOutcome.Duplicate));
        Interlocked.Add(ref _stale, outcomes.Count(o => o == IngestOutcome.Stale));
        Interlocked.Add(ref _malformed, outcomes.Count(o => o == IngestOutcome.Malformed));

        logs.ForEach(log => log());
        return outcomes;
    }

    private IngestOutcome Record(DbConnection connection, DbTransaction transaction, INatsJSMsg<byte[]> message, List<Action> logs)
    {
        var sequence = message.Metadata is { } metadata ? (long?)metadata.Sequence.Stream : null;
        var msgId = message.Headers is { } headers && headers.TryGetValue(MsgIdHeader, out var values) ? values.ToString() : null;
        AuditEvent auditEvent;
        AuditRecord record;
        try
        {
            auditEvent = AuditEvent.Parse(message.Data ?? []);
            if (message.Subject != AuditPublisher.Subject(auditEvent.Worker))
            {
                throw new MalformedAuditEventException($"the event of worker '{auditEvent.Worker}' came on the subject {message.Subject}");
            }

            if (msgId != auditEvent.EventId)
            {
                throw new MalformedAuditEventException($"the message id '{msgId}' is not the event id '{auditEvent.EventId}'");
            }

            if (WorkerAuditActions.Problem(auditEvent) is { } refused)
            {
                throw new MalformedAuditEventException(refused);
            }

            record = WithProvenance(auditEvent);
            AuditRecordLimits.Check(record);
        }
        catch (Exception e) when (e is MalformedAuditEventException or InvalidRequestException)
        {
            Reject(connection, transaction, message.Subject, sequence, msgId, e.Message);
            logs.Add(() => LogMalformed(_logger, sequence ?? 0, message.Subject, e.Message));
            return IngestOutcome.Malformed;
        }

        var outcome = Take(connection, transaction, auditEvent, record, sequence ?? 0);
        if (outcome == IngestOutcome.Stale)
        {
            logs.Add(() => LogStale(_logger, auditEvent.EventId, auditEvent.CameraId, auditEvent.FencingToken, auditEvent.Worker));
        }

        return outcome;
    }

    private IngestOutcome Take(DbConnection connection, DbTransaction transaction, AuditEvent auditEvent, AuditRecord record, long sequence)
    {
        var now = Timestamps.Format(_time.GetUtcNow());
        var fence = (long)auditEvent.FencingToken;
        var highest = connection.ExecuteScalar<long?>("SELECT revision FROM camera_fences WHERE camera_id = @CameraId", new { auditEvent.CameraId }, transaction);
        var stale = highest is { } mark && fence < mark;
        var reason = stale ? $"fencing token {fence} is below {highest} already accepted for camera {auditEvent.CameraId}" : null;

        // The event id is the guard: a row already there (an earlier batch, or this one) makes this insert write
        // nothing, and then nothing else is written or staged.
        var taken = connection.Execute(
            """
            INSERT INTO scaleout_received (event_id, camera_id, worker, fence, outcome, reason, stream_seq, received_at)
            VALUES (@EventId, @CameraId, @Worker, @fence, @outcome, @reason, @sequence, @now)
            ON CONFLICT (event_id) DO NOTHING
            """,
            new { auditEvent.EventId, auditEvent.CameraId, auditEvent.Worker, fence, outcome = stale ? "stale" : "accepted", reason, sequence, now },
            transaction);
        if (taken == 0)
        {
            return IngestOutcome.Duplicate;
        }

        if (stale)
        {
            _audit.Stage(connection, transaction, new AuditRecord(
                Actor,
                StaleEventAction,
                "refused: " + reason,
                Parameters: new Dictionary<string, string>
                {
                    ["event"] = auditEvent.EventId,
                    ["camera"] = auditEvent.CameraId,
                    ["worker"] = auditEvent.Worker,
                    ["fence"] = fence.ToString(CultureInfo.InvariantCulture),
                    ["highest"] = highest!.Value.ToString(CultureInfo.InvariantCulture),
                    ["action"] = auditEvent.Record.Action,
                }));
        }
        else
        {
            connection.Execute(
                """
                INSERT INTO camera_fences (camera_id, revision, updated_at) VALUES (@CameraId, @fence, @now)
                ON CONFLICT (camera_id) DO UPDATE SET revision = excluded.revision, updated_at = excluded.updated_at
                WHERE excluded.revision > camera_fences.revision
                """,
                new { auditEvent.CameraId, fence, now },
                transaction);
            _audit.Stage(connection, transaction, record);
        }

        return stale ? IngestOutcome.Stale : IngestOutcome.Accepted;
    }

    private void Reject(DbConnection connection, DbTransaction transaction, string subject, long? sequence, string? msgId, string reason) =>
        connection.Execute(
            """
            INSERT INTO scaleout_rejected (stream_seq, subject, msg_id, reason, received_at) VALUES (@sequence, @subject, @msgId, @reason, @now)
            ON CONFLICT DO NOTHING
            """,
            new { sequence, subject, msgId = msgId is { Length: > 256 } ? msgId[..256] : msgId, reason, now = Timestamps.Format(_time.GetUtcNow()) },
            transaction);

    // The logged record says where it came from: the worker, the camera, the lease's token and the event id.
    private static AuditRecord WithProvenance(AuditEvent auditEvent)
    {
        var parameters = new Dictionary<string, string>(auditEvent.Record.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["scaleout.worker"] = auditEvent.Worker,
            ["scaleout.camera"] = auditEvent.CameraId,
            ["scaleout.fence"] = auditEvent.FencingToken.ToString(CultureInfo.InvariantCulture),
            ["scaleout.event"] = auditEvent.EventId,
        };
        return auditEvent.Record with { Parameters = parameters };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit ingest: message {Sequence} on {Subject} terminated as malformed: {Reason}")]
    private static partial void LogMalformed(ILogger logger, long sequence, string subject, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit ingest: event {EventId} of camera {CameraId} dropped: fencing token {Token} of {Worker} is stale")]
    private static partial void LogStale(ILogger logger, string eventId, string cameraId, ulong token, string worker);
}
