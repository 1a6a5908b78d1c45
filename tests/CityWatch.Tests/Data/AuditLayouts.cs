using System.Data.Common;
using CityWatch.AuditLog;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Tests.Data;

/// <summary>A log put back into the layout audit schema version 1 left, so that tests can upgrade it in place.</summary>
internal static class AuditLayouts
{
    /// <summary>
    /// Version 1: one <c>audit_openings</c> row per commitment, keyed by the commitment, and one <c>audit_nodes</c>
    /// row per perfect-subtree node at every level (rebuilt here from the leaves), instead of the leaf openings and
    /// the hash tiles.
    /// </summary>
    public static void PutVersion1Back(DbConnection connection, SqlDialect dialect)
    {
        connection.Execute(AuditSchema.For(dialect));
        connection.Execute(dialect.IsPostgres
            ? """
              INSERT INTO audit_openings (commitment, idx, field, salt, value)
                  SELECT j->>'Commitment', o.idx, j->>'Field', j->>'Salt', j->>'Value' FROM audit_leaf_openings o, json_array_elements(o.openings::json) j;
              DROP TABLE audit_leaf_openings;
              """
            : """
              INSERT INTO audit_openings (commitment, idx, field, salt, value)
                  SELECT json_extract(j.value, '$.Commitment'), o.idx, json_extract(j.value, '$.Field'), json_extract(j.value, '$.Salt'), json_extract(j.value, '$.Value')
                  FROM audit_leaf_openings o, json_each(o.openings) j;
              DROP TABLE audit_leaf_openings;
              """);
        var tree = new MerkleTree();
        foreach (var entry in connection.Query<byte[]>("SELECT entry FROM audit_leaves ORDER BY idx"))
        {
            tree.AppendData(entry);
        }

        var nodes = new List<(int Level, long Index, byte[] Hash)>();
        for (var level = 0; (tree.Size >> level) > 0; level++)
        {
            for (long index = 0; index < tree.Size >> level; index++)
            {
                nodes.Add((level, index, tree.GetNode(level, index)));
            }
        }

        connection.Execute("INSERT INTO audit_nodes (level, idx, hash) VALUES (@Level, @Index, @Hash)", nodes.Select(n => new { n.Level, n.Index, n.Hash }));
        connection.Execute("DROP TABLE audit_tiles");
    }
}
