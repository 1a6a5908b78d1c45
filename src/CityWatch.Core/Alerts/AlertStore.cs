using System.Data.Common;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Evidence;
using CityWatch.Matching;
using CityWatch.Vision;
using Dapper;

namespace CityWatch.Alerts;

/// <summary>
/// Alerts in SQLite, their face crops as files under the evidence folder, each crop sealed with its own
/// key (<see cref="EvidenceVault"/>). A crop is written to a temporary name and renamed into place inside
/// the transaction of its row (and of its key), so a crash leaves neither an alert without its crop nor a
/// stray crop of a face that produced no alert. A tracked alert is updated in place: <see cref="Touch"/>
/// moves its last-seen time and frame count on; <see cref="Improve"/> replaces score, box and crop
/// together (the new crop gets a new file name and key, the row points to it in the same transaction, and
/// the old file and key go only after the commit) until a verifier has decided on it: from then on its
/// evidence is frozen. <see cref="DeleteAsync"/> destroys keys, rows and files with its record (retention, urgency deletion).
/// After each committed change that a queue shows (added, improved, settled, decided on, deleted) it
/// completes <see cref="NextChange"/>, which the console's live queue awaits instead of polling.
/// <para>
/// Every act is on the shared code path (<see cref="CityWatchDatabase.Connect"/>, SQLite and PostgreSQL), its audit
/// record staged in its transaction. Storing, improving and deleting seal and destroy keys through the vault over the
/// act's connection and transaction. <see cref="Improve"/> checks that nobody has decided and then writes: it runs in
/// <see cref="SqlDialect.BeginWrite"/> on <c>alert_decisions</c> (as a decision does), so no decision commits between
/// its check and its write, and its UPDATE repeats the check. A deletion takes the crop key the row holds as it is
/// deleted (<c>DELETE ... RETURNING</c>), so an improvement that raced it leaves no key behind. Where an act locks
/// alert tables it names <c>alert_decisions</c> before <c>alerts</c> (see <see cref="LockOrder"/>).
/// </para>
/// </summary>
public sealed class AlertStore(CityWatchDatabase database, string evidenceDirectory, EvidenceVault? vault = null)
{
    public const string Candidate = "candidate";
    public const string Confirmed = "confirmed";
    public const string Rejected = "rejected";

    /// <summary>Sources of an alert: a camera, or a retrospective analysis job.</summary>
    public const string Live = "live";
    public const string Retrospective = "retrospective";

    /// <summary>
    /// The alert tables in the order every act that locks them names them (<see cref="SqlDialect.BeginWrite"/>): a
    /// decision and an improvement lock <c>alert_decisions</c> and then write <c>alerts</c>, so an act that locks both
    /// (the urgency destruction) takes <c>alert_decisions</c> first and cannot deadlock with them on PostgreSQL.
    /// </summary>
    internal static readonly string[] LockOrder = ["alert_decisions", "alerts"];

    public string EvidenceDirectory { get; } = Path.GetFullPath(evidenceDirectory);

    public EvidenceVault Vault { get; } = vault ?? EvidenceVault.For(database);

    private TaskCompletionSource _change = NewChange();

    /// <summary>
    /// Completes after the next committed change of any alert (not <see cref="Touch"/>: last-seen times
    /// alone). Take it before reading the alerts, then await it: a change between the two is not missed.
    /// </summary>
    public Task NextChange => Volatile.Read(ref _change).Task;

    /// <summary>Completes <see cref="NextChange"/>; called after the commit of whatever changed alerts.</summary>
    internal void NotifyChanged() => Interlocked.Exchange(ref _change, NewChange()).TrySetResult();

    private static TaskCompletionSource NewChange() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Alert Add(NewAlert alert) => Add(alert, null, null).Alert;

    /// <summary>
    /// Stores an alert with its sealed crop and, when <paramref name="audit"/> is given, stages the audit
    /// record <paramref name="record"/> makes of its id in the same transaction; the caller awaits
    /// <see cref="AuditTrail.CommittedAsync"/> with what is returned.
    /// </summary>
    public (Alert Alert, StagedRecord? Staged) Add(NewAlert alert, AuditTrail? audit, Func<long, AuditRecord>? record)
    {
        ArgumentNullException.ThrowIfNull(alert);
        long id;
        StagedRecord? staged;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            id = AddWithin(connection, transaction, alert);
            staged = audit is null || record is null ? null : audit.Stage(connection, transaction, record(id));
            transaction.Commit();
        }

