using System.Data;
using System.Data.Common;
using CityWatch.AuditLog;
using CityWatch.Data;

namespace CityWatch.Audit;

/// <summary>
/// Writes leaves into the log inside the sequencer's transaction: each record's version-2 entry, its openings and
/// the tree nodes the append completes, with statements prepared once per batch. It extends the
/// <see cref="CompactRange"/> it is given; if the transaction does not commit, the caller reloads that range.
/// </summary>
internal sealed class LeafWriter : IDisposable
{
    private readonly CompactRange _range;
    private readonly DbCommand _leaf;
    private readonly DbParameter[] _leafValues;
    private readonly DbCommand _node;
    private readonly DbParameter _nodeLevel;
    private readonly DbParameter _nodeIndex;
    private readonly DbParameter _nodeHash;
    private readonly DbCommand _opening;
    private readonly DbParameter[] _openingValues;
    private readonly List<AuditOpening> _openings = [];
    private readonly Action<int, long, byte[]> _storeNode;

    public LeafWriter(DbConnection connection, DbTransaction transaction, CompactRange range)
    {
        _range = range;
        _leaf = Command(connection, transaction, """
            INSERT INTO audit_leaves (idx, at, actor, action, outcome, legal_basis_id, case_id, entry)
            VALUES (@idx, @at, @actor, @action, @outcome, @basis, @case, @entry)
            """);
        _leafValues =
        [
            _leaf.AddParameter("idx", DbType.Int64), _leaf.AddParameter("at", DbType.String),
            _leaf.AddParameter("actor", DbType.String), _leaf.AddParameter("action", DbType.String),
            _leaf.AddParameter("outcome", DbType.String), _leaf.AddParameter("basis", DbType.Int64),
            _leaf.AddParameter("case", DbType.String), _leaf.AddParameter("entry", DbType.Binary),
        ];
        _node = Command(connection, transaction, "INSERT INTO audit_nodes (level, idx, hash) VALUES (@level, @idx, @hash)");
        _nodeLevel = _node.AddParameter("level", DbType.Int32);
        _nodeIndex = _node.AddParameter("idx", DbType.Int64);
        _nodeHash = _node.AddParameter("hash", DbType.Binary);
        _opening = Command(connection, transaction, "INSERT INTO audit_leaf_openings (idx, openings) VALUES (@idx, @openings) ON CONFLICT (idx) DO UPDATE SET openings = excluded.openings");
        _openingValues = [_opening.AddParameter("idx", DbType.Int64), _opening.AddParameter("openings", DbType.String)];
        _storeNode = StoreNode;
    }

    /// <summary>Logs <paramref name="record"/> as the next leaf and returns its index.</summary>
    public long Append(AuditRecord record, DateTimeOffset at)
    {
        var index = _range.Size;
        _openings.Clear();
        var entry = AuditEntry.EncodePublic(index, at, record, _openings);
        Bind(_leafValues, index, Timestamps.Format(at), record.Actor, record.Action, record.Outcome, record.LegalBasisId, record.CaseId, entry);
        _leaf.ExecuteNonQuery();
        if (_openings.Count > 0)
        {
            Bind(_openingValues, index, AuditEntry.FormatOpenings(_openings));
            _opening.ExecuteNonQuery();
        }

        _range.Append(Rfc6962.HashLeaf(entry), _storeNode);
        return index;
    }

    public void Dispose()
    {
        _leaf.Dispose();
        _node.Dispose();
        _opening.Dispose();
    }

    private void StoreNode(int level, long index, byte[] hash)
    {
        _nodeLevel.Value = level;
        _nodeIndex.Value = index;
        _nodeHash.Value = hash;
        _node.ExecuteNonQuery();
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
