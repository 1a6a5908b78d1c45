namespace CityWatch.Alerts;

internal static class AlertSchema
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS alerts (
            id INTEGER PRIMARY KEY,
            camera_id INTEGER NULL,
            watchlist_id INTEGER NOT NULL,
            entry_id INTEGER NOT NULL,
            label TEXT NOT NULL,
            legal_basis_id INTEGER NOT NULL,
            grant_id TEXT NOT NULL,
            at TEXT NOT NULL,
            score REAL NOT NULL,
            threshold REAL NOT NULL,
            box TEXT NOT NULL,
            crop_path TEXT NOT NULL,
            status TEXT NOT NULL,
            track_id TEXT NULL,
            last_seen TEXT NOT NULL,
            frames INTEGER NOT NULL DEFAULT 1,
            crop_version INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS alerts_at ON alerts(at);
        CREATE INDEX IF NOT EXISTS alerts_track ON alerts(track_id) WHERE track_id IS NOT NULL;
        """;
}
