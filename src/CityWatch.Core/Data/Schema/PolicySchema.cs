namespace CityWatch.Data;

internal static class PolicySchema
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS legal_bases (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            instrument TEXT NOT NULL,
            authority TEXT NOT NULL,
            objective TEXT NOT NULL,
            offence TEXT NULL,
            objective_detail TEXT NOT NULL,
            purposes TEXT NOT NULL,
            camera_ids TEXT NOT NULL,
            area TEXT NULL,
            watchlist_ids TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            max_retention_days INTEGER NOT NULL,
            max_watchlist_entries INTEGER NOT NULL,
            urgent INTEGER NOT NULL,
            state TEXT NOT NULL,
            is_demonstration INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            prerequisites TEXT NULL,
            prerequisites_by TEXT NULL,
            prerequisites_at TEXT NULL,
            decision_reference TEXT NULL,
            decided_by TEXT NULL,
            decided_at TEXT NULL,
            refusal_reason TEXT NULL,
            revoked_by TEXT NULL,
            revoked_at TEXT NULL,
            destroyed_at TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS deployments (
            id INTEGER PRIMARY KEY,
            legal_basis_id INTEGER NOT NULL REFERENCES legal_bases(id),
            camera_ids TEXT NOT NULL,
            watchlists TEXT NOT NULL,
            started_by TEXT NOT NULL,
            started_at TEXT NOT NULL,
            stopped_by TEXT NULL,
            stopped_at TEXT NULL,
            stop_reason TEXT NULL
        );
        CREATE INDEX IF NOT EXISTS deployments_running ON deployments(stopped_at);
        -- One request to the authority per urgent basis, filed as it is registered; the authority's authorisation or
        -- refusal answers it, the deadline lapses it, a revocation before any answer withdraws it.
        CREATE TABLE IF NOT EXISTS urgent_requests (
            id INTEGER PRIMARY KEY,
            legal_basis_id INTEGER NOT NULL UNIQUE REFERENCES legal_bases(id),
            authority TEXT NOT NULL,
            filed_by TEXT NOT NULL,
            filed_at TEXT NOT NULL,
            deadline TEXT NOT NULL,
            outcome TEXT NULL,
            answered_by TEXT NULL,
            answered_at TEXT NULL
        );
        """;

    /// <summary>
    /// Version 1 on PostgreSQL: the same tables, ids the engine assigns (identity) and the flags (<c>urgent</c>,
    /// <c>is_demonstration</c>) <c>BOOLEAN</c> where SQLite keeps 0/1. SQLite guards no state with triggers here:
    /// every transition is a compare-and-set in its own statement (<c>WHERE state IN ...</c>, <c>WHERE stopped_at
    /// IS NULL</c>, <c>WHERE outcome IS NULL</c>), which reads the same on both engines.
    /// </summary>
    public static readonly string Postgres = $"""
        CREATE TABLE IF NOT EXISTS legal_bases (
            id {SqlDialect.Postgres.IdentityKey},
            title TEXT NOT NULL,
            instrument TEXT NOT NULL,
            authority TEXT NOT NULL,
            objective TEXT NOT NULL,
            offence TEXT NULL,
            objective_detail TEXT NOT NULL,
            purposes TEXT NOT NULL,
            camera_ids TEXT NOT NULL,
            area TEXT NULL,
            watchlist_ids TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            max_retention_days INTEGER NOT NULL,
            max_watchlist_entries INTEGER NOT NULL,
            urgent {SqlDialect.Postgres.Boolean} NOT NULL,
            state TEXT NOT NULL,
            is_demonstration {SqlDialect.Postgres.Boolean} NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            prerequisites TEXT NULL,
            prerequisites_by TEXT NULL,
            prerequisites_at TEXT NULL,
            decision_reference TEXT NULL,
            decided_by TEXT NULL,
            decided_at TEXT NULL,
            refusal_reason TEXT NULL,
            revoked_by TEXT NULL,
            revoked_at TEXT NULL,
            destroyed_at TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS deployments (
            id {SqlDialect.Postgres.IdentityKey},
            legal_basis_id BIGINT NOT NULL REFERENCES legal_bases(id),
            camera_ids TEXT NOT NULL,
            watchlists TEXT NOT NULL,
            started_by TEXT NOT NULL,
            started_at TEXT NOT NULL,
            stopped_by TEXT NULL,
            stopped_at TEXT NULL,
            stop_reason TEXT NULL
        );
        CREATE INDEX IF NOT EXISTS deployments_running ON deployments(stopped_at);
        CREATE TABLE IF NOT EXISTS urgent_requests (
            id {SqlDialect.Postgres.IdentityKey},
            legal_basis_id BIGINT NOT NULL UNIQUE REFERENCES legal_bases(id),
            authority TEXT NOT NULL,
            filed_by TEXT NOT NULL,
            filed_at TEXT NOT NULL,
            deadline TEXT NOT NULL,
            outcome TEXT NULL,
            answered_by TEXT NULL,
            answered_at TEXT NULL
        );
        """;
}
