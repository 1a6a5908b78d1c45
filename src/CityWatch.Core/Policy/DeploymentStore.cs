using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Matching;
using Dapper;

namespace CityWatch.Policy;

/// <summary>
/// Deployments: started on an authorised (or urgent) basis's cameras with approved watchlists, stopped by named
/// people; every act logged. On both engines (<see cref="CityWatchDatabase.Connect"/>): the reads, starting and
/// stopping with their records; the guarded row writes (<see cref="TryInsert"/>, <see cref="TryStop"/>) and
/// <see cref="StopOnCamera"/> run in the caller's transaction.
/// </summary>
public sealed class DeploymentStore(
    CityWatchDatabase database,
    LegalBasisStore legalBases,
    WatchlistStore watchlists,
    CameraScope scope,
    AuditTrail audit,
    TimeProvider time)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Starts a deployment. Refused (and logged) unless the basis is in force for live use now, every
    /// camera is in its scope, every watchlist in its scope and approved as it stands now.
    /// </summary>
    public async Task<Deployment> StartAsync(DeploymentInput input, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.CameraIds is not { Count: > 0 } || input.WatchlistIds is not { Count: > 0 })
        {
            throw new InvalidRequestException("A deployment names its 'cameraIds' and 'watchlistIds'.");
        }

        var basis = legalBases.Get(input.LegalBasisId);
        var now = time.GetUtcNow();
        if (basis.InForceUntil(now, ProcessingPurpose.Live) is null)
        {
            await legalBases.RefuseAsync(actor, basis.Id, "start deployment", $"legal basis {basis.Id} is {basis.Status}: not in force for live use", cancellationToken);
        }

        if (input.CameraIds.FirstOrDefault(c => !scope.Covers(basis, c)) is var outside and not 0)
        {
            await legalBases.RefuseAsync(actor, basis.Id, "start deployment", $"camera {outside} is outside the scope of legal basis {basis.Id}", cancellationToken);
        }

        var used = new List<DeploymentWatchlist>();
        foreach (var watchlistId in input.WatchlistIds.Distinct())
        {
            if (!basis.WatchlistIds.Contains(watchlistId))
            {
                await legalBases.RefuseAsync(actor, basis.Id, "start deployment", $"watchlist {watchlistId} is outside the scope of legal basis {basis.Id}", cancellationToken);
            }

            var watchlist = watchlists.Get(watchlistId);
            if (!watchlist.Approved)
            {
                await legalBases.RefuseAsync(
                    actor,
                    basis.Id,
                    "start deployment",
                    watchlist.ApprovedDigest is null
                        ? $"watchlist {watchlistId} has never been approved"
                        : $"watchlist {watchlistId} changed since its last approval; a second account must re-approve it",
                    cancellationToken);
            }

            used.Add(new DeploymentWatchlist(watchlistId, watchlist.ApprovedDigest!));
        }

        // The checks above read; this transaction writes, and within it the basis must still be in the state
        // that was checked, every watchlist still approved as it stands and every camera still in the basis's scope,
        // or nothing is started: a revocation, an enrolment or a camera moved to another site (the register's acts
        // lock `cameras` too) that lands between the checks and the start cannot leave a deployment running on it.
        long id;
        StagedRecord staged;
        var cameras = input.CameraIds.Distinct().ToList();
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginWrite(connection, "legal_bases", "watchlists", "watchlist_entries", "cameras"))
        {
            var inserted = TryInsert(connection, transaction, basis, cameras, used, actor, now);
            var changed = inserted is null
                ? $"legal basis {basis.Id} changed while the deployment was being started"
                : used.FirstOrDefault(w => !StillApproved(connection, transaction, w)) is { } list
                    ? $"watchlist {list.WatchlistId} changed while the deployment was being started; a second account must re-approve it"
                    : cameras.FirstOrDefault(c => !CameraScope.Covers(connection, transaction, basis, c)) is var moved and not 0
                        ? $"camera {moved} left the scope of legal basis {basis.Id} while the deployment was being started"
                        : null;
            if (changed is not null)
            {
                transaction.Rollback();
                await GovernanceLog.RefusalAsync(audit, actor, basis.Id, "start deployment", changed, cancellationToken);
                throw new ConflictException($"{changed}; nothing was started.");
            }

            id = inserted!.Value;
            staged = audit.Stage(connection, transaction, new AuditRecord(actor, GovernanceActions.DeploymentStart, "started", basis.Id, Parameters: new Dictionary<string, string>
            {
                ["deployment"] = Invariant(id),
                ["cameras"] = string.Join(",", cameras),
                ["watchlists"] = string.Join(",", used.Select(w => $"{w.WatchlistId}:{w.Digest}")),
            }));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>
    /// Stops a deployment at once. An overseer (authority, DPO) may stop any; anyone else only one they started.
    /// </summary>
    public async Task<Deployment> StopAsync(long id, string actor, bool isOverseer, string? reason, CancellationToken cancellationToken = default)
    {
        var deployment = Get(id);
        if (!deployment.Running)
        {
            throw new ConflictException($"Deployment {id} was already stopped.");
        }

        if (!isOverseer && deployment.StartedBy != actor)
        {
            await legalBases.RefuseAsync(actor, deployment.LegalBasisId, "stop deployment", $"deployment {id} was started by {deployment.StartedBy}; only they or an overseer may stop it", cancellationToken);
        }

        if (!await StopAsync(deployment, actor, reason ?? "stopped", cancellationToken))
        {
            throw new ConflictException($"Deployment {id} was already stopped.");
        }

        return Get(id);
    }

    /// <summary>Stops every running deployment of a basis (revoked, refused, lapsed); returns their ids.</summary>
    public async Task<IReadOnlyList<long>> StopForBasisAsync(long legalBasisId, string actor, string reason, CancellationToken cancellationToken = default)
    {
        var running = Running().Where(d => d.LegalBasisId == legalBasisId).ToList();
        foreach (var deployment in running)
        {
            await StopAsync(deployment, actor, reason, cancellationToken);
        }

        return running.Select(d => d.Id).ToList();
    }

    public Deployment Get(long id) =>
        Query("WHERE id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No deployment {id}.");

    public IReadOnlyList<Deployment> List() => Query("ORDER BY id", null);

    public IReadOnlyList<Deployment> Running() => Query("WHERE stopped_at IS NULL ORDER BY id", null);

    /// <summary>
    /// A deployment's row on <paramref name="basis"/>, in the caller's transaction on either engine, written only
    /// while the basis is still in the stored state that was checked (authorised, or urgent with its prerequisites
    /// recorded); its id, or null (nothing written) when the basis changed. Checks the watchlists and logs nothing:
    /// <see cref="StartAsync"/> does.
    /// </summary>
    internal static long? TryInsert(
        DbConnection connection, DbTransaction transaction, LegalBasis basis, IReadOnlyList<long> cameras, IReadOnlyList<DeploymentWatchlist> watchlists, string actor, DateTimeOffset now) =>
        connection.ExecuteScalar<long?>(
            """
            INSERT INTO deployments (legal_basis_id, camera_ids, watchlists, started_by, started_at)
            SELECT @basis, @cameras, @lists, @actor, @now
            WHERE EXISTS (SELECT 1 FROM legal_bases WHERE id = @basis AND state = @state)
            RETURNING id
            """,
            new
            {
                basis = basis.Id,
                state = StateOf(basis),
                cameras = JsonSerializer.Serialize(cameras),
                lists = JsonSerializer.Serialize(watchlists, Json),
                actor,
                now = Timestamps.Format(now),
            },
            transaction);

    /// <summary>Stops deployment <paramref name="id"/> in the caller's transaction on either engine, only while it runs; says whether it did.</summary>
    internal static bool TryStop(DbConnection connection, DbTransaction transaction, long id, string actor, string reason, DateTimeOffset now) =>
        connection.Execute(
            "UPDATE deployments SET stopped_by = @actor, stopped_at = @now, stop_reason = @reason WHERE id = @id AND stopped_at IS NULL",
            new { id, actor, reason, now = Timestamps.Format(now) },
            transaction) == 1;

    /// <summary>The running deployments that include <paramref name="cameraId"/>, in id order, as <paramref name="transaction"/> sees them (either engine).</summary>
    internal static IReadOnlyList<Deployment> RunningOn(DbConnection connection, DbTransaction? transaction, long cameraId) =>
        Read(connection, transaction, $"WHERE stopped_at IS NULL AND {SqlDialect.Of(connection).JsonArrayHas("camera_ids", "cameraId")} ORDER BY id", new { cameraId });

    // A compare-and-set: only a running deployment stops, and the stop and its record commit together; of two
    // concurrent stops one wins (true), the other changes and logs nothing (false).
    private async Task<bool> StopAsync(Deployment deployment, string actor, string reason, CancellationToken cancellationToken)
    {
        StagedRecord? staged;
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginWrite(connection))
        {
            staged = Stop(connection, transaction, deployment, actor, reason);
            if (staged is null)
            {
                return false;
            }

            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return true;
    }

    /// <summary>
    /// Stops, in the caller's transaction, every running deployment that includes <paramref name="cameraId"/>
    /// (the camera was repointed, moved, had its face-recognition flag changed or was deleted), each with its
    /// record. Recognition on the camera resumes only under a new deployment.
    /// </summary>
    internal IReadOnlyList<StagedRecord> StopOnCamera(DbConnection connection, DbTransaction transaction, long cameraId, string actor)
    {
        var running = RunningOn(connection, transaction, cameraId);
        var reason = $"stopped: camera {Invariant(cameraId)} changed";
        return running.Select(d => Stop(connection, transaction, d, actor, reason)).OfType<StagedRecord>().ToList();
    }

    // The stop and its record in the caller's transaction; null if it had been stopped meanwhile.
    private StagedRecord? Stop(DbConnection connection, DbTransaction transaction, Deployment deployment, string actor, string reason)
    {
        if (!TryStop(connection, transaction, deployment.Id, actor, reason, time.GetUtcNow()))
        {
            return null;
        }

        return audit.Stage(
            connection,
            transaction,
            new AuditRecord(actor, GovernanceActions.DeploymentStop, reason, deployment.LegalBasisId, Parameters: new Dictionary<string, string>
            {
                ["deployment"] = Invariant(deployment.Id),
                ["startedBy"] = deployment.StartedBy,
                ["startedAt"] = Timestamps.Format(deployment.StartedAt),
                ["watchlists"] = string.Join(",", deployment.Watchlists.Select(w => $"{w.WatchlistId}:{w.Digest}")),
            }));
    }

    // The stored state behind a basis in force for live use: authorised, or urgent with its prerequisites recorded.
    private static string StateOf(LegalBasis basis) => basis.Status == LegalBasisStatus.UrgentActive ? "PrerequisitesRecorded" : "Authorised";

    private static bool StillApproved(DbConnection connection, DbTransaction transaction, DeploymentWatchlist used) =>
        connection.ExecuteScalar<string?>("SELECT approved_digest FROM watchlists WHERE id = @id", new { id = used.WatchlistId }, transaction) == used.Digest
        && WatchlistStore.Digest(connection, transaction, used.WatchlistId).Hex == used.Digest;

    private List<Deployment> Query(string where, object? parameters)
    {
        using var connection = database.Connect();
        return Read(connection, null, where, parameters);
    }

    /// <summary>The deployments matching <paramref name="where"/> as <paramref name="transaction"/> sees them (either engine).</summary>
    internal static List<Deployment> Read(DbConnection connection, DbTransaction? transaction, string where, object? parameters) =>
        connection.Query<Row>($"SELECT * FROM deployments {where}", parameters, transaction).Select(r => r.ToModel()).ToList();

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed class Row
    {
        public long Id { get; set; }
        public long LegalBasisId { get; set; }
        public string CameraIds { get; set; } = "[]";
        public string Watchlists { get; set; } = "[]";
        public string StartedBy { get; set; } = "";
        public string StartedAt { get; set; } = "";
        public string? StoppedBy { get; set; }
        public string? StoppedAt { get; set; }
        public string? StopReason { get; set; }

        public Deployment ToModel() => new(
            Id,
            LegalBasisId,
            JsonSerializer.Deserialize<long[]>(CameraIds)!,
            JsonSerializer.Deserialize<DeploymentWatchlist[]>(Watchlists, Json)!,
            StartedBy,
            Timestamps.Parse(StartedAt),
            StoppedBy,
            StoppedAt is null ? null : Timestamps.Parse(StoppedAt),
            StopReason);
    }
}
