using System.Data.Common;
using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Tests.Data;

/// <summary>A log put back into the layout audit schema version 1 left, so that tests can upgrade it in place.</summary>
internal static class AuditLayouts
{
    /// <summary>
    /// Version 1: one <c>audit_openings</c> row per commitment, keyed by the commitment, one <c>audit_nodes</c>
    /// row per perfect-subtree node at every level (rebuilt here from the leaves), instead of the leaf openings and
    /// the hash tiles, and leaf rows with the columns version 4 dropped.
    /// </summary>
    public static void PutVersion1Back(DbConnection connection, SqlDialect dialect)
    {
        connection.Execute(AuditSchema.For(dialect));
        // The leaf columns version 4 dropped (left at their defaults: the migration only drops them again).
        connection.Execute(
            $"""
            ALTER TABLE audit_leaves ADD COLUMN at TEXT NOT NULL DEFAULT '';
            ALTER TABLE audit_leaves ADD COLUMN actor TEXT NOT NULL DEFAULT '';
            ALTER TABLE audit_leaves ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
            ALTER TABLE audit_leaves ADD COLUMN legal_basis_id {(dialect.IsPostgres ? "BIGINT" : "INTEGER")} NULL;
            ALTER TABLE audit_leaves ADD COLUMN case_id TEXT NULL;
            """);
        // One row per commitment, the commitment computed from salt and value (the leaf rows no longer store it).
        var openings = connection.Query<(long Index, string Openings)>("SELECT idx, openings FROM audit_leaf_openings ORDER BY idx")
            .SelectMany(row => AuditEntry.ParseOpenings(row.Openings)!.Select(o => new { o.Commitment, row.Index, o.Field, o.Salt, o.Value }))
            .ToList();
        connection.Execute("INSERT INTO audit_openings (commitment, idx, field, salt, value) VALUES (@Commitment, @Index, @Field, @Salt, @Value)", openings);
        connection.Execute("DROP TABLE audit_leaf_openings");
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
