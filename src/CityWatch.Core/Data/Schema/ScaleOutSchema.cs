namespace CityWatch.Data;

internal static class ScaleOutSchema
{
    // What the server's ingest of worker events keeps (AuditIngest), each row written in the transaction that
    // stages the event's record, so a redelivered event finds its id and changes nothing.
    public const string Sql = """
        -- Every event id taken in: accepted (its record staged) or stale (dropped for its fencing token).
        CREATE TABLE IF NOT EXISTS scaleout_received (
            event_id TEXT PRIMARY KEY,
            camera_id TEXT NOT NULL,
            worker TEXT NOT NULL,
            fence INTEGER NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'stale')),
            reason TEXT NULL,
            stream_seq INTEGER NOT NULL,
            received_at TEXT NOT NULL
        );
        -- The highest fencing token (lease revision) accepted per camera: an event with a lower one is stale.
        CREATE TABLE IF NOT EXISTS camera_fences (
            camera_id TEXT PRIMARY KEY,
            revision INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- Messages that were not usable events: terminated in JetStream (never redelivered), kept here.
        CREATE TABLE IF NOT EXISTS scaleout_rejected (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            stream_seq INTEGER NULL UNIQUE,
            subject TEXT NOT NULL,
            msg_id TEXT NULL,
            reason TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
        """;

    /// <summary>
    /// Version 1 on PostgreSQL: the same tables, the fencing tokens, revisions and stream sequences <c>BIGINT</c>
    /// (64-bit, as SQLite's integers are), the rejected messages' id one the engine assigns (identity, where SQLite
    /// has <c>AUTOINCREMENT</c>). A redelivered event id finds its row through <c>ON CONFLICT DO NOTHING</c> on both.
    /// </summary>
    public static readonly string Postgres = $"""
        CREATE TABLE IF NOT EXISTS scaleout_received (
            event_id TEXT PRIMARY KEY,
            camera_id TEXT NOT NULL,
            worker TEXT NOT NULL,
            fence BIGINT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'stale')),
            reason TEXT NULL,
            stream_seq BIGINT NOT NULL,
            received_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS camera_fences (
            camera_id TEXT PRIMARY KEY,
            revision BIGINT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS scaleout_rejected (
            id {SqlDialect.Postgres.IdentityKey},
            stream_seq BIGINT NULL UNIQUE,
            subject TEXT NOT NULL,
            msg_id TEXT NULL,
            reason TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
        """;
}
