using CityWatch.AuditLog;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Tests.Audit;

/// <summary>
/// What someone holding a copy of the data folder does to its log, in SQLite: drops the append-only triggers, then
/// rewrites a leaf's stored hash or cuts the tree back. The tree is stored as hash tiles, so these edit the tile bytes.
/// </summary>
internal static class TamperedLog
{
    public static readonly string[] Triggers = ["audit_leaves_no_update", "audit_leaves_no_delete", "audit_tiles_only_grow", "audit_tiles_no_delete"];

    public static void DropTriggers(SqliteConnection connection)
    {
        foreach (var trigger in Triggers)
        {
            connection.Execute($"DROP TRIGGER IF EXISTS {trigger}");
        }
    }

    /// <summary>Overwrites leaf <paramref name="index"/>'s hash in its level-0 tile.</summary>
    public static void SetLeafHash(SqliteConnection connection, long index, byte[] hash)
    {
        var tile = connection.QuerySingle<byte[]>("SELECT hashes FROM audit_tiles WHERE level = 0 AND idx = @tile", new { tile = index / TileId.FullWidth });
        hash.CopyTo(tile, (int)(index % TileId.FullWidth) * Rfc6962.HashSize);
        connection.Execute("UPDATE audit_tiles SET hashes = @tile WHERE level = 0 AND idx = @index", new { tile, index = index / TileId.FullWidth });
    }

    /// <summary>Leaves the log <paramref name="size"/> long: the leaves above it go, and every tile is cut to the nodes below it.</summary>
    public static void CutTreeBack(SqliteConnection connection, long size)
    {
        connection.Execute("DELETE FROM audit_leaves WHERE idx >= @size", new { size });
        for (var level = 0; level < 8; level++)
        {
            var nodes = TileId.NodesAtLevel(level, size);
            var kept = nodes % TileId.FullWidth;
            connection.Execute("DELETE FROM audit_tiles WHERE level = @level AND idx >= @from", new { level, from = (nodes / TileId.FullWidth) + (kept == 0 ? 0 : 1) });
            if (kept != 0)
            {
                connection.Execute(
                    "UPDATE audit_tiles SET hashes = substr(hashes, 1, @length) WHERE level = @level AND idx = @index",
                    new { level, index = nodes / TileId.FullWidth, length = kept * Rfc6962.HashSize });
            }
        }
    }
}
