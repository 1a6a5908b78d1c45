namespace CityWatch.Audit;

internal static class AuditSchema
{
    // Append-only until the Merkle log takes it over: triggers refuse UPDATE and DELETE.
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS audit_events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            legal_basis_id INTEGER NULL,
            case_id TEXT NULL,
            body TEXT NOT NULL
        );
        CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
        CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
        """;
}
