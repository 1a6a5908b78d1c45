using System.Data.Common;
using System.Globalization;
using CityWatch.Audit;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Investigations;

/// <summary>
/// The <c>analysis_jobs</c> table. Queuing a job and ending it (done, failed or cancelled) each commit
/// with their audit record in one transaction, so a job that failed is in the log like one that finished;
/// progress counts are written as the job runs and are not logged (the final record carries them).
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>), whole: the reads, the progress and cancellation
/// writes, and queuing and ending with their records staged in their transaction (<see cref="AuditTrail.Stage"/>).
/// Each state change is guarded in its statement (<c>WHERE state = 'queued' AND cancel_requested = FALSE</c>,
/// <c>WHERE state IN ('queued', 'running')</c>) and says by its row count whether it happened; the row writes are
/// <c>internal static</c> over the caller's <see cref="DbConnection"/>.
/// </para>
/// </summary>
public sealed class AnalysisJobStore(CityWatchDatabase database, AuditTrail audit, TimeProvider time)
{
    public async Task<AnalysisJob> CreateAsync(NewAnalysisJob job, long legalBasisId, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        StagedRecord staged;
        long id;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            id = Insert(connection, transaction, job, actor, time.GetUtcNow());
            staged = audit.Stage(
                connection,
                transaction,
                new AuditRecord(
                    actor,
                    AnalysisJobActions.Queued,
                    "queued",
                    legalBasisId,
                    job.CaseNumber,
                    new Dictionary<string, string>
                    {
                        ["job"] = Invariant(id),
                        ["watchlist"] = Invariant(job.WatchlistId),
                        ["source"] = job.Source,
                        ["fps"] = job.Fps.ToString(CultureInfo.InvariantCulture),
                    },
                    Commitments: [$"sha256:{job.Sha256}"]));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>A queued job's row, in the caller's transaction on either engine; returns its id. It logs nothing: <see cref="CreateAsync"/> does.</summary>
    internal static long Insert(DbConnection connection, DbTransaction transaction, NewAnalysisJob job, string actor, DateTimeOffset now) =>
        connection.ExecuteScalar<long>(
            """
            INSERT INTO analysis_jobs (case_number, watchlist_id, source, media_path, owns_media, sha256, fps, width, state, created_by, created_at)
            VALUES (@CaseNumber, @WatchlistId, @Source, @MediaPath, @OwnsMedia, @Sha256, @Fps, @Width, @state, @actor, @now) RETURNING id
            """,
            new { job.CaseNumber, job.WatchlistId, job.Source, job.MediaPath, job.OwnsMedia, job.Sha256, job.Fps, job.Width, state = Text(AnalysisJobState.Queued), actor, now = Timestamps.Format(now) },
            transaction);

    /// <summary>Queued to running; false if the job was cancelled (or ended) before it started.</summary>
    public bool Start(long id)
    {
        using var connection = database.Connect();
        return TryStart(connection, null, id, time.GetUtcNow());
    }

    /// <summary>Queued to running at <paramref name="now"/> (either engine), only a queued job not asked to stop; says whether it did.</summary>
    internal static bool TryStart(DbConnection connection, DbTransaction? transaction, long id, DateTimeOffset now) =>
        connection.Execute(
            "UPDATE analysis_jobs SET state = @running, started_at = @now WHERE id = @id AND state = @queued AND cancel_requested = FALSE",
            new { id, running = Text(AnalysisJobState.Running), queued = Text(AnalysisJobState.Queued), now = Timestamps.Format(now) },
            transaction) == 1;

    public void Report(long id, AnalysisProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        using var connection = database.Connect();
        connection.Execute(
            "UPDATE analysis_jobs SET frames_done = @FramesDone, frames_total = @FramesTotal, faces = @Faces, matches = @Matches, candidates = @Candidates WHERE id = @id AND state = @running",
            new { id, progress.FramesDone, progress.FramesTotal, progress.Faces, progress.Matches, progress.Candidates, running = Text(AnalysisJobState.Running) });
    }

    /// <summary>
    /// Ends a job that has not ended yet, with its final counts, and logs it in the same transaction
    /// (<see cref="AuditActions.Analysis"/>, outcome completed, failed or cancelled, with the reason).
    /// </summary>
    public async Task<AnalysisJob> FinishAsync(
        long id, AnalysisJobState state, string? reason, AnalysisProgress progress, long? legalBasisId, float threshold, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(progress);
        if (state is not (AnalysisJobState.Done or AnalysisJobState.Failed or AnalysisJobState.Cancelled))
        {
            throw new ArgumentOutOfRangeException(nameof(state), state, "A job ends done, failed or cancelled.");
        }

        var job = Get(id);
        StagedRecord? staged = null;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (TryFinish(connection, transaction, id, state, reason, progress, time.GetUtcNow()))
            {
                var parameters = new Dictionary<string, string>
                {
                    ["job"] = Invariant(id),
                    ["watchlist"] = Invariant(job.WatchlistId),
                    ["frames"] = Invariant(progress.FramesDone),
                    ["faces"] = Invariant(progress.Faces),
                    ["matches"] = Invariant(progress.Matches),
                    ["candidates"] = Invariant(progress.Candidates),
                    ["threshold"] = threshold.ToString("0.0000", CultureInfo.InvariantCulture),
                };
                if (reason is not null)
                {
                    parameters["reason"] = reason.Length > AuditRecordLimits.ParameterValue ? reason[..AuditRecordLimits.ParameterValue] : reason;
                }

                var sha = connection.ExecuteScalar<string>("SELECT sha256 FROM analysis_jobs WHERE id = @id", new { id }, transaction);
                staged = audit.Stage(
                    connection,
                    transaction,
                    new AuditRecord(job.CreatedBy, AuditActions.Analysis, Outcome(state), legalBasisId, job.CaseNumber, parameters, (int)Math.Min(int.MaxValue, progress.Candidates), [$"sha256:{sha}"]));
                transaction.Commit();
            }
        }

        if (staged is not null)
        {
            await audit.CommittedAsync(staged, cancellationToken);
        }

        return Get(id);
    }

