namespace CityWatch.Policy;

internal static class PolicySchema
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS legal_bases (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            instrument TEXT NOT NULL,
            authority TEXT NOT NULL,
            decision_id TEXT NOT NULL,
            objective TEXT NOT NULL,
            purposes TEXT NOT NULL,
            camera_ids TEXT NOT NULL,
            watchlist_ids TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            status TEXT NOT NULL,
            is_demonstration INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT NULL
        );
        """;
}
