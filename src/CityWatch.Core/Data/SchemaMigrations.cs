using System.Data.Common;
using System.Globalization;
using Dapper;

namespace CityWatch.Data;

/// <summary>
/// One numbered step of one feature's schema: applied inside the transaction that records it. <see cref="Apply"/>
/// is its SQLite form; <see cref="Postgres"/> its PostgreSQL form, absent while the feature's store is not on
/// the shared code path.
/// </summary>
internal sealed record SchemaMigration(int Version, Action<DbConnection, DbTransaction> Apply, Action<DbConnection, DbTransaction>? Postgres = null)
{
    public static SchemaMigration Sql(int version, string sql, string? postgres = null) =>
        new(version, Run(sql), postgres is null ? null : Run(postgres));

    /// <summary>The step on the connection's engine.</summary>
    public Action<DbConnection, DbTransaction> On(SqlDialect dialect) =>
        !dialect.IsPostgres ? Apply : Postgres ?? throw new NotSupportedException($"migration {Version} has no PostgreSQL form");

    private static Action<DbConnection, DbTransaction> Run(string sql) =>
        (connection, transaction) => connection.Execute(sql, transaction: transaction);
}

/// <summary>A feature's tables and the ordered migrations that build them, version 1 first.</summary>
internal sealed record FeatureSchema(string Feature, IReadOnlyList<SchemaMigration> Migrations)
{
    public int Latest => Migrations[^1].Version;

    /// <summary>Whether every migration has a PostgreSQL form, so the feature's store runs on PostgreSQL.</summary>
    public bool OnPostgres => Migrations.All(m => m.Postgres is not null);

    public bool RunsOn(SqlDialect dialect) => !dialect.IsPostgres || OnPostgres;
}