    /// <summary>
    /// Ends a job not ended yet (queued or running) as <paramref name="state"/> with its final counts at <paramref name="now"/>,
    /// in the caller's transaction on either engine; false (nothing written) if it had ended. Its record: <see cref="FinishAsync"/>.
    /// </summary>
    internal static bool TryFinish(
        DbConnection connection, DbTransaction transaction, long id, AnalysisJobState state, string? reason, AnalysisProgress progress, DateTimeOffset now) =>
        connection.Execute(
            """
            UPDATE analysis_jobs SET state = @state, reason = @reason, frames_done = @FramesDone, frames_total = @total, faces = @Faces, matches = @Matches,
                candidates = @Candidates, ended_at = @now
            WHERE id = @id AND state IN (@queued, @running)
            """,
            new
            {
                id,
                state = Text(state),
                reason,
                progress.FramesDone,
                total = state == AnalysisJobState.Done ? progress.FramesDone : progress.FramesTotal,
                progress.Faces,
                progress.Matches,
                progress.Candidates,
                now = Timestamps.Format(now),
                queued = Text(AnalysisJobState.Queued),
                running = Text(AnalysisJobState.Running),
            },
            transaction) == 1;

    /// <summary>Asks a job to stop; a queued job never starts. Returns the job (unchanged if it had ended).</summary>
    public AnalysisJob RequestCancel(long id)
    {
        using (var connection = database.Connect())
        {
            connection.Execute(
                "UPDATE analysis_jobs SET cancel_requested = TRUE WHERE id = @id AND state IN (@queued, @running)",
                new { id, queued = Text(AnalysisJobState.Queued), running = Text(AnalysisJobState.Running) });
        }

        return Get(id);
    }

    public bool CancelRequested(long id)
    {
        using var connection = database.Connect();
        return connection.ExecuteScalar<bool>("SELECT cancel_requested FROM analysis_jobs WHERE id = @id", new { id });
    }

    /// <summary>The media a job decodes, and whether it is a temporary upload to delete when the job ends.</summary>
    public (string Path, bool Owned) MediaOf(long id)
    {
        using var connection = database.Connect();
        return connection.QuerySingleOrDefault<(string, bool)?>("SELECT media_path, owns_media FROM analysis_jobs WHERE id = @id", new { id })
            ?? throw new NotFoundException($"No analysis job {id}.");
    }

    public AnalysisJob Get(long id) => Query("WHERE id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No analysis job {id}.");

    /// <summary>Jobs, newest first.</summary>
    public IReadOnlyList<AnalysisJob> List(int limit = 100) => Query("ORDER BY id DESC LIMIT @limit", new { limit });

    /// <summary>Jobs queued or running, oldest first (after a restart: those the last process left).</summary>
    public IReadOnlyList<AnalysisJob> Unfinished() =>
        Query("WHERE state IN (@queued, @running) ORDER BY id", new { queued = Text(AnalysisJobState.Queued), running = Text(AnalysisJobState.Running) });

    private static string Outcome(AnalysisJobState state) => state switch
    {
        AnalysisJobState.Done => "completed",
        AnalysisJobState.Failed => "failed",
        AnalysisJobState.Cancelled => "cancelled",
        AnalysisJobState.Queued or AnalysisJobState.Running => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    private static string Text(AnalysisJobState state) => state.ToString().ToLowerInvariant();

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private List<AnalysisJob> Query(string where, object? parameters)
    {
        using var connection = database.Connect();
        return connection.Query<Row>($"SELECT * FROM analysis_jobs {where}", parameters).Select(r => r.ToModel()).ToList();
    }

    private sealed class Row
    {
        public long Id { get; set; }
        public string CaseNumber { get; set; } = "";
        public long WatchlistId { get; set; }
        public string Source { get; set; } = "";
        public double Fps { get; set; }
        public long Width { get; set; }
        public string State { get; set; } = "";
        public long FramesDone { get; set; }
        public long? FramesTotal { get; set; }
        public long Faces { get; set; }
        public long Matches { get; set; }
        public long Candidates { get; set; }
        public string? Reason { get; set; }
        public string CreatedBy { get; set; } = "";
        public string CreatedAt { get; set; } = "";
        public string? StartedAt { get; set; }
        public string? EndedAt { get; set; }

        public AnalysisJob ToModel() => new(
            Id, CaseNumber, WatchlistId, Source, Fps, (int)Width, Enum.Parse<AnalysisJobState>(State, ignoreCase: true), FramesDone, FramesTotal, Faces, Matches, Candidates,
            Reason, CreatedBy, Timestamps.Parse(CreatedAt), StartedAt is null ? null : Timestamps.Parse(StartedAt), EndedAt is null ? null : Timestamps.Parse(EndedAt));
    }
}
