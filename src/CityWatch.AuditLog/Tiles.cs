namespace CityWatch.AuditLog;

/// <summary>Tile contents: the concatenated 32-byte hashes of the tile's nodes, read from a node source.</summary>
public static class Tiles
{
    public static byte[] Read(INodeSource nodes, TileId tile)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        if (tile.Level < 0 || tile.Width is < 1 or > TileId.FullWidth)
        {
            throw new MalformedTileException("Only hash tiles of width 1..256 can be read.");
        }

        var content = new byte[tile.Width * Rfc6962.HashSize];
        var first = tile.Index * TileId.FullWidth;
        for (var i = 0; i < tile.Width; i++)
        {
            nodes.GetNode(tile.TreeLevel, first + i).CopyTo(content, i * Rfc6962.HashSize);
        }

        return content;
    }

    /// <summary>Splits a tile's bytes into its hashes.</summary>
    public static IReadOnlyList<byte[]> Split(ReadOnlySpan<byte> content)
    {
        if (content.Length == 0 || content.Length % Rfc6962.HashSize != 0 || content.Length > TileId.FullWidth * Rfc6962.HashSize)
        {
            throw new MalformedTileException($"A tile of {content.Length} bytes is not a whole number (1..256) of hashes.");
        }

        var hashes = new byte[content.Length / Rfc6962.HashSize][];
        for (var i = 0; i < hashes.Length; i++)
        {
            hashes[i] = content.Slice(i * Rfc6962.HashSize, Rfc6962.HashSize).ToArray();
        }

        return hashes;
    }
}
