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
}