        NotifyChanged();
        return (Get(id), staged);
    }

    /// <summary>
    /// Stores an alert with its sealed crop (its file placed), counted in the statistics, inside the caller's
    /// transaction; returns its id. The caller commits, then calls <see cref="NotifyChanged"/>.
    /// </summary>
    internal long AddWithin(DbConnection connection, DbTransaction transaction, NewAlert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        Directory.CreateDirectory(EvidenceDirectory);
        var temporary = Path.Combine(EvidenceDirectory, $".incoming-{Guid.NewGuid():N}.bin");
        try
        {
            var (keyId, sealedCrop) = Vault.Seal(alert.CropJpeg, connection, transaction, alert.At);
            File.WriteAllBytes(temporary, sealedCrop);
            var id = connection.ExecuteScalar<long>(
                """
                INSERT INTO alerts (camera_id, watchlist_id, entry_id, label, legal_basis_id, grant_id, at, score, threshold, box, crop_path, status, track_id, last_seen, frames, quality, top_candidates, crop_key,
                    source, analysis_job_id, media_from_ms, media_until_ms, captured_at, fused_frames, source_key)
                VALUES (@CameraId, @WatchlistId, @EntryId, @Label, @LegalBasisId, @grant, @at, @Score, @Threshold, @box, '', @status, @track, @at, @Frames, @Quality, @top, @keyId,
                    @source, @job, @fromMs, @untilMs, @capturedAt, @FusedFrames, @SourceKey) RETURNING id
                """,
                new
                {
                    alert.CameraId,
                    alert.WatchlistId,
                    alert.EntryId,
                    alert.Label,
                    alert.LegalBasisId,
                    grant = alert.GrantId.ToString(),
                    at = Timestamps.Format(alert.At),
                    alert.Score,
                    alert.Threshold,
                    box = JsonSerializer.Serialize(alert.Box),
                    status = Candidate,
                    track = alert.TrackId?.ToString("N"),
                    alert.Frames,
                    alert.Quality,
                    top = JsonSerializer.Serialize(alert.TopCandidates ?? []),
                    keyId,
                    source = alert.Retrospective is null ? Live : Retrospective,
                    job = alert.Retrospective?.JobId,
                    fromMs = (long?)alert.Retrospective?.From.TotalMilliseconds,
                    untilMs = (long?)alert.Retrospective?.Until.TotalMilliseconds,
                    capturedAt = alert.CapturedAt is { } captured ? Timestamps.Format(captured) : null,
                    alert.FusedFrames,
                    alert.SourceKey,
                },
                transaction);
            var cropName = $"alert-{id}.jpg.sealed";
            connection.Execute("UPDATE alerts SET crop_path = @cropName WHERE id = @id", new { cropName, id }, transaction);
            AlertStatistics.Count(connection, transaction, AlertStatistics.Raised, alert.At, alert.CameraId, alert.LegalBasisId);
            File.Move(temporary, Path.Combine(EvidenceDirectory, cropName), overwrite: true);
            return id;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Records that the person of alert <paramref name="id"/> was still seen: last-seen time and frame count never move back.</summary>
    public void Touch(long id, DateTimeOffset lastSeen, int frames)
    {
        using var connection = database.Connect();
        if (!Touch(connection, null, id, lastSeen, frames))
        {
            throw new NotFoundException($"No alert {id}.");
        }
    }

    /// <summary>Moves last seen and frames of alert <paramref name="id"/> forward in the caller's transaction; false if there is no such alert.</summary>
    internal static bool Touch(DbConnection connection, DbTransaction? transaction, long id, DateTimeOffset lastSeen, int frames) =>
        connection.Execute(
            $"UPDATE alerts SET {Forward} WHERE id = @id",
            new { id, seen = Timestamps.Format(lastSeen), frames },
            transaction) > 0;

    /// <summary>
    /// Replaces the score, box, quality, candidates and crop of alert <paramref name="id"/> with a better
    /// face, all or nothing. Once a verifier has decided on the alert (or it is settled), the evidence they
    /// saw is kept: only last seen and frames move on.
    /// </summary>
    public Alert Improve(long id, AlertImprovement update)
    {
        ArgumentNullException.ThrowIfNull(update);
        string? placed = null;
        try
        {
            using var connection = database.Connect();
            using var transaction = database.Dialect.BeginWrite(connection, "alert_decisions");
            if (ImproveWithin(connection, transaction, id, update) is not { } improved)
            {
                transaction.Rollback();
                Touch(id, update.LastSeen, update.Frames);
                return Get(id);
            }

            placed = improved.Placed;
            transaction.Commit();
            placed = null;
            NotifyChanged();
            File.Delete(Path.Combine(EvidenceDirectory, improved.Replaced));
            return Get(id);
        }
        finally
        {
            if (placed is not null)
            {
                File.Delete(placed); // the row still points at the old crop
            }
        }
    }

    /// <summary>
    /// Replaces the evidence of alert <paramref name="id"/> as <see cref="Improve"/> does, inside the caller's
    /// transaction, and returns the new crop's file (already in place: delete it if the transaction does not commit)
    /// and the replaced crop's file name (delete it once it has). Null, with nothing written, when the evidence is
    /// frozen (decided or settled); <see cref="NotFoundException"/> when there is no such alert. The caller's transaction
    /// locks <c>alert_decisions</c> (<see cref="LockOrder"/>) so that no decision lands between the check and the write;
    /// the UPDATE repeats the check and the crop version read, and a row it no longer finds so leaves nothing sealed.
    /// </summary>
    internal (string Placed, string Replaced)? ImproveWithin(DbConnection connection, DbTransaction transaction, long id, AlertImprovement update)
    {
        ArgumentNullException.ThrowIfNull(update);
        Directory.CreateDirectory(EvidenceDirectory);
        var temporary = Path.Combine(EvidenceDirectory, $".incoming-{Guid.NewGuid():N}.bin");
        try
        {
            var current = connection.QuerySingleOrDefault<CropRow>(
                "SELECT crop_path, crop_version, crop_key, status, (SELECT COUNT(*) FROM alert_decisions d WHERE d.alert_id = a.id) AS decisions FROM alerts a WHERE id = @id",
                new { id },
                transaction)
                ?? throw new NotFoundException($"No alert {id}.");
            if (current.Status != Candidate || current.Decisions > 0)
            {
                return null;
            }

            var (keyId, sealedCrop) = Vault.Seal(update.CropJpeg, connection, transaction, update.LastSeen);
            File.WriteAllBytes(temporary, sealedCrop);
            var version = current.CropVersion + 1;
            var cropName = FormattableString.Invariant($"alert-{id}-{version}.jpg.sealed");
            var updated = connection.Execute(
                $"""
                UPDATE alerts SET score = @Score, box = @box, crop_path = @cropName, crop_version = @version, crop_key = @keyId,
                    quality = COALESCE(@Quality, quality), top_candidates = COALESCE(@top, top_candidates), fused_frames = COALESCE(@FusedFrames, fused_frames),
                    {Forward}
                WHERE id = @id AND crop_version = @previous AND status = @candidate
                  AND NOT EXISTS (SELECT 1 FROM alert_decisions d WHERE d.alert_id = alerts.id)
                """,
                new
                {
                    id,
                    update.Score,
                    box = JsonSerializer.Serialize(update.Box),
                    cropName,
                    version,
                    keyId,
                    update.Quality,
                    top = update.TopCandidates is null ? null : JsonSerializer.Serialize(update.TopCandidates),
                    seen = Timestamps.Format(update.LastSeen),
                    frames = update.Frames,
                    update.FusedFrames,
                    previous = current.CropVersion,
                    candidate = Candidate,
                },
                transaction);
            if (updated == 0)
            {
                // Decided, settled, deleted or improved since the read: the new key goes again, the evidence stays.
                EvidenceVault.Destroy([keyId], connection, transaction);
                return null;
            }

            EvidenceVault.Destroy([current.CropKey], connection, transaction);
            var placed = Path.Combine(EvidenceDirectory, cropName);
            File.Move(temporary, placed, overwrite: true);
            return (placed, current.CropPath);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>A page of alerts, newest first; <paramref name="scope"/> limits them to some cameras (null: all).</summary>
    public Page<Alert> List(int offset, int limit, long? cameraId = null, IReadOnlySet<long>? scope = null, string? status = null)
    {
        if (offset < 0 || limit is < 1 or > CameraStore.MaxPageSize)
        {
            throw new InvalidRequestException($"offset must not be negative and limit must be between 1 and {CameraStore.MaxPageSize}.");
        }

        using var connection = database.Connect();
        var conditions = new List<string>();
        if (cameraId is not null)
        {
            conditions.Add("camera_id = @cameraId");
        }

        if (scope is not null)
        {
            // No cameras in scope: no alerts.
            conditions.Add(scope.Count == 0 ? "1 = 0" : database.Dialect.AnyOf("camera_id", "scope"));
        }

        if (status is not null)
        {
            conditions.Add("status = @status");
        }

        var filter = conditions.Count == 0 ? "" : "WHERE " + string.Join(" AND ", conditions);
        var parameters = new { cameraId, limit, offset, status, scope = scope?.Order().ToArray() };
        var total = connection.ExecuteScalar<int>($"SELECT COUNT(*) FROM alerts {filter}", parameters);
        var items = connection.Query<AlertRow>($"SELECT * FROM alerts {filter} ORDER BY id DESC LIMIT @limit OFFSET @offset", parameters)
            .Select(r => r.ToModel()).ToList();
        return new Page<Alert>(items, total, offset, limit);
    }

    /// <summary>Every stored alert (optionally of one status), oldest first: for retention and searches over evidence.</summary>
    public IReadOnlyList<Alert> All(string? status = null)
    {
        using var connection = database.Connect();
        return connection.Query<AlertRow>("SELECT * FROM alerts WHERE @status IS NULL OR status = @status ORDER BY id", new { status })
            .Select(r => r.ToModel()).AsList();
    }

    /// <summary>The candidates a retrospective analysis job stored, in the order found.</summary>
    public IReadOnlyList<Alert> ForJob(long jobId)
    {
        using var connection = database.Connect();
        return connection.Query<AlertRow>("SELECT * FROM alerts WHERE analysis_job_id = @jobId ORDER BY id", new { jobId }).Select(r => r.ToModel()).AsList();
    }

    public Alert Get(long id)
    {
        using var connection = database.Connect();
        return connection.QuerySingleOrDefault<AlertRow>("SELECT * FROM alerts WHERE id = @id", new { id })?.ToModel()
            ?? throw new NotFoundException($"No alert {id}.");
    }

    /// <summary>
    /// The face crop of an alert, decrypted, as JPEG. This releases the item's key: callers outside tests
    /// go through <see cref="EvidenceAccess"/>, which logs the release.
    /// </summary>
    public byte[] Crop(long id)
    {
        var (name, keyId) = CropLocation(id);
        var stored = File.ReadAllBytes(Path.Combine(EvidenceDirectory, name));
        return keyId.Length == 0 ? stored : Vault.Open(keyId, stored);
    }

    /// <summary>Where alert <paramref name="id"/>'s sealed crop lies, and the id of its key.</summary>
    public (string File, string KeyId) CropLocation(long id)
    {
        using var connection = database.Connect();
        var row = connection.QuerySingleOrDefault<(string CropPath, string CropKey)?>("SELECT crop_path, crop_key FROM alerts WHERE id = @id", new { id })
            ?? throw new NotFoundException($"No alert {id}.");
        return (row.CropPath, row.CropKey);
    }

    /// <summary>
    /// Deletes alerts for good: in one transaction their keys (crypto-shredding), decisions and rows, and the
    /// record that proves the deletion (<paramref name="record"/>, given the ids that existed, staged in the
    /// same transaction); then their crop files, then a WAL checkpoint so that no earlier copy of a key's page
    /// stays on disk (<see cref="CityWatchDatabase.Checkpoint"/>). A file that survives (a failed delete, a
    /// backup) can no longer be decrypted. Aggregate statistics stay. Returns the ids that existed, once the
    /// record is in the log.
    /// </summary>
    public async Task<IReadOnlyList<long>> DeleteAsync(
        IReadOnlyCollection<long> ids, AuditTrail audit, Func<IReadOnlyList<long>, AuditRecord> record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(audit);
        ArgumentNullException.ThrowIfNull(record);
        IReadOnlyList<long> deleted;
        IReadOnlyList<string> files;
        StagedRecord staged;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            (deleted, files) = DeleteWithin(connection, transaction, ids);
            staged = audit.Stage(connection, transaction, record(deleted));
            transaction.Commit();
        }

        NotifyChanged();
        DeleteFiles(files);
        Vault.EraseDestroyed();
        await audit.CommittedAsync(staged, cancellationToken);
        return deleted;
    }

    /// <summary>
    /// Deletes alerts' keys, decisions and rows in the caller's transaction; returns the ids that existed and
    /// the crop files to delete once it commits (<see cref="DeleteFiles"/>). The key destroyed is the one the row
    /// held as it was deleted (<c>DELETE ... RETURNING</c>, which both engines take), not one read before: an
    /// improvement that replaced the crop meanwhile leaves no key of this alert behind.
    /// </summary>
    internal (IReadOnlyList<long> Deleted, IReadOnlyList<string> Files) DeleteWithin(DbConnection connection, DbTransaction transaction, IEnumerable<long> ids)
    {
        var files = new List<string>();
        var deleted = new List<long>();
        foreach (var id in ids)
        {
            connection.Execute("DELETE FROM alert_decisions WHERE alert_id = @id", new { id }, transaction);
            connection.Execute("DELETE FROM alert_decision_refusals WHERE alert_id = @id", new { id }, transaction);
            var row = connection.QuerySingleOrDefault<(string CropPath, string CropKey)?>(
                "DELETE FROM alerts WHERE id = @id RETURNING crop_path, crop_key", new { id }, transaction);
            if (row is not { } found)
            {
                continue;
            }

            EvidenceVault.Destroy([found.CropKey], connection, transaction);
            files.Add(Path.Combine(EvidenceDirectory, found.CropPath));
            deleted.Add(id);
        }

        return (deleted, files);
    }

    /// <summary>Deletes the crop files of alerts whose rows are gone (after the deleting transaction committed).</summary>
    internal static void DeleteFiles(IEnumerable<string> files)
    {
        foreach (var file in files)
        {
            File.Delete(file);
        }
    }

    /// <summary>Sets the final status of a candidate, in the caller's transaction; false if it was no longer a candidate.</summary>
    internal static bool Settle(DbConnection connection, DbTransaction transaction, long id, string status, DateTimeOffset now) =>
        connection.Execute(
            "UPDATE alerts SET status = @status, settled_at = @now WHERE id = @id AND status = @candidate",
            new { id, status, now = Timestamps.Format(now), candidate = Candidate },
            transaction) == 1;

    internal static Alert? Find(DbConnection connection, DbTransaction transaction, long id) =>
        connection.QuerySingleOrDefault<AlertRow>("SELECT * FROM alerts WHERE id = @id", new { id }, transaction)?.ToModel();

    // Last seen and frames never move back: the larger of stored and given, in a form both engines take
    // (SQLite's scalar MAX(a, b) is PostgreSQL's GREATEST). Times are ISO 8601 UTC text, which sorts as time.
    private const string Forward =
        "last_seen = CASE WHEN last_seen > @seen THEN last_seen ELSE @seen END, frames = CASE WHEN frames > @frames THEN frames ELSE @frames END";

    private sealed class CropRow
    {
        public string CropPath { get; set; } = "";
        public long CropVersion { get; set; }
        public string CropKey { get; set; } = "";
        public string Status { get; set; } = "";
        public long Decisions { get; set; }
    }

    private sealed class AlertRow
    {
        public long Id { get; set; }
        public long? CameraId { get; set; }
        public long WatchlistId { get; set; }
        public long EntryId { get; set; }
        public string Label { get; set; } = "";
        public long LegalBasisId { get; set; }
        public string GrantId { get; set; } = "";
        public string At { get; set; } = "";
        public double Score { get; set; }
        public double Threshold { get; set; }
        public string Box { get; set; } = "{}";
        public string CropPath { get; set; } = "";
        public string Status { get; set; } = "";
        public string? TrackId { get; set; }
        public string LastSeen { get; set; } = "";
        public long Frames { get; set; }
        public double? Quality { get; set; }
        public string TopCandidates { get; set; } = "[]";
        public string? SettledAt { get; set; }
        public string Source { get; set; } = Live;
        public long? AnalysisJobId { get; set; }
        public long? MediaFromMs { get; set; }
        public long? MediaUntilMs { get; set; }
        public string? CapturedAt { get; set; }
        public long? FusedFrames { get; set; }

        public Alert ToModel() => new(
            Id, CameraId, WatchlistId, EntryId, Label, LegalBasisId, GrantId, Timestamps.Parse(At), (float)Score, (float)Threshold,
            JsonSerializer.Deserialize<FaceBox>(Box)!, Status, TrackId, Timestamps.Parse(LastSeen), (int)Frames,
            Quality is { } q ? (float)q : null,
            JsonSerializer.Deserialize<List<MatchCandidate>>(TopCandidates) ?? [],
            SettledAt is null ? null : Timestamps.Parse(SettledAt))
        {
            Source = Source,
            AnalysisJobId = AnalysisJobId,
            MediaFrom = MediaFromMs is { } from ? TimeSpan.FromMilliseconds(from) : null,
            MediaUntil = MediaUntilMs is { } until ? TimeSpan.FromMilliseconds(until) : null,
            CapturedAt = CapturedAt is null ? null : Timestamps.Parse(CapturedAt),
            FusedFrames = FusedFrames is { } fused ? (int)fused : null,
        };
    }
}
