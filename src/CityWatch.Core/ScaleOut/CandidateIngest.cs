using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Vision;
using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace CityWatch.ScaleOut;

/// <summary>Settings of the server's candidate ingest.</summary>
public sealed class CandidateIngestOptions
{
    /// <summary>The durable consumer's name.</summary>
    public string Consumer { get; set; } = CandidateIngest.DefaultConsumer;

    public TimeSpan AckWait { get; set; } = TimeSpan.FromSeconds(30);

    public int BatchSize { get; set; } = 256;

    public TimeSpan FetchWait { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How far in the future of the server's clock an event's <c>At</c> may be (the workers' clocks differ a little).</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Counts since the ingest was opened; <see cref="Refused"/> are events under a grant that does not cover them (terminated).</summary>
public sealed record CandidateIngestCounts(long Accepted, long Duplicates, long Stale, long Refused, long Malformed, long Failed);

/// <summary>
/// The server's side of the candidates from workers (<see cref="WorkerProtocol.CandidateStream"/>), in the shape of
/// <see cref="AuditIngest"/>: a durable pull consumer, ONE transaction per batch of what arrived (a savepoint per
/// message), then the acks. For each message: the event id
/// into <c>scaleout_received</c> (already there: nothing changes); the fencing token against <c>camera_fences</c>
/// (lower: dropped, recorded and its refusal logged); then the event is applied — Raised: the crop opened with the
/// server's crop key and sealed into the evidence vault, the alert created with the worker's alert key as its source
/// key; Improved / Touched: that alert updated; Faces: the statistics — with its audit record staged (Raised and
/// Improved, as the in-process analyser logs them). Before any of that the signed grant is verified: issued by this
/// server, for this worker and camera, live, valid at the event's <c>At</c>, and <c>At</c> not in the future beyond a
/// small skew. An event under a grant that does not hold, or that names an alert the worker did not raise, is refused:
/// recorded in <c>scaleout_rejected</c>, its refusal logged, terminated. A message that is not an event is recorded and
/// terminated.
/// </summary>
public sealed partial class CandidateIngest
{
    public const string DefaultConsumer = "citywatch-candidate-ingest";

    /// <summary>The action of a refused or stale candidate's record in the log (by <see cref="AuditIngest.Actor"/>).</summary>
    public const string RefusedAction = "scaleout.refused_candidate";

    private const string MsgIdHeader = "Nats-Msg-Id";

    private const string Name = "Candidate ingest";

    /// <summary>
    /// What a batch locks: the received events and fences in the audit ingest's order (the two ingests' batches take
    /// turns), then <c>alert_decisions</c>, as an improvement outside the ingest does (<see cref="AlertStore.LockOrder"/>).
    /// </summary>
    private static readonly string[] BatchTables = ["scaleout_received", "camera_fences", AlertStore.LockOrder[0]];

    private readonly INatsJSConsumer _consumer;
    private readonly CityWatchDatabase _database;
    private readonly AlertStore _alerts;
    private readonly CropSealing _crops;
    private readonly byte[] _grantKey;
    private readonly AuditTrail _audit;
    private readonly TimeProvider _time;
    private readonly CandidateIngestOptions _options;
    private readonly ILogger _logger;
    private long _accepted;
    private long _duplicates;
    private long _stale;
    private long _refused;
    private long _malformed;
    private long _failed;

    private CandidateIngest(
        INatsJSConsumer consumer, CityWatchDatabase database, AlertStore alerts, CropSealing crops, byte[] grantKey, AuditTrail audit, TimeProvider time, CandidateIngestOptions options, ILogger logger)
    {
        _consumer = consumer;
        _database = database;
        _alerts = alerts;
        _crops = crops;
        _grantKey = grantKey;
        _audit = audit;
        _time = time;
        _options = options;
        _logger = logger;
    }

    public CandidateIngestCounts Counts => new(
        Interlocked.Read(ref _accepted),
        Interlocked.Read(ref _duplicates),
        Interlocked.Read(ref _stale),
        Interlocked.Read(ref _refused),
        Interlocked.Read(ref _malformed),
        Interlocked.Read(ref _failed));

    /// <summary>
    /// Opens the ingest: the crop-sealing key (unwrapped here; a <see cref="System.Data.Common.DbException"/> while the
    /// database is busy, to be tried again), the candidate stream (file storage, created if no worker has yet) and the
    /// durable consumer.
    /// <paramref name="grantSigningPublicKey"/> is this server's (<c>PolicyEngine.GrantSigningPublicKey</c>): an
    /// event's grant must verify with it.
    /// </summary>
    public static async Task<CandidateIngest> OpenAsync(
        INatsConnection nats,
        CityWatchDatabase database,
        AlertStore alerts,
        CropSealing crops,
        byte[] grantSigningPublicKey,
        AuditTrail audit,
        TimeProvider time,
        CandidateIngestOptions? options = null,
        ILogger<CandidateIngest>? logger = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nats);
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(alerts);
        ArgumentNullException.ThrowIfNull(crops);
        ArgumentNullException.ThrowIfNull(grantSigningPublicKey);
        ArgumentNullException.ThrowIfNull(audit);
        ArgumentNullException.ThrowIfNull(time);
        options ??= new CandidateIngestOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Consumer);

        // The crop key is unwrapped now, before any event is taken: an event opens its crop inside its write
        // transaction, and a first unwrap there would wait for the log's write lock held by that very transaction.
        _ = crops.PublicKey;
        var js = new NatsJSContext(nats);
        await CandidatePublisher.EnsureStreamAsync(js, update: true, cancellationToken);
        var consumer = await js.CreateOrUpdateConsumerAsync(
            WorkerProtocol.CandidateStream,
            new ConsumerConfig(options.Consumer)
            {
                Description = "CityWatch server: candidates into alerts",
                AckPolicy = ConsumerConfigAckPolicy.Explicit,
                AckWait = options.AckWait,
                DeliverPolicy = ConsumerConfigDeliverPolicy.All,
                FilterSubject = WorkerProtocol.CandidateSubjectPrefix + ">",
                MaxDeliver = -1,
            },
            cancellationToken);
        return new CandidateIngest(consumer, database, alerts, crops, grantSigningPublicKey, audit, time, options, (ILogger?)logger ?? NullLogger.Instance);
    }

    /// <summary>Takes in candidates until cancelled (see <see cref="AuditIngest.RunAsync"/>).</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        PullIngest.RunAsync(_consumer, _options.BatchSize, _options.FetchWait, _options.RetryDelay, HandleAsync, _logger, Name, cancellationToken);

    /// <summary>Takes in the candidates available now (at most <paramref name="max"/>); returns how many it handled.</summary>
    public Task<int> ProcessAvailableAsync(int max = 256, CancellationToken cancellationToken = default) =>
        PullIngest.ProcessAvailableAsync(_consumer, max, HandleAsync, cancellationToken);

    // Record the batch, then ack (or terminate); a message the database could not take is left for redelivery after RetryDelay.
    private async Task HandleAsync(IReadOnlyList<INatsJSMsg<byte[]>> messages, CancellationToken cancellationToken) =>
        Interlocked.Add(ref _failed, await PullIngest.HandleBatchAsync(messages, RecordAll, _options.RetryDelay, _logger, Name, cancellationToken));

    /// <summary>
    /// Takes one message into the database in one transaction without acking it. A refused event counts as
    /// <see cref="CandidateIngestCounts.Refused"/> and returns <see cref="IngestOutcome.Malformed"/> (it is terminated).
    /// </summary>
    internal IngestOutcome Record(INatsJSMsg<byte[]> message) => RecordAll([message])[0];

    /// <summary>
    /// Takes messages into the database in ONE transaction, in their order, each inside a savepoint of its own: a
    /// refused event rolls back what it wrote (and deletes the crop file it placed), is recorded as refused, and the
    /// batch goes on. Counted, logged and its replaced crop files deleted once the batch has committed. Throws only when
    /// the database fails; then nothing of the batch is written, no crop file it placed is left, nothing is counted.
    /// On either engine (<see cref="CityWatchDatabase.Connect"/>; the savepoints are <see cref="DbTransaction.Save"/>):
    /// the batch checks and then writes (an event id not yet received, the fence, an alert not yet decided on), so it
    /// runs in <see cref="SqlDialect.BeginWrite"/> on <see cref="BatchTables"/>.
    /// </summary>
    internal IReadOnlyList<IngestOutcome> RecordAll(IReadOnlyList<INatsJSMsg<byte[]>> messages)
    {
        var outcomes = new IngestOutcome[messages.Count];
        var batch = new Batch();
        try
        {
            using var connection = _database.Connect();
            using var transaction = _database.Dialect.BeginWrite(connection, BatchTables);
            for (var i = 0; i < messages.Count; i++)
            {
                outcomes[i] = Record(connection, transaction, messages[i], batch);
            }

            transaction.Commit();
            batch.Placed.Clear();
        }
        finally
        {
            // Crop files of a batch that did not commit: nothing refers to them.
            batch.Placed.ForEach(File.Delete);
        }

        foreach (var replaced in batch.Replaced)
        {
            File.Delete(Path.Combine(_alerts.EvidenceDirectory, replaced));
        }

        batch.AfterCommit.ForEach(then => then());
        if (outcomes.Contains(IngestOutcome.Accepted))
        {
            _alerts.NotifyChanged();
        }

        return outcomes;
    }

    private IngestOutcome Record(DbConnection connection, DbTransaction transaction, INatsJSMsg<byte[]> message, Batch batch)
    {
        var sequence = message.Metadata is { } metadata ? (long?)metadata.Sequence.Stream : null;
        var msgId = message.Headers is { } headers && headers.TryGetValue(MsgIdHeader, out var values) ? values.ToString() : null;
        CandidateEvent candidate;
        try
        {
            candidate = WorkerProtocol.Parse<CandidateEvent>(message.Data ?? []);
            Check(candidate, message.Subject, msgId);
        }
        catch (MalformedWorkerMessageException e)
        {
            Reject(connection, transaction, message.Subject, sequence, msgId, e.Message, null);
            batch.AfterCommit.Add(() =>
            {
                Interlocked.Increment(ref _malformed);
                LogMalformed(_logger, sequence ?? 0, message.Subject, e.Message);
            });
            return IngestOutcome.Malformed;
        }

        var (outcome, refusal) = Take(connection, transaction, candidate, message.Subject, sequence, msgId, batch);
        batch.AfterCommit.Add(() =>
        {
            switch (outcome)
            {
                case IngestOutcome.Accepted:
                    Interlocked.Increment(ref _accepted);
                    break;
                case IngestOutcome.Duplicate:
                    Interlocked.Increment(ref _duplicates);
                    break;
                case IngestOutcome.Stale:
                    Interlocked.Increment(ref _stale);
                    break;
                case IngestOutcome.Malformed:
                    Interlocked.Increment(ref _refused);
                    LogRefused(_logger, candidate.EventId, candidate.CameraId, candidate.Worker, refusal ?? "refused");
                    break;
            }
        });
        return outcome;
    }

    // What the message must be before anything is looked up: its subject and id its own, exactly its kind's member set.
    private static void Check(CandidateEvent candidate, string subject, string? msgId)
    {
        if (!AuditEvent.WorkerPattern().IsMatch(candidate.Worker) || subject != WorkerProtocol.CandidateSubject(candidate.Worker))
        {
            throw new MalformedWorkerMessageException($"the candidate of worker '{candidate.Worker}' came on the subject {subject}");
        }

        if (string.IsNullOrWhiteSpace(candidate.EventId) || candidate.EventId.Length > 128 || msgId != candidate.EventId)
        {
            throw new MalformedWorkerMessageException($"the message id '{msgId}' is not the event id '{candidate.EventId}'");
        }

        if (candidate.FencingToken == 0 || candidate.FencingToken > long.MaxValue)
        {
            throw new MalformedWorkerMessageException($"fencing token {candidate.FencingToken} is not a lease revision");
        }

        var set = (candidate.Raised is not null ? 1 : 0) + (candidate.Improved is not null ? 1 : 0) + (candidate.Touched is not null ? 1 : 0) + (candidate.Faces is not null ? 1 : 0);
        var own = candidate.Kind switch
        {
            CandidateKind.Raised => candidate.Raised is not null,
            CandidateKind.Improved => candidate.Improved is not null,
            CandidateKind.Touched => candidate.Touched is not null,
            CandidateKind.Faces => candidate.Faces is not null,
            _ => false,
        };
        if (set != 1 || !own)
        {
            throw new MalformedWorkerMessageException($"a {candidate.Kind} candidate must carry exactly its own member");
        }

        if (candidate.Kind != CandidateKind.Faces && !Guid.TryParseExact(candidate.AlertKey, "N", out _))
        {
            throw new MalformedWorkerMessageException($"a {candidate.Kind} candidate needs an alert key (a GUID, \"N\" format)");
        }
    }

    private (IngestOutcome Outcome, string? Refusal) Take(
        DbConnection connection, DbTransaction transaction, CandidateEvent candidate, string subject, long? sequence, string? msgId, Batch batch)
    {
        const string Savepoint = "candidate";
        var now = _time.GetUtcNow();
        var camera = candidate.CameraId.ToString(CultureInfo.InvariantCulture);
        var fence = (long)candidate.FencingToken;
        if (connection.ExecuteScalar<long>("SELECT COUNT(*) FROM scaleout_received WHERE event_id = @EventId", new { candidate.EventId }, transaction) > 0)
        {
            return (IngestOutcome.Duplicate, null);
        }

        var grant = GrantRefusal(candidate, now, out var refusal);
        var highest = connection.ExecuteScalar<long?>("SELECT revision FROM camera_fences WHERE camera_id = @camera", new { camera }, transaction);
        if (grant is not null && highest is { } mark && fence < mark)
        {
            refusal = $"fencing token {fence} is below {mark} already accepted for camera {camera}";
            Received(connection, transaction, candidate, camera, fence, "stale", refusal, sequence, now);
            StageRefusal(connection, transaction, candidate, refusal);
            return (IngestOutcome.Stale, refusal);
        }

        string? placed = null;
        string? replaced = null;
        transaction.Save(Savepoint);
        if (grant is not null)
        {
            (refusal, placed, replaced) = Apply(connection, transaction, candidate, grant);
        }

        if (refusal is not null)
        {
            // What the event wrote goes; its refusal is recorded in its place.
            transaction.Rollback(Savepoint);
            transaction.Release(Savepoint);
            if (placed is not null)
            {
                File.Delete(placed);
            }

            Reject(connection, transaction, subject, sequence, msgId, refusal, candidate);
            return (IngestOutcome.Malformed, refusal);
        }

        transaction.Release(Savepoint);
        if (placed is not null)
        {
            batch.Placed.Add(placed);
        }

        if (replaced is not null)
        {
            batch.Replaced.Add(replaced);
        }

        Received(connection, transaction, candidate, camera, fence, "accepted", null, sequence, now);
        connection.Execute(
            """
            INSERT INTO camera_fences (camera_id, revision, updated_at) VALUES (@camera, @fence, @at)
            ON CONFLICT (camera_id) DO UPDATE SET revision = excluded.revision, updated_at = excluded.updated_at
            WHERE excluded.revision > camera_fences.revision
            """,
            new { camera, fence, at = Timestamps.Format(now) },
            transaction);
        return (IngestOutcome.Accepted, null);
    }

    // The grant the event was made under, verified as of the event's time, or null with the reason.
    private ProcessingGrant? GrantRefusal(CandidateEvent candidate, DateTimeOffset now, out string? refusal)
    {
        refusal = null;
        if (candidate.At > now + _options.ClockSkew)
        {
            refusal = $"the event's time {candidate.At:O} is ahead of the server's {now:O}";
            return null;
        }

        ProcessingGrant grant;
        try
        {
            grant = new GrantVerifier(_grantKey, candidate.Worker, new FixedTime(candidate.At)).Verify(candidate.Grant);
        }
        catch (Exception e) when (e is GrantVerificationException or GrantExpiredException)
        {
            refusal = "the grant does not hold at the event's time: " + e.Message;
            return null;
        }

        if (grant.Purpose != ProcessingPurpose.Live || grant.CameraId != candidate.CameraId)
        {
            refusal = $"grant {grant.Id} is not a live grant on camera {candidate.CameraId}";
            return null;
        }

        return grant;
    }

    // Applies the event; a refusal (nothing to apply it to, a crop that does not open) leaves the transaction to be rolled back.
    private (string? Refusal, string? Placed, string? Replaced) Apply(DbConnection connection, DbTransaction transaction, CandidateEvent candidate, ProcessingGrant grant)
    {
        switch (candidate.Kind)
        {
            case CandidateKind.Raised:
            {
                var raised = candidate.Raised!;
                if (!grant.Covers(raised.WatchlistId))
                {
                    return ($"grant {grant.Id} does not cover watchlist {raised.WatchlistId}", null, null);
                }

                var label = connection.ExecuteScalar<string?>(
                    "SELECT label FROM watchlist_entries WHERE id = @EntryId AND watchlist_id = @WatchlistId", new { raised.EntryId, raised.WatchlistId }, transaction);
                if (label is null)
                {
                    return ($"entry {raised.EntryId} is not in watchlist {raised.WatchlistId}", null, null);
                }

                if (FindAlert(connection, transaction, candidate) is not null)
                {
                    return ($"alert key {candidate.AlertKey} was raised already", null, null);
                }

                if (OpenCrop(raised.SealedCrop, candidate.AlertKey!) is not { } crop)
                {
                    return ("the crop does not open with the server's crop key for this alert key", null, null);
                }

                var id = _alerts.AddWithin(connection, transaction, new NewAlert(
                    candidate.CameraId, raised.WatchlistId, raised.EntryId, label, grant.LegalBasisId, grant.Id, candidate.At, raised.Score, raised.Threshold,
                    Box(raised.Box), crop, raised.TrackId, raised.Frames, raised.Quality, Matches(raised.TopCandidates))
                {
                    CapturedAt = raised.CapturedAt,
                    FusedFrames = raised.FusedFrames,
                    SourceKey = candidate.AlertKey,
                });
                _audit.Stage(connection, transaction, AlertRecord("candidate", id, candidate, grant, raised.WatchlistId, raised.EntryId, raised.Score, raised.Threshold, raised.TopCandidates.Count));
                return (null, null, null);
            }

            case CandidateKind.Improved:
            {
                var improved = candidate.Improved!;
                if (FindAlert(connection, transaction, candidate) is not { } alert)
                {
                    return ($"no alert with key {candidate.AlertKey} on camera {candidate.CameraId}", null, null);
                }

                if (OpenCrop(improved.SealedCrop, candidate.AlertKey!) is not { } crop)
                {
                    return ("the crop does not open with the server's crop key for this alert key", null, null);
                }

                var update = new AlertImprovement(Box: Box(improved.Box), Score: improved.Score, CropJpeg: crop, LastSeen: improved.LastSeen, Frames: improved.Frames, Quality: improved.Quality, TopCandidates: Matches(improved.TopCandidates), FusedFrames: improved.FusedFrames);
                if (_alerts.ImproveWithin(connection, transaction, alert.Id, update) is not { } done)
                {
                    AlertStore.Touch(connection, transaction, alert.Id, improved.LastSeen, improved.Frames);
                    return (null, null, null);
                }

                var best = improved.TopCandidates.Count > 0 ? improved.TopCandidates[0] : null;
                _audit.Stage(connection, transaction, AlertRecord("improved", alert.Id, candidate, grant, best?.WatchlistId ?? alert.WatchlistId, best?.EntryId ?? alert.EntryId, improved.Score, alert.Threshold, improved.TopCandidates.Count));
                return (null, done.Placed, done.Replaced);
            }

            case CandidateKind.Touched:
            {
                if (FindAlert(connection, transaction, candidate) is not { } alert)
                {
                    return ($"no alert with key {candidate.AlertKey} on camera {candidate.CameraId}", null, null);
                }

                AlertStore.Touch(connection, transaction, alert.Id, candidate.Touched!.LastSeen, candidate.Touched.Frames);
                return (null, null, null);
            }

            case CandidateKind.Faces:
            {
                var faces = candidate.Faces!;
                if (faces.LegalBasisId != grant.LegalBasisId || faces.Count < 0)
                {
                    return ($"faces counted under basis {faces.LegalBasisId}, not the grant's {grant.LegalBasisId}", null, null);
                }

                AlertStatistics.AddFaces(connection, transaction, faces.Since, candidate.CameraId, faces.LegalBasisId, faces.Count);
                return (null, null, null);
            }

            default:
                return ($"unknown kind {candidate.Kind}", null, null);
        }
    }

    private static (long Id, long WatchlistId, long EntryId, float Threshold)? FindAlert(DbConnection connection, DbTransaction transaction, CandidateEvent candidate) =>
        connection.QuerySingleOrDefault<(long, long, long, double)?>(
            "SELECT id, watchlist_id, entry_id, threshold FROM alerts WHERE source_key = @AlertKey AND camera_id = @CameraId",
            new { candidate.AlertKey, candidate.CameraId },
            transaction) is { } row ? (row.Item1, row.Item2, row.Item3, (float)row.Item4) : null;

    private byte[]? OpenCrop(string sealedCrop, string alertKey)
    {
        try
        {
            return _crops.Open(Convert.FromBase64String(sealedCrop), alertKey);
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            return null;
        }
    }

    private static FaceBox Box(WireBox box) => new(box.X, box.Y, box.Width, box.Height);

    private static List<MatchCandidate> Matches(IReadOnlyList<WireMatch> matches) => [.. matches.Select(m => new MatchCandidate(m.WatchlistId, m.EntryId, m.Label, m.Score))];

    // The record the in-process analyser writes for an alert (FrameAnalyzer.LogAsync), with where it came from.
    private static AuditRecord AlertRecord(string outcome, long alertId, CandidateEvent candidate, ProcessingGrant grant, long watchlist, long entry, float score, float threshold, int results) =>
        new(
            WorkerRequests.WorkerActor(candidate.Worker),
            AuditActions.Alert,
            outcome,
            grant.LegalBasisId,
            Parameters: new Dictionary<string, string>
            {
                ["alert"] = alertId.ToString(CultureInfo.InvariantCulture),
                ["camera"] = candidate.CameraId.ToString(CultureInfo.InvariantCulture),
                ["watchlist"] = watchlist.ToString(CultureInfo.InvariantCulture),
                ["entry"] = entry.ToString(CultureInfo.InvariantCulture),
                ["score"] = score.ToString("0.0000", CultureInfo.InvariantCulture),
                ["threshold"] = threshold.ToString("0.0000", CultureInfo.InvariantCulture),
                ["grant"] = grant.Id.ToString(),
                ["scaleout.worker"] = candidate.Worker,
                ["scaleout.fence"] = candidate.FencingToken.ToString(CultureInfo.InvariantCulture),
                ["scaleout.event"] = candidate.EventId,
            },
            ResultCount: results);

    private static void Received(DbConnection connection, DbTransaction transaction, CandidateEvent candidate, string camera, long fence, string outcome, string? reason, long? sequence, DateTimeOffset now) =>
        connection.Execute(
            """
            INSERT INTO scaleout_received (event_id, camera_id, worker, fence, outcome, reason, stream_seq, received_at)
            VALUES (@EventId, @camera, @Worker, @fence, @outcome, @reason, @sequence, @now)
            """,
            new { candidate.EventId, camera, candidate.Worker, fence, outcome, reason, sequence = sequence ?? 0, now = Timestamps.Format(now) },
            transaction);

    private void StageRefusal(DbConnection connection, DbTransaction transaction, CandidateEvent candidate, string reason) =>
        _audit.Stage(connection, transaction, new AuditRecord(
            AuditIngest.Actor,
            RefusedAction,
            "refused: " + (reason.Length > 900 ? reason[..900] : reason),
            Parameters: new Dictionary<string, string>
            {
                ["event"] = candidate.EventId,
                ["camera"] = candidate.CameraId.ToString(CultureInfo.InvariantCulture),
                ["worker"] = candidate.Worker,
                ["fence"] = candidate.FencingToken.ToString(CultureInfo.InvariantCulture),
                ["kind"] = candidate.Kind.ToString(),
            }));

    // Kept in scaleout_rejected (a refused event with its refusal logged, in the batch's transaction); then terminated.
    private void Reject(DbConnection connection, DbTransaction transaction, string subject, long? sequence, string? msgId, string reason, CandidateEvent? candidate)
    {
        var inserted = connection.Execute(
            """
            INSERT INTO scaleout_rejected (stream_seq, subject, msg_id, reason, received_at) VALUES (@sequence, @subject, @msgId, @reason, @now)
            ON CONFLICT DO NOTHING
            """,
            new { sequence, subject, msgId = msgId is { Length: > 256 } ? msgId[..256] : msgId, reason, now = Timestamps.Format(_time.GetUtcNow()) },
            transaction);
        if (candidate is not null && inserted == 1)
        {
            StageRefusal(connection, transaction, candidate, reason);
        }
    }

    // What a batch leaves to do once it has committed, and the crop files it placed (deleted if it does not commit).
    private sealed class Batch
    {
        public List<string> Placed { get; } = [];

        public List<string> Replaced { get; } = [];

        public List<Action> AfterCommit { get; } = [];
    }

    // A verifier's clock stopped at the event's time: the grant must have been valid when the worker acted.
    private sealed class FixedTime(DateTimeOffset at) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => at;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Candidate ingest: message {Sequence} on {Subject} terminated as malformed: {Reason}")]
    private static partial void LogMalformed(ILogger logger, long sequence, string subject, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Candidate ingest: event {EventId} of camera {CameraId} from {Worker} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string eventId, long cameraId, string worker, string reason);
}
