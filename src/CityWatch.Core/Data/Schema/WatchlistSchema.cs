namespace CityWatch.Data;

internal static class WatchlistSchema
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS watchlists (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            approved_digest TEXT NULL,
            approved_by TEXT NULL,
            approved_at TEXT NULL,
            changed_by TEXT NULL,
            changed_at TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS watchlist_entries (
            id INTEGER PRIMARY KEY,
            watchlist_id INTEGER NOT NULL REFERENCES watchlists(id) ON DELETE CASCADE,
            label TEXT NOT NULL,
            category TEXT NOT NULL,
            image_source TEXT NOT NULL,
            legal_basis_id INTEGER NULL,
            enrolled_by TEXT NOT NULL,
            enrolled_at TEXT NOT NULL,
            expires_at TEXT NULL,
            approved_by TEXT NULL,
            approved_at TEXT NULL,
            model TEXT NOT NULL,
            template BLOB NOT NULL,
            template_hash TEXT NOT NULL,
            label_salt BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS watchlist_entries_list ON watchlist_entries(watchlist_id);
        CREATE INDEX IF NOT EXISTS watchlist_entries_basis ON watchlist_entries(legal_basis_id);
        """;

    /// <summary>Version 2: how a watchlist's alerts show in the console (a palette colour, an optional tone).</summary>
    public const string Display = """
        ALTER TABLE watchlists ADD COLUMN colour TEXT NOT NULL DEFAULT 'blue';
        ALTER TABLE watchlists ADD COLUMN sound INTEGER NOT NULL DEFAULT 0;
        """;

    /// <summary>
    /// Version 1 on PostgreSQL: the same tables, ids the engine assigns, the sealed template and the label salt
    /// in the dialect's blob type (<c>BYTEA</c>). <c>legal_basis_id</c> is a plain column here as on SQLite.
    /// </summary>
    public static readonly string Postgres = $"""
        CREATE TABLE IF NOT EXISTS watchlists (
            id {SqlDialect.Postgres.IdentityKey},
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            approved_digest TEXT NULL,
            approved_by TEXT NULL,
            approved_at TEXT NULL,
            changed_by TEXT NULL,
            changed_at TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS watchlist_entries (
            id {SqlDialect.Postgres.IdentityKey},
            watchlist_id BIGINT NOT NULL REFERENCES watchlists(id) ON DELETE CASCADE,
            label TEXT NOT NULL,
            category TEXT NOT NULL,
            image_source TEXT NOT NULL,
            legal_basis_id BIGINT NULL,
            enrolled_by TEXT NOT NULL,
            enrolled_at TEXT NOT NULL,
            expires_at TEXT NULL,
            approved_by TEXT NULL,
            approved_at TEXT NULL,
            model TEXT NOT NULL,
            template {SqlDialect.Postgres.Blob} NOT NULL,
            template_hash TEXT NOT NULL,
            label_salt {SqlDialect.Postgres.Blob} NOT NULL
        );
        CREATE INDEX IF NOT EXISTS watchlist_entries_list ON watchlist_entries(watchlist_id);
        CREATE INDEX IF NOT EXISTS watchlist_entries_basis ON watchlist_entries(legal_basis_id);
        """;

    /// <summary>Version 2 on PostgreSQL: the tone a <c>BOOLEAN</c>.</summary>
    public static readonly string DisplayPostgres = $"""
        ALTER TABLE watchlists ADD COLUMN IF NOT EXISTS colour TEXT NOT NULL DEFAULT 'blue',
            ADD COLUMN IF NOT EXISTS sound {SqlDialect.Postgres.Boolean} NOT NULL DEFAULT FALSE;
        """;

    /// <summary>
    /// Version 3: the face crop of the photo an entry was enrolled from, sealed like evidence (its own key in
    /// <c>evidence_keys</c>, <see cref="Evidence.EvidenceVault"/>), shown beside the probe on the candidate view.
    /// Entries enrolled before it have none.
    /// </summary>
    public const string Photo = """
        ALTER TABLE watchlist_entries ADD COLUMN photo BLOB NULL;
        ALTER TABLE watchlist_entries ADD COLUMN photo_key TEXT NULL;
        """;

    /// <summary>Version 3 on PostgreSQL: the sealed photo in the dialect's blob type.</summary>
    public static readonly string PhotoPostgres = $"""
        ALTER TABLE watchlist_entries ADD COLUMN IF NOT EXISTS photo {SqlDialect.Postgres.Blob} NULL,
            ADD COLUMN IF NOT EXISTS photo_key TEXT NULL;
        """;

    /// <summary>
    /// Version 4: the evidence key (<c>evidence_keys</c>, <see cref="Evidence.EvidenceVault"/>) an entry's template is
    /// sealed under, one per entry, destroyed with the entry; so a removed entry's template, in a copy of the file, a
    /// dead tuple or the WAL, opens with no key that outlives it. Null for entries sealed before it under the data
    /// folder's one template key.
    /// </summary>
    public const string TemplateKey = """
        ALTER TABLE watchlist_entries ADD COLUMN template_key TEXT NULL;
        """;

    /// <summary>Version 4 on PostgreSQL: the same column.</summary>
    public const string TemplateKeyPostgres = """
        ALTER TABLE watchlist_entries ADD COLUMN IF NOT EXISTS template_key TEXT NULL;
        """;
}
