namespace CityWatch.Data;

/// <summary>The subject-access feature's tables (<c>subject_access</c>, version 1).</summary>
internal static class SubjectAccessSchema
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS subject_access_requests (
            id INTEGER PRIMARY KEY,
            identity_salt BLOB NOT NULL,
            identity_hash BLOB NOT NULL,
            verification TEXT NOT NULL,
            received_at TEXT NOT NULL,
            registered_by TEXT NOT NULL,
            registered_at TEXT NOT NULL,
            searched_by TEXT NULL,
            searched_at TEXT NULL,
            result_key TEXT NULL,
            result BLOB NULL,
            approved_by TEXT NULL,
            approved_at TEXT NULL
        );
        """;

    /// <summary>
    /// Version 1 on PostgreSQL: the same table, the id one the engine assigns (identity), the salt, the hash and the
    /// sealed answer in the dialect's blob type. SQLite guards no request state with triggers: searching once and
    /// approving once are compare-and-sets in their statements (<c>WHERE searched_at IS NULL</c>, <c>WHERE approved_at
    /// IS NULL AND searched_by &lt;&gt; @actor</c>), which read the same on both engines.
    /// </summary>
    public static readonly string Postgres = $"""
        CREATE TABLE IF NOT EXISTS subject_access_requests (
            id {SqlDialect.Postgres.IdentityKey},
            identity_salt {SqlDialect.Postgres.Blob} NOT NULL,
            identity_hash {SqlDialect.Postgres.Blob} NOT NULL,
            verification TEXT NOT NULL,
            received_at TEXT NOT NULL,
            registered_by TEXT NOT NULL,
            registered_at TEXT NOT NULL,
            searched_by TEXT NULL,
            searched_at TEXT NULL,
            result_key TEXT NULL,
            result {SqlDialect.Postgres.Blob} NULL,
            approved_by TEXT NULL,
            approved_at TEXT NULL
        );
        """;
}
