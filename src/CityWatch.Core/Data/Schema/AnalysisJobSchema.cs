namespace CityWatch.Data;

public static class AnalysisJobSchema
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS analysis_jobs (
            id INTEGER PRIMARY KEY,
            case_number TEXT NOT NULL,
            watchlist_id INTEGER NOT NULL,
            source TEXT NOT NULL,
            media_path TEXT NOT NULL,
            owns_media INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            fps REAL NOT NULL,
            width INTEGER NOT NULL,
            state TEXT NOT NULL,
            frames_done INTEGER NOT NULL DEFAULT 0,
            frames_total INTEGER NULL,
            faces INTEGER NOT NULL DEFAULT 0,
            matches INTEGER NOT NULL DEFAULT 0,
            candidates INTEGER NOT NULL DEFAULT 0,
            reason TEXT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            started_at TEXT NULL,
            ended_at TEXT NULL
        );
        CREATE INDEX IF NOT EXISTS analysis_jobs_state ON analysis_jobs(state);
        """;
}
