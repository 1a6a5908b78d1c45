namespace CityWatch.Data;

internal static class KeySchema
{
    // One row per key of the data folder, only ever wrapped by the KEK (named by kek_id); public_key holds
    // the public half where there is one (the log's verifier key), so offline verification needs no KEK.
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS wrapped_keys (
            name TEXT PRIMARY KEY,
            kek_id TEXT NOT NULL,
            wrapped BLOB NOT NULL,
            public_key TEXT NULL
        );
        """;

    public const string Postgres = """
        CREATE TABLE IF NOT EXISTS wrapped_keys (
            name TEXT PRIMARY KEY,
            kek_id TEXT NOT NULL,
            wrapped BYTEA NOT NULL,
            public_key TEXT NULL
        );
        """;

    /// <summary>The table in the engine's form.</summary>
    public static string For(CityWatch.Data.SqlDialect dialect) => dialect.IsPostgres ? Postgres : Sql;
}
