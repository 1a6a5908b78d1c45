using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace CityWatch.Data;

/// <summary>
/// One SQLite statement prepared on the connection's own handle and run with its values bound by position, in
/// whatever transaction the connection has open. Microsoft.Data.Sqlite looks every parameter up by name and makes a
/// data reader on each execution; for the audit sequencer's two inserts per leaf that was about a fifth of what a
/// leaf cost it (docs/performance.md), so that hot path, and only it, uses this.
/// </summary>
internal sealed class SqliteStatement : IDisposable
{
    private readonly sqlite3 _database;
    private readonly sqlite3_stmt _statement;

    public SqliteStatement(SqliteConnection connection, string sql)
    {
        _database = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        Check(raw.sqlite3_prepare_v2(_database, sql, out _statement));
    }

    public void Bind(int position, long value) => Check(raw.sqlite3_bind_int64(_statement, position, value));

    public void Bind(int position, string? value) => Check(value is null ? raw.sqlite3_bind_null(_statement, position) : raw.sqlite3_bind_text(_statement, position, value));

    public void Bind(int position, byte[] value) => Check(raw.sqlite3_bind_blob(_statement, position, value));

    /// <summary>Runs the statement with the values bound, then resets it for the next; a failure throws <see cref="SqliteException"/>.</summary>
    public void Run()
    {
        var result = raw.sqlite3_step(_statement);
        if (result != raw.SQLITE_DONE && result != raw.SQLITE_ROW)
        {
            var error = Error(result);
            raw.sqlite3_reset(_statement);
            throw error;
        }

        raw.sqlite3_reset(_statement);
    }

    public void Dispose() => _statement?.Dispose();

    private void Check(int result)
    {
        if (result != raw.SQLITE_OK)
        {
            throw Error(result);
        }
    }

    private SqliteException Error(int result) =>
        new(raw.sqlite3_errmsg(_database).utf8_to_string(), result, raw.sqlite3_extended_errcode(_database));
}
