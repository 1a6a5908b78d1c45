using System.Data;
using System.Data.Common;
using CityWatch.AuditLog;
using CityWatch.Data;

namespace CityWatch.Audit;

/// <summary>
/// Tree nodes read from the hash tiles in <c>audit_tiles</c> over one open connection, on either engine (one
/// prepared statement). A node at a level that is not a multiple of 8 is hashed from the tile below it
/// (<see cref="Tiles.Node"/>). The tiles a source has read are kept while it lives, so a proof or a
/// verification pass reads each tile once; a source is made for one read and must not outlive a write.
/// </summary>
internal sealed class DbNodeSource : INodeSource, IDisposable
{
    private const int KeptTiles = 64;
    private readonly DbCommand _command;
    private readonly DbParameter _level;
    private readonly DbParameter _index;
    private readonly Dictionary<(int Level, long Index), byte[]?> _read = [];

    // Audit schema before version 3 kept one audit_nodes row per node, at every level.
    private readonly bool _perNode;

    public DbNodeSource(DbConnection connection, DbTransaction? transaction = null)
        : this(connection, transaction, perNode: false)
    {
    }

    private DbNodeSource(DbConnection connection, DbTransaction? transaction, bool perNode)
    {
        _perNode = perNode;
        _command = connection.CreateCommand();
        _command.Transaction = transaction;
        _command.CommandText = perNode
            ? "SELECT hash FROM audit_nodes WHERE level = @level AND idx = @idx"
            : "SELECT hashes FROM audit_tiles WHERE level = @level AND idx = @idx";
        _level = _command.AddParameter("level", DbType.Int32);
        _index = _command.AddParameter("idx", DbType.Int64);
    }

    /// <summary>
    /// The nodes of a log of any audit schema version, for the verifier: it reads copies of a data folder that no
    /// server has migrated, and one made before version 3 has <c>audit_nodes</c> rather than tiles.
    /// </summary>
    public static DbNodeSource OfAnyVersion(DbConnection connection)
    {
        var dialect = SqlDialect.Of(connection);
        return new(connection, null, perNode: !dialect.TableExists(connection, "audit_tiles") && dialect.TableExists(connection, "audit_nodes"));
    }

    /// <summary>The stored bytes of hash tile (level, index), however wide it has grown, or null if it is not stored.</summary>
    public byte[]? ReadTile(int level, long index)
    {
        if (_perNode)
        {
            throw new InvalidOperationException("A log from before audit schema version 3 stores nodes, not tiles.");
        }

        _level.Value = level;
        _index.Value = index;
        return _command.ExecuteScalar() as byte[];
    }

    public byte[] GetNode(int level, long index)
    {
        if (_perNode)
        {
            _level.Value = level;
            _index.Value = index;
            return _command.ExecuteScalar() as byte[] ?? throw new MissingNodeException(level, index);
        }

        var holding = Tiles.Holding(level, index);
        if (!_read.TryGetValue((holding.Level, holding.Index), out var tile))
        {
            if (_read.Count == KeptTiles)
            {
                _read.Clear();
            }

            tile = ReadTile(holding.Level, holding.Index);
            _read[(holding.Level, holding.Index)] = tile;
        }

        return tile is null ? throw new MissingNodeException(level, index) : Tiles.Node(tile, level, index);
    }

    public void Dispose() => _command.Dispose();
}
