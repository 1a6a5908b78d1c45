namespace CityWatch.Cases;

internal static class CaseSchema
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS cases (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            legal_basis_id INTEGER NOT NULL REFERENCES legal_bases(id),
            offence TEXT NOT NULL,
            camera_ids TEXT NOT NULL,
            from_at TEXT NOT NULL,
            until_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            opened_by TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            closed_by TEXT NULL,
            closed_at TEXT NULL,
            close_reason TEXT NULL
        );
        """;
}
