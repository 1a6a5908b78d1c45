using System.Data.Common;
using System.Globalization;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Policy;

/// <summary>
/// The governed writes of the camera register. Every creation, change, deletion and import is recorded
/// (<see cref="AuditActions.CameraChange"/>, with the old and new site and face-recognition flag and a
/// hash of the stream, never its URL) in the same transaction as the write. A change to what recognition
/// depends on (the stream, the site, the face-recognition flag) or a deletion also stops, in that
/// transaction, every running deployment that includes the camera: a camera repointed inside a
/// deployment is not the camera the deployment was approved for, so recognition on it resumes only under
/// a new deployment.
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>): every act runs in a <see cref="SqlDialect.BeginWrite"/>
/// of <c>cameras</c> and <c>deployments</c> (SQLite's <c>BEGIN IMMEDIATE</c>; on PostgreSQL no other register act,
/// and no deployment start, commits between what the act reads and what it writes), so the camera as it was, which
/// the record names and whose stored credentials a stripped URL keeps, is the stored one, and a deployment started
/// on the camera before the change is stopped by it. Stream credentials are sealed in that transaction through the
/// key ring (<see cref="StreamCredentials"/>; on PostgreSQL the database is opened with its KEK): the key is created
/// there on first use, or its unwrap recorded there. What the acts write through other stores is on the same path
/// (<see cref="CameraStore"/>'s row writes, <see cref="DeploymentStore.StopOnCamera"/>).
/// </para>
/// </summary>
public sealed class CameraRegister(CityWatchDatabase database, DeploymentStore deployments, AuditTrail audit)
{
    public async Task<Camera> CreateAsync(CameraInput input, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (camera, staged) = Write<Camera>(connection =>
        {
            var created = CameraStore.Insert(connection.Connection, connection.Transaction, Sealed(connection, input));
            return (created, [Stage(connection, actor, "created", null, created)]);
        });
        await WaitAsync(staged, cancellationToken);
        return camera;
    }

    public async Task<Camera> UpdateAsync(long id, CameraInput input, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (camera, staged) = Write(connection =>
        {
            var change = CameraStore.Replace(connection.Connection, connection.Transaction, id, Sealed(connection, input));
            return (change.After, Changed(connection, actor, change));
        });
        await WaitAsync(staged, cancellationToken);
        return camera;
    }

