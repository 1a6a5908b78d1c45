using System.Data;
using System.Data.Common;
using CityWatch.AuditLog;
using CityWatch.Data;

namespace CityWatch.Audit;

/// <summary>Tree nodes read from <c>audit_nodes</c> over one open connection, on either engine (one prepared statement).</summary>
internal sealed class DbNodeSource : INodeSource, IDisposable
{
    private readonly DbCommand _command;
    private readonly DbParameter _level;
    private readonly DbParameter _index;

    public DbNodeSource(DbConnection connection, DbTransaction? transaction = null)
    {
        _command = connection.CreateCommand();
        _command.Transaction = transaction;
        _command.CommandText = "SELECT hash FROM audit_nodes WHERE level = @level AND idx = @idx";
        _level = _command.AddParameter("level", DbType.Int32);
        _index = _command.AddParameter("idx", DbType.Int64);
    }

    public byte[] GetNode(int level, long index)
    {
        _level.Value = level;
        _index.Value = index;
        return _command.ExecuteScalar() as byte[] ?? throw new MissingNodeException(level, index);
    }

    public void Dispose() => _command.Dispose();
}