/// <summary>
/// The data folder's schema records: which version of each feature's tables it holds
/// (<c>schema_versions</c>), and the migrations that bring it to the version this code knows.
/// Version 1 of every feature is the <c>CREATE ... IF NOT EXISTS</c> SQL the features had before versions
/// existed, so a data folder made then (tables, no <c>schema_versions</c>) runs it as a no-op and is recorded
/// at version 1; later versions then upgrade it in place.
/// </summary>
internal static class SchemaMigrations
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS schema_versions (
            feature TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            applied_at TEXT NOT NULL
        );
        """;

    /// <summary>Every feature, in dependency order (a feature's tables may refer to those above it).</summary>
    public static IReadOnlyList<FeatureSchema> Features { get; } =
    [
        new("cameras", [
            SchemaMigration.Sql(1, CameraSchema.Sql, CameraSchema.Postgres),
            new(2, CameraSchema.AddCoordinates, CameraSchema.AddCoordinatesPostgres),
            SchemaMigration.Sql(3, CameraSchema.HealthDays, CameraSchema.HealthDaysPostgres),
        ]),
        new("policy", [SchemaMigration.Sql(1, PolicySchema.Sql, PolicySchema.Postgres)]),
        new("cases", [
            SchemaMigration.Sql(1, CaseSchema.Sql, CaseSchema.Postgres),
            new(2, CaseSchema.LegalBasisReference, CaseSchema.LegalBasisReferencePostgres),
        ]),
        new("watchlists", [
            SchemaMigration.Sql(1, WatchlistSchema.Sql, WatchlistSchema.Postgres),
            SchemaMigration.Sql(2, WatchlistSchema.Display, WatchlistSchema.DisplayPostgres),
            SchemaMigration.Sql(3, WatchlistSchema.Photo, WatchlistSchema.PhotoPostgres),
            SchemaMigration.Sql(4, WatchlistSchema.TemplateKey, WatchlistSchema.TemplateKeyPostgres),
        ]),
        new("alerts", [SchemaMigration.Sql(1, AlertSchema.Sql, AlertSchema.Postgres), SchemaMigration.Sql(2, AlertSchema.CapturedAt, AlertSchema.CapturedAt),
            SchemaMigration.Sql(3, AlertSchema.FusedFrames, AlertSchema.FusedFrames), SchemaMigration.Sql(4, AlertSchema.SourceKey, AlertSchema.SourceKey),
            SchemaMigration.Sql(5, AlertSchema.Epochs, AlertSchema.Epochs)]),
        new("analysis_jobs", [SchemaMigration.Sql(1, AnalysisJobSchema.Sql, AnalysisJobSchema.Postgres)]),
        new("subject_access", [SchemaMigration.Sql(1, SubjectAccessSchema.Sql, SubjectAccessSchema.Postgres)]),
        new("audit", [SchemaMigration.Sql(1, AuditSchema.Sql, AuditSchema.Postgres), SchemaMigration.Sql(2, AuditSchema.OpeningsPerLeaf, AuditSchema.OpeningsPerLeafPostgres),
            new(3, AuditSchema.StoreTilesWhole, AuditSchema.StoreTilesWhole), SchemaMigration.Sql(4, AuditSchema.CompactLeaves, AuditSchema.CompactLeavesPostgres)]),
        new("identity", [SchemaMigration.Sql(1, IdentitySchema.Sql, IdentitySchema.Postgres)]),
        new("keys", [SchemaMigration.Sql(1, KeySchema.Sql, KeySchema.Postgres)]),
        new("scaleout", [SchemaMigration.Sql(1, ScaleOutSchema.Sql, ScaleOutSchema.Postgres)]),
        new("settings", [SchemaMigration.Sql(1, SettingsSchema.Sql, SettingsSchema.Postgres)]),
    ];

    /// <summary>
    /// Brings every feature to its latest version, each migration and its version row in one transaction.
    /// Refuses, before changing anything, a data folder that records a feature this code does not know or a
    /// version newer than this code's: a newer CityWatch wrote it, and this one must not write to it.
    /// On PostgreSQL only the features whose store is on the shared code path (<see cref="FeatureSchema.OnPostgres"/>).
    /// </summary>
    public static void Apply(DbConnection connection, TimeProvider time, string path, IReadOnlyList<FeatureSchema>? features = null)
    {
        var dialect = SqlDialect.Of(connection);
        features = (features ?? Features).Where(f => f.RunsOn(dialect)).ToList();
        connection.Execute(Sql);
        RefuseNewer(connection, features, path);
        foreach (var feature in features)
        {
            ApplyFeature(connection, time, path, feature, dialect);
        }
    }

    /// <summary>
    /// Brings one feature to its latest version: what a store that creates its own tables on open (the audit
    /// trail) runs, so that it never recreates a table a later migration replaced.
    /// </summary>
    public static void Apply(DbConnection connection, TimeProvider time, string path, string feature)
    {
        connection.Execute(Sql);
        ApplyFeature(connection, time, path, Features.Single(f => f.Feature == feature), SqlDialect.Of(connection));
    }

    private static void ApplyFeature(DbConnection connection, TimeProvider time, string path, FeatureSchema feature, SqlDialect dialect)
    {
        foreach (var migration in feature.Migrations)
        {
            using var transaction = connection.BeginTransaction();
            var current = connection.ExecuteScalar<int?>(
                "SELECT version FROM schema_versions WHERE feature = @feature", new { feature = feature.Feature }, transaction) ?? 0;
            if (current > feature.Latest)
            {
                throw new SchemaTooNewException(Describe(path, feature.Feature, current, feature.Latest));
            }

            if (current >= migration.Version)
            {
                continue;
            }

            if (current != migration.Version - 1)
            {
                throw new InvalidOperationException(
                    $"the database {path} records {feature.Feature} at version {current}, but the next migration is version {migration.Version}");
            }

            migration.On(dialect)(connection, transaction);
            connection.Execute(
                """
                INSERT INTO schema_versions (feature, version, applied_at) VALUES (@feature, @version, @at)
                ON CONFLICT (feature) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at
                """,
                new { feature = feature.Feature, version = migration.Version, at = time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture) },
                transaction);
            transaction.Commit();
        }
    }

    /// <summary>The version each feature is at in this database (none recorded: absent).</summary>
    public static IReadOnlyDictionary<string, int> Versions(DbConnection connection) =>
        connection.Query<(string Feature, int Version)>("SELECT feature, version FROM schema_versions")
            .ToDictionary(r => r.Feature, r => r.Version, StringComparer.Ordinal);

    private static void RefuseNewer(DbConnection connection, IReadOnlyList<FeatureSchema> features, string path)
    {
        var known = features.ToDictionary(f => f.Feature, f => f.Latest, StringComparer.Ordinal);
        foreach (var (feature, version) in connection.Query<(string Feature, int Version)>("SELECT feature, version FROM schema_versions ORDER BY feature"))
        {
            if (!known.TryGetValue(feature, out var latest))
            {
                throw new SchemaTooNewException(
                    $"the database {path} holds tables of a feature this CityWatch does not know ({feature}, version {version}): it was written by a newer CityWatch; open it with that version");
            }

            if (version > latest)
            {
                throw new SchemaTooNewException(Describe(path, feature, version, latest));
            }
        }
    }

    private static string Describe(string path, string feature, int version, int latest) =>
        $"the database {path} holds {feature} at schema version {version}, newer than this CityWatch knows ({latest}): it was written by a newer CityWatch; open it with that version";
}

/// <summary>The data folder was written by a newer CityWatch than this one; it is not opened for writing.</summary>
public sealed class SchemaTooNewException(string message) : Exception(message);
