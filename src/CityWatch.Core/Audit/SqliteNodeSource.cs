using CityWatch.AuditLog;
using Microsoft.Data.Sqlite;

namespace CityWatch.Audit;

/// <summary>Tree nodes read from <c>audit_nodes</c> over one open connection (one prepared statement).</summary>
internal sealed class SqliteNodeSource : INodeSource, IDisposable
{
    private readonly SqliteCommand _command;
    private readonly SqliteParameter _level;
    private readonly SqliteParameter _index;

    public SqliteNodeSource(SqliteConnection connection, SqliteTransaction? transaction = null)
    {
        _command = connection.CreateCommand();
        _command.Transaction = transaction;
        _command.CommandText = "SELECT hash FROM audit_nodes WHERE level = $level AND idx = $idx";
        _level = _command.Parameters.Add("$level", SqliteType.Integer);
        _index = _command.Parameters.Add("$idx", SqliteType.Integer);
    }

    public byte[] GetNode(int level, long index)
    {
        _level.Value = level;
        _index.Value = index;
        return _command.ExecuteScalar() as byte[] ?? throw new MissingNodeException(level, index);
    }

    public void Dispose() => _command.Dispose();
}
