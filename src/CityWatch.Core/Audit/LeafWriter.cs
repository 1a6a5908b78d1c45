using System.Data;
using System.Data.Common;
using CityWatch.AuditLog;
using CityWatch.Data;
using Microsoft.Data.Sqlite;

namespace CityWatch.Audit;

/// <summary>
/// Writes leaves into the log inside the sequencer's transaction: each record's version-2 entry and its openings,
/// with statements prepared once per batch, and then (<see cref="WriteTiles"/>) the hash tiles the batch grew,
/// each written whole once. It extends the <see cref="CompactRange"/> it is given; if the transaction does not
/// commit, the caller reloads that range.
/// </summary>
/// <remarks>
/// The tree is stored as C2SP tlog-tiles hash tiles, one row per tile, rather than one row per node: tree levels
/// 0, 8, 16, ... only, 256 hashes to a full tile. A batch of a thousand leaves then writes about five rows for its
/// tree instead of two thousand, and a tile is served as the row it is. The last tile of each level is partial and
/// is rewritten, longer, by the next batch; the table's triggers let a tile only grow, and never past 256.
/// </remarks>
internal sealed class LeafWriter : IDisposable
{
    private readonly CompactRange _range;
    private readonly DbCommand _leaf;
    private readonly DbParameter[] _leafValues;
    private readonly DbCommand _tile;
    private readonly DbParameter _tileLevel;
    private readonly DbParameter _tileIndex;
    private readonly DbParameter _tileHashes;
    private readonly DbNodeSource _stored;
    // The nodes of tree levels 0, 8, 16, ... this batch completed, by tile level: the index of the first, then each in order.
    private readonly SortedDictionary<int, (long First, List<byte[]> Hashes)> _grown = [];
    private readonly DbCommand _opening;
    private readonly DbParameter[] _openingValues;
    private readonly List<AuditOpening> _openings = [];
    private readonly Action<int, long, byte[]> _storeNode;

    // Both statements' parameters are in the order they are bound: SQLite binds them by position (SqliteStatement).
    private const string LeafSql = "INSERT INTO audit_leaves (idx, action, entry) VALUES (@idx, @action, @entry)";

    private const string OpeningSql = "INSERT INTO audit_leaf_openings (idx, openings) VALUES (@idx, @openings) ON CONFLICT (idx) DO UPDATE SET openings = excluded.openings";

    private readonly SqliteStatement? _sqliteLeaf;
    private readonly SqliteStatement? _sqliteOpening;

    public LeafWriter(DbConnection connection, DbTransaction transaction, CompactRange range)
    {
        _range = range;
        _leaf = Command(connection, transaction, LeafSql);
        _leafValues = [_leaf.AddParameter("idx", DbType.Int64), _leaf.AddParameter("action", DbType.String), _leaf.AddParameter("entry", DbType.Binary)];
        _tile = Command(connection, transaction, "INSERT INTO audit_tiles (level, idx, hashes) VALUES (@level, @idx, @hashes) ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes");
        _tileLevel = _tile.AddParameter("level", DbType.Int32);
        _tileIndex = _tile.AddParameter("idx", DbType.Int64);
        _tileHashes = _tile.AddParameter("hashes", DbType.Binary);
        _stored = new DbNodeSource(connection, transaction);
        _opening = Command(connection, transaction, OpeningSql);
        _openingValues = [_opening.AddParameter("idx", DbType.Int64), _opening.AddParameter("openings", DbType.String)];
        _storeNode = StoreNode;
        if (connection is SqliteConnection sqlite)
        {
            _sqliteLeaf = new SqliteStatement(sqlite, LeafSql);
            _sqliteOpening = new SqliteStatement(sqlite, OpeningSql);
        }
    }

    /// <summary>Logs <paramref name="record"/> as the next leaf and returns its index (its hash reaches the tiles with <see cref="WriteTiles"/>).</summary>
    public long Append(AuditRecord record, DateTimeOffset at)
    {
        var index = _range.Size;
        _openings.Clear();
        var entry = AuditEntry.EncodePublic(index, at, record, _openings);
        var openings = _openings.Count > 0 ? AuditEntry.FormatOpenings(_openings) : null;
        if (_sqliteLeaf is { } leaf && _sqliteOpening is { } opening)
        {
            leaf.Bind(1, index);
            leaf.Bind(2, record.Action);
            leaf.Bind(3, entry);
            leaf.Run();
            if (openings is not null)
            {
                opening.Bind(1, index);
                opening.Bind(2, openings);
                opening.Run();
            }
        }
        else
        {
            Bind(_leafValues, index, record.Action, entry);
            _leaf.ExecuteNonQuery();
            if (openings is not null)
            {
                Bind(_openingValues, index, openings);
                _opening.ExecuteNonQuery();
            }
        }

        _range.Append(Rfc6962.HashLeaf(entry), _storeNode);
        return index;
    }

    /// <summary>
    /// Writes every hash tile the leaves appended so far grew: the part a tile already stored, read back, then the
    /// new hashes. Called once, after the batch's last append and before its commit.
    /// </summary>
    public void WriteTiles()
    {
        foreach (var (level, (first, hashes)) in _grown)
        {
            for (var done = 0; done < hashes.Count;)
            {
                var next = first + done;
                var tile = next / TileId.FullWidth;
                var offset = (int)(next % TileId.FullWidth);
                var count = Math.Min(TileId.FullWidth - offset, hashes.Count - done);
                var content = new byte[(offset + count) * Rfc6962.HashSize];
                if (offset > 0)
                {
                    var stored = _stored.ReadTile(level, tile);
                    if (stored is null || stored.Length < offset * Rfc6962.HashSize)
                    {
                        throw new MissingNodeException(level * TileId.Height, next - 1);
                    }

                    stored.AsSpan(0, offset * Rfc6962.HashSize).CopyTo(content);
                }

                for (var i = 0; i < count; i++)
                {
                    hashes[done + i].CopyTo(content, (offset + i) * Rfc6962.HashSize);
                }

                _tileLevel.Value = level;
                _tileIndex.Value = tile;
                _tileHashes.Value = content;
                _tile.ExecuteNonQuery();
                done += count;
            }
        }

        _grown.Clear();
    }

    public void Dispose()
    {
        _leaf.Dispose();
        _tile.Dispose();
        _opening.Dispose();
        _stored.Dispose();
        _sqliteLeaf?.Dispose();
        _sqliteOpening?.Dispose();
    }

    private void StoreNode(int level, long index, byte[] hash)
    {
        if (level % TileId.Height != 0)
        {
            return; // hashed from the tile below whenever it is read
        }

        var tileLevel = level / TileId.Height;
        if (_grown.TryGetValue(tileLevel, out var grown))
        {
            grown.Hashes.Add(hash);
        }
        else
        {
            _grown[tileLevel] = (index, [hash]);
        }
    }

    private static DbCommand Command(DbConnection connection, DbTransaction transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static void Bind(DbParameter[] parameters, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            parameters[i].Value = values[i] ?? DBNull.Value;
        }
    }
}
