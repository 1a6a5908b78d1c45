namespace CityWatch.Data;

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
            crop_version INTEGER NOT NULL DEFAULT 0,
            quality REAL NULL,
            top_candidates TEXT NOT NULL DEFAULT '[]',
            crop_key TEXT NOT NULL DEFAULT '',
            settled_at TEXT NULL,
            source TEXT NOT NULL DEFAULT 'live',
            analysis_job_id INTEGER NULL,
            media_from_ms INTEGER NULL,
            media_until_ms INTEGER NULL
        );
        CREATE INDEX IF NOT EXISTS alerts_at ON alerts(at);
        CREATE INDEX IF NOT EXISTS alerts_track ON alerts(track_id) WHERE track_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS alerts_status ON alerts(status);
        CREATE INDEX IF NOT EXISTS alerts_job ON alerts(analysis_job_id) WHERE analysis_job_id IS NOT NULL;

        -- One row per human decision; an account decides once per alert.
        CREATE TABLE IF NOT EXISTS alert_decisions (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            account TEXT NOT NULL,
            decision TEXT NOT NULL,
            note TEXT NULL,
            at TEXT NOT NULL,
            salt TEXT NOT NULL,
            UNIQUE (alert_id, account)
        );

        -- Refused decisions (a second decision, one on a settled alert): the log holds only a commitment to them.
        CREATE TABLE IF NOT EXISTS alert_decision_refusals (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL,
            account TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL,
            salt TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS alert_decision_refusals_alert ON alert_decision_refusals(alert_id);

        -- Per-item evidence keys, wrapped by the master key; deleting a row destroys its item.
        CREATE TABLE IF NOT EXISTS evidence_keys (
            key_id TEXT PRIMARY KEY,
            wrapped BLOB NOT NULL,
            created_at TEXT NOT NULL
        );

        -- Aggregate counts per day (UTC, the day the alert was raised), camera (0: supplied media) and legal basis.
        -- No personal data; retention never deletes them.
        CREATE TABLE IF NOT EXISTS alert_statistics (
            day TEXT NOT NULL,
            camera_id INTEGER NOT NULL,
            legal_basis_id INTEGER NOT NULL,
            raised INTEGER NOT NULL DEFAULT 0,
            confirmed INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            faces INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, camera_id, legal_basis_id)
        );
        """;

    /// <summary>
    /// Version 1 on PostgreSQL: the same tables, ids the engine assigns, 64-bit floats (<c>DOUBLE PRECISION</c>) for
    /// scores and quality, a wrapped evidence key in the dialect's blob type (<c>BYTEA</c>).
    /// </summary>
    public static readonly string Postgres = $"""
        CREATE TABLE IF NOT EXISTS alerts (
            id {SqlDialect.Postgres.IdentityKey},
            camera_id BIGINT NULL,
            watchlist_id BIGINT NOT NULL,
            entry_id BIGINT NOT NULL,
            label TEXT NOT NULL,
            legal_basis_id BIGINT NOT NULL,
            grant_id TEXT NOT NULL,
            at TEXT NOT NULL,
            score {SqlDialect.Postgres.Real} NOT NULL,
            threshold {SqlDialect.Postgres.Real} NOT NULL,
            box TEXT NOT NULL,
            crop_path TEXT NOT NULL,
            status TEXT NOT NULL,
            track_id TEXT NULL,
            last_seen TEXT NOT NULL,
            frames INTEGER NOT NULL DEFAULT 1,
            crop_version INTEGER NOT NULL DEFAULT 0,
            quality {SqlDialect.Postgres.Real} NULL,
            top_candidates TEXT NOT NULL DEFAULT '[]',
            crop_key TEXT NOT NULL DEFAULT '',
            settled_at TEXT NULL,
            source TEXT NOT NULL DEFAULT 'live',
            analysis_job_id BIGINT NULL,
            media_from_ms BIGINT NULL,
            media_until_ms BIGINT NULL
        );
        CREATE INDEX IF NOT EXISTS alerts_at ON alerts(at);
        CREATE INDEX IF NOT EXISTS alerts_track ON alerts(track_id) WHERE track_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS alerts_status ON alerts(status);
        CREATE INDEX IF NOT EXISTS alerts_job ON alerts(analysis_job_id) WHERE analysis_job_id IS NOT NULL;
        CREATE TABLE IF NOT EXISTS alert_decisions (
            id {SqlDialect.Postgres.IdentityKey},
            alert_id BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            account TEXT NOT NULL,
            decision TEXT NOT NULL,
            note TEXT NULL,
            at TEXT NOT NULL,
            salt TEXT NOT NULL,
            UNIQUE (alert_id, account)
        );
        CREATE TABLE IF NOT EXISTS alert_decision_refusals (
            id {SqlDialect.Postgres.IdentityKey},
            alert_id BIGINT NOT NULL,
            account TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL,
            salt TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS alert_decision_refusals_alert ON alert_decision_refusals(alert_id);
        CREATE TABLE IF NOT EXISTS evidence_keys (
            key_id TEXT PRIMARY KEY,
            wrapped {SqlDialect.Postgres.Blob} NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS alert_statistics (
            day TEXT NOT NULL,
            camera_id BIGINT NOT NULL,
            legal_basis_id BIGINT NOT NULL,
            raised INTEGER NOT NULL DEFAULT 0,
            confirmed INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            faces INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, camera_id, legal_basis_id)
        );
        """;

    /// <summary>Version 2: when the frame that raised a live alert was captured (ingest received it); null for older alerts and supplied media.</summary>
    public const string CapturedAt = "ALTER TABLE alerts ADD COLUMN captured_at TEXT NULL;";

    /// <summary>Version 3: how many of a track's best faces its fused template held when it gave the alert's score (null before).</summary>
    public const string FusedFrames = "ALTER TABLE alerts ADD COLUMN fused_frames INTEGER NULL;";

    /// <summary>
    /// Version 4: the worker's own id for a live alert it raised in the server role (<c>CandidateEvent.AlertKey</c>), by
    /// which its later Improved and Touched events find it; null for alerts raised in process. Unique where set.
    /// </summary>
    public const string SourceKey = """
        ALTER TABLE alerts ADD COLUMN source_key TEXT NULL;
        CREATE UNIQUE INDEX alerts_source_key ON alerts (source_key) WHERE source_key IS NOT NULL;
        """;

    /// <summary>
    /// Version 5, erasure epochs (<c>Evidence.EvidenceVault</c>): an item key sealed from now on is wrapped by the key of an
    /// epoch (<c>evidence_keys.epoch</c>; null: an older item, wrapped by the master key), and the epoch key lives outside
    /// this database, in the server's <c>ErasureKeyFile</c>. <c>evidence_epochs</c> says which epochs take new items
    /// (<c>open</c>) and which are being erased (<c>retired</c>); <c>evidence_erasures</c> names the epochs an item was
    /// destroyed from since they were last rewrapped.
    /// </summary>
    public const string Epochs = """
        ALTER TABLE evidence_keys ADD COLUMN epoch TEXT NULL;
        CREATE INDEX evidence_keys_epoch ON evidence_keys (epoch) WHERE epoch IS NOT NULL;
        CREATE TABLE evidence_epochs (
            id TEXT PRIMARY KEY,
            period TEXT NOT NULL,
            state TEXT NOT NULL,
            opened_at TEXT NOT NULL
        );
        CREATE INDEX evidence_epochs_open ON evidence_epochs (period) WHERE state = 'open';
        CREATE TABLE evidence_erasures (
            epoch TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX evidence_erasures_epoch ON evidence_erasures (epoch);
        """;
}
