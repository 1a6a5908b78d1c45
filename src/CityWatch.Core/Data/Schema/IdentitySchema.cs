namespace CityWatch.Data;

/// <summary>The identity feature's tables (<c>identity</c>, version 1): accounts, their grants, invitations, sessions and edge keys.</summary>
internal static class IdentitySchema
{
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS accounts (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            person_name TEXT NOT NULL,
            identity_hash TEXT NOT NULL UNIQUE,
            password_hash TEXT NULL,
            totp_secret TEXT NULL,
            totp_last_step INTEGER NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            failed_sign_ins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS identity_salt (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            salt BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS invitations (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            code_hash TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            issued_by TEXT NOT NULL,
            issued_by_id INTEGER NULL,
            issued_at TEXT NOT NULL,
            expires_at TEXT NULL,
            decided_by TEXT NULL,
            decided_at TEXT NULL,
            pending_password_hash TEXT NULL,
            pending_totp_secret TEXT NULL,
            failed_confirmations INTEGER NOT NULL DEFAULT 0,
            used_at TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS role_grants (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            site_ids TEXT NULL,
            camera_ids TEXT NULL,
            valid_from TEXT NULL,
            valid_until TEXT NULL,
            granted_by TEXT NOT NULL,
            granted_by_id INTEGER NULL,
            granted_at TEXT NOT NULL,
            status TEXT NOT NULL,
            decided_by TEXT NULL,
            decided_at TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS role_changes (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            role TEXT NOT NULL,
            change TEXT NOT NULL,
            count_after INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS sessions (
            token_hash TEXT PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS api_keys (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            secret_hash TEXT NOT NULL UNIQUE,
            camera_ids TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            revoked_at TEXT NULL
        );
        """;

    /// <summary>
    /// Version 1 on PostgreSQL: the same tables, references and keys, the ids the engine assigns (identity), the
    /// counts, steps and referring ids 64-bit as SQLite's integers are, the flags (<c>disabled</c>, <c>revoked</c>)
    /// <c>BOOLEAN</c> where SQLite keeps 0/1, and the sealed identity-reference key in the dialect's blob type. SQLite's
    /// <c>username ... UNIQUE COLLATE NOCASE</c> is a unique index on the name with its ASCII capitals lowered
    /// (<see cref="SqlDialect.FoldAsciiCase"/>), the expression <see cref="SqlDialect.EqualsIgnoringCase"/> looks names
    /// up by: the names one engine holds as distinct the other does too. SQLite guards no state here with triggers:
    /// every guarded change (a decision, an invitation used, a TOTP step used up, a failed sign-in counted) is a
    /// compare-and-set or an increment in its statement, which reads the same on both.
    /// </summary>
    public static readonly string Postgres = $"""
        CREATE TABLE IF NOT EXISTS accounts (
            id {SqlDialect.Postgres.IdentityKey},
            username TEXT NOT NULL,
            person_name TEXT NOT NULL,
            identity_hash TEXT NOT NULL UNIQUE,
            password_hash TEXT NULL,
            totp_secret TEXT NULL,
            totp_last_step BIGINT NULL,
            disabled {SqlDialect.Postgres.Boolean} NOT NULL DEFAULT FALSE,
            failed_sign_ins BIGINT NOT NULL DEFAULT 0,
            locked_until TEXT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS accounts_username ON accounts ({SqlDialect.FoldAsciiCase("username")});
        CREATE TABLE IF NOT EXISTS identity_salt (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            salt {SqlDialect.Postgres.Blob} NOT NULL
        );
        CREATE TABLE IF NOT EXISTS invitations (
            id {SqlDialect.Postgres.IdentityKey},
            account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            code_hash TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            issued_by TEXT NOT NULL,
            issued_by_id BIGINT NULL,
            issued_at TEXT NOT NULL,
            expires_at TEXT NULL,
            decided_by TEXT NULL,
            decided_at TEXT NULL,
            pending_password_hash TEXT NULL,
            pending_totp_secret TEXT NULL,
            failed_confirmations BIGINT NOT NULL DEFAULT 0,
            used_at TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS role_grants (
            id {SqlDialect.Postgres.IdentityKey},
            account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            site_ids TEXT NULL,
            camera_ids TEXT NULL,
            valid_from TEXT NULL,
            valid_until TEXT NULL,
            granted_by TEXT NOT NULL,
            granted_by_id BIGINT NULL,
            granted_at TEXT NOT NULL,
            status TEXT NOT NULL,
            decided_by TEXT NULL,
            decided_at TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS role_changes (
            id {SqlDialect.Postgres.IdentityKey},
            at TEXT NOT NULL,
            role TEXT NOT NULL,
            change TEXT NOT NULL,
            count_after BIGINT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS sessions (
            token_hash TEXT PRIMARY KEY,
            account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked {SqlDialect.Postgres.Boolean} NOT NULL DEFAULT FALSE
        );
        CREATE TABLE IF NOT EXISTS api_keys (
            id {SqlDialect.Postgres.IdentityKey},
            name TEXT NOT NULL,
            secret_hash TEXT NOT NULL UNIQUE,
            camera_ids TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            revoked_at TEXT NULL
        );
        """;
}
