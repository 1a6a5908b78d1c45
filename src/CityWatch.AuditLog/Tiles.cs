namespace CityWatch.AuditLog;

/// <summary>
/// Tile contents: the concatenated 32-byte hashes of the tile's nodes. A log that stores its tree as tiles holds
/// only tree levels 0, 8, 16, ...; every other complete node is hashed from the at most 128 below it in one tile.
/// </summary>
public static class Tiles
{
    /// <summary>The full tile that holds what node (level, index) is hashed from (the node itself when level is a multiple of 8).</summary>
    public static TileId Holding(int level, long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(level);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return new TileId(level / TileId.Height, index >> (TileId.Height - (level % TileId.Height)), TileId.FullWidth);
    }

    /// <summary>
    /// Node (level, index) from the stored bytes of the tile <see cref="Holding"/> names. A tile too short to hold
    /// every node below it throws <see cref="MissingNodeException"/>.
    /// </summary>
    public static byte[] Node(ReadOnlySpan<byte> tile, int level, long index)
    {
        var above = level % TileId.Height;
        var count = 1 << above;
        var first = (int)((index << above) % TileId.FullWidth);
        if (tile.Length % Rfc6962.HashSize != 0 || tile.Length < (first + count) * Rfc6962.HashSize)
        {
            throw new MissingNodeException(level, index);
        }

        var hashes = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            hashes[i] = tile.Slice((first + i) * Rfc6962.HashSize, Rfc6962.HashSize).ToArray();
        }

        for (; count > 1; count /= 2)
        {
            for (var i = 0; i < count / 2; i++)
            {
                hashes[i] = Rfc6962.HashChildren(hashes[2 * i], hashes[(2 * i) + 1]);
            }
        }

        return hashes[0];
    }

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