    public async Task DeleteAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var (_, staged) = Write(connection =>
        {
            var deleted = CameraStore.Remove(connection.Connection, connection.Transaction, id);
            var records = new List<StagedRecord> { Stage(connection, actor, "deleted", deleted, null) };
            records.AddRange(deployments.StopOnCamera(connection.Connection, connection.Transaction, id, actor));
            return (deleted, records);
        });
        await WaitAsync(staged, cancellationToken);
    }

    /// <summary>All or nothing: sites and cameras, one record for the import and one per existing camera it changed.</summary>
    public async Task<ImportResult> ImportAsync(IReadOnlyList<SiteInput> sites, IReadOnlyList<CameraInput> cameras, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sites);
        ArgumentNullException.ThrowIfNull(cameras);
        var (result, staged) = Write(connection =>
        {
            var (imported, updated) = CameraStore.Import(connection.Connection, connection.Transaction, sites, cameras.Select(c => Sealed(connection, c)).ToList());
            var records = new List<StagedRecord>
            {
                audit.Stage(connection.Connection, connection.Transaction, new AuditRecord(actor, AuditActions.CameraChange, "imported", Parameters: new Dictionary<string, string>
                {
                    ["sites"] = Invariant(imported.Sites),
                    ["camerasAdded"] = Invariant(imported.CamerasAdded),
                    ["camerasUpdated"] = Invariant(imported.CamerasUpdated),
                })),
            };
            foreach (var change in updated)
            {
                records.AddRange(Changed(connection, actor, change));
            }

            return (imported, records);
        });
        await WaitAsync(staged, cancellationToken);
        return result;
    }

    /// <summary>
    /// Seals the stream credentials an older version stored in clear, in one transaction with their
    /// <c>key.migrate</c> record (a <see cref="SqlDialect.BeginWrite"/> of <c>cameras</c>, so of two servers starting
    /// at once on PostgreSQL the second finds them sealed). Then, on SQLite, checkpoints and vacuums the clear bytes
    /// away; on PostgreSQL it vacuums <c>cameras</c>, which frees the old row versions for reuse but overwrites
    /// nothing (PostgreSQL's secure deletion is not settled: docs/scale-out.md). Run at start; returns how many.
    /// </summary>
    public async Task<int> SealClearCredentialsAsync(CancellationToken cancellationToken = default)
    {
        using var connection = database.Connect();
        StagedRecord staged;
        int count;
        using (var transaction = database.Dialect.BeginWrite(connection, "cameras"))
        {
            var clear = StreamUrls(connection, transaction)
                .Where(r => StreamCredentials.UserInfo(r.Url) is { Length: > 0 } && !StreamCredentials.IsSealed(r.Url)).ToList();
            if (clear.Count == 0)
            {
                return 0;
            }

            foreach (var (id, url) in clear)
            {
                SetStreamUrl(connection, transaction, id, StreamCredentials.Seal(database, connection, transaction, url));
            }

            staged = audit.Stage(connection, transaction, new AuditRecord(
                "system:keys",
                AuditActions.KeyMigrate,
                "ok",
                Parameters: new Dictionary<string, string> { ["key"] = Data.KeyRing.StreamCredentials, ["reason"] = "stream credentials stored in clear by an older version sealed" },
                ResultCount: clear.Count));
            transaction.Commit();
            count = clear.Count;
        }

        await audit.CommittedAsync(staged, cancellationToken);
        connection.Execute(database.Dialect.IsPostgres ? "VACUUM cameras" : "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
        return count;
    }

    /// <summary>Every camera's stream URL where it has one, as <paramref name="transaction"/> sees it (either engine).</summary>
    internal static IReadOnlyList<(long Id, string Url)> StreamUrls(DbConnection connection, DbTransaction? transaction) =>
        connection.Query<(long Id, string Url)>("SELECT id, stream_url FROM cameras WHERE stream_url IS NOT NULL", transaction: transaction).ToList();

    /// <summary>Replaces camera <paramref name="id"/>'s stream URL in the caller's transaction (either engine); false if there is no such camera.</summary>
    internal static bool SetStreamUrl(DbConnection connection, DbTransaction transaction, long id, string? url) =>
        connection.Execute("UPDATE cameras SET stream_url = @url WHERE id = @id", new { id, url }, transaction) == 1;

    private CameraInput Sealed(Open connection, CameraInput input) =>
        input with { StreamUrl = StreamCredentials.Seal(database, connection.Connection, connection.Transaction, input.StreamUrl) };

    private List<StagedRecord> Changed(Open connection, string actor, CameraChange change)
    {
        var records = new List<StagedRecord> { Stage(connection, actor, change.Governed ? "changed" : "edited", change.Before, change.After) };
        if (change.Governed)
        {
            records.AddRange(deployments.StopOnCamera(connection.Connection, connection.Transaction, change.After.Id, actor));
        }

        return records;
    }

    // What the log shows of a camera write: which camera, its site, face-recognition flag and stream hash
    // before and after, and whether the credentials changed; never the URL or the credentials.
    private StagedRecord Stage(Open connection, string actor, string outcome, Camera? before, Camera? after)
    {
        var camera = (after ?? before)!;
        var parameters = new Dictionary<string, string>
        {
            ["camera"] = Invariant(camera.Id),
            ["code"] = camera.Code,
            ["oldSite"] = before is null ? "" : Invariant(before.SiteId),
            ["newSite"] = after is null ? "" : Invariant(after.SiteId),
            ["oldStream"] = before is null ? "" : StreamCredentials.Fingerprint(before.StreamUrl),
            ["newStream"] = after is null ? "" : StreamCredentials.Fingerprint(after.StreamUrl),
            ["oldFaceRecognition"] = before is null ? "" : Flag(before.FaceRecognitionAllowed),
            ["newFaceRecognition"] = after is null ? "" : Flag(after.FaceRecognitionAllowed),
            ["credentialsChanged"] = Flag(before is not null && after is not null && StreamCredentials.UserInfo(before.StreamUrl) != StreamCredentials.UserInfo(after.StreamUrl)),
        };
        return audit.Stage(connection.Connection, connection.Transaction, new AuditRecord(actor, AuditActions.CameraChange, outcome, Parameters: parameters));
    }

    // The write and every record it stages commit together, or neither does; no other register act or deployment
    // start commits in between (the tables the act reads and writes, locked on PostgreSQL).
    private (T Value, IReadOnlyList<StagedRecord> Staged) Write<T>(Func<Open, (T, IReadOnlyList<StagedRecord>)> write)
    {
        using var connection = database.Connect();
        using var transaction = database.Dialect.BeginWrite(connection, "cameras", "deployments");
        var result = write(new Open(connection, transaction));
        transaction.Commit();
        return result;
    }

    private async Task WaitAsync(IReadOnlyList<StagedRecord> staged, CancellationToken cancellationToken)
    {
        foreach (var record in staged)
        {
            await audit.CommittedAsync(record, cancellationToken);
        }
    }

    private static string Flag(bool value) => value ? "true" : "false";

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private readonly record struct Open(DbConnection Connection, DbTransaction Transaction);
}
