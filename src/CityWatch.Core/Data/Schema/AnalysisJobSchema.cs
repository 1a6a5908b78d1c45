namespace CityWatch.Data;

/// <summary>The investigations feature's table (<c>analysis_jobs</c>, version 1).</summary>
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

    /// <summary>
    /// Version 1 on PostgreSQL: the same table and index, the id one the engine assigns (identity), the counts and the
    /// watchlist id 64-bit as SQLite's integers are, <c>fps</c> the dialect's 64-bit float and the flags
    /// (<c>owns_media</c>, <c>cancel_requested</c>) <c>BOOLEAN</c> where SQLite keeps 0/1. SQLite guards no job state with
    /// triggers: every transition is a compare-and-set in its statement (<c>WHERE state = ...</c>), which reads the same on both.
    /// </summary>
    public static readonly string Postgres = $"""
        CREATE TABLE IF NOT EXISTS analysis_jobs (
            id {SqlDialect.Postgres.IdentityKey},
            case_number TEXT NOT NULL,
            watchlist_id BIGINT NOT NULL,
            source TEXT NOT NULL,
            media_path TEXT NOT NULL,
            owns_media {SqlDialect.Postgres.Boolean} NOT NULL,
            sha256 TEXT NOT NULL,
            fps {SqlDialect.Postgres.Real} NOT NULL,
            width INTEGER NOT NULL,
            state TEXT NOT NULL,
            frames_done BIGINT NOT NULL DEFAULT 0,
            frames_total BIGINT NULL,
            faces BIGINT NOT NULL DEFAULT 0,
            matches BIGINT NOT NULL DEFAULT 0,
            candidates BIGINT NOT NULL DEFAULT 0,
            reason TEXT NULL,
            cancel_requested {SqlDialect.Postgres.Boolean} NOT NULL DEFAULT FALSE,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            started_at TEXT NULL,
            ended_at TEXT NULL
        );
        CREATE INDEX IF NOT EXISTS analysis_jobs_state ON analysis_jobs(state);
        """;
}
