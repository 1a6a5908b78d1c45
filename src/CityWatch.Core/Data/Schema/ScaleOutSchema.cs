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
}
