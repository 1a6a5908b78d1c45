using System.Globalization;
using System.Text;

namespace CityWatch.AuditLog;

/// <summary>
/// A C2SP tlog-tiles tile: level L holds hashes of tree level 8·L; tile N at that level holds the nodes
/// 256·N .. 256·N+W-1. Paths are <c>tile/L/N[.p/W]</c> and, for entry bundles, <c>tile/entries/N[.p/W]</c>,
/// with N written as 3-digit groups, all but the last prefixed with 'x' (1234067 → x001/x234/067).
/// </summary>
public readonly record struct TileId(int Level, long Index, int Width)
{
    public const int Height = 8;
    public const int FullWidth = 256;

    public bool IsPartial => Width < FullWidth;

    /// <summary>The tree level whose nodes the tile holds.</summary>
    public int TreeLevel => Level * Height;

    public string Path() => $"tile/{Level.ToString(CultureInfo.InvariantCulture)}/{EncodeIndex(Index)}{WidthSuffix()}";

    public string EntriesPath() => $"tile/entries/{EncodeIndex(Index)}{WidthSuffix()}";

    /// <summary>The tile that holds tree node (treeLevel = 8·L, index) in a tree of the given size.</summary>
    public static TileId ForTree(int level, long index, long treeSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(level);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var nodes = NodesAtLevel(level, treeSize);
        var first = index * FullWidth;
        if (first >= nodes)
        {
            throw new MalformedTileException($"Tile {level}/{index} does not exist in a tree of size {treeSize}.");
        }

        return new TileId(level, index, (int)Math.Min(FullWidth, nodes - first));
    }

    /// <summary>How many complete nodes tree level 8·L has in a tree of the given size.</summary>
    public static long NodesAtLevel(int level, long treeSize) => level * Height >= 63 ? 0 : treeSize >> (level * Height);

    /// <summary>Parses <c>tile/L/N[.p/W]</c> or <c>tile/entries/N[.p/W]</c>; level -1 marks an entry bundle.</summary>
    public static TileId Parse(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var parts = path.Split('/');
        if (parts.Length < 3 || parts[0] != "tile")
        {
            throw new MalformedTileException($"'{path}' is not a tile path.");
        }

        int level;
        if (parts[1] == "entries")
        {
            level = -1;
        }
        else if (!TryParseDigits(parts[1], 2, out var parsedLevel) || parsedLevel > 63)
        {
            throw new MalformedTileException($"'{path}' has a bad tile level.");
        }
        else
        {
            level = (int)parsedLevel;
        }

        var width = FullWidth;
        var indexParts = parts[2..];
        if (indexParts.Length >= 2 && indexParts[^2].EndsWith(".p", StringComparison.Ordinal))
        {
            if (!TryParseDigits(indexParts[^1], 3, out var parsedWidth) || parsedWidth is < 1 or > 255)
            {
                throw new MalformedTileException($"'{path}' has a bad partial width.");
            }

            width = (int)parsedWidth;
            indexParts = [.. indexParts[..^2], indexParts[^2][..^2]];
        }

        long index = 0;
        for (var i = 0; i < indexParts.Length; i++)
        {
            var part = indexParts[i];
            var last = i == indexParts.Length - 1;
            if (!last)
            {
                if (!part.StartsWith('x'))
                {
                    throw new MalformedTileException($"'{path}' has a bad tile index.");
                }

                part = part[1..];
            }

            if (part.Length != 3 || !TryParseDigits(part, 3, out var group) || index > (long.MaxValue - group) / 1000)
            {
                throw new MalformedTileException($"'{path}' has a bad tile index.");
            }

            index = (index * 1000) + group;
        }

        if (EncodeIndex(index) != string.Join('/', indexParts))
        {
            throw new MalformedTileException($"'{path}' is not the canonical path of its tile.");
        }

        return new TileId(level, index, width);
    }

    private static string EncodeIndex(long index)
    {
        var groups = new List<string>();
        do
        {
            groups.Add((index % 1000).ToString("000", CultureInfo.InvariantCulture));
            index /= 1000;
        }
        while (index > 0);

        var builder = new StringBuilder();
        for (var i = groups.Count - 1; i >= 0; i--)
        {
            builder.Append(i > 0 ? "x" : string.Empty).Append(groups[i]);
            if (i > 0)
            {
                builder.Append('/');
            }
        }

        return builder.ToString();
    }

    private string WidthSuffix() => IsPartial ? $".p/{Width.ToString(CultureInfo.InvariantCulture)}" : string.Empty;

    private static bool TryParseDigits(string text, int maxLength, out long value)
    {
        value = 0;
        return text.Length > 0 && text.Length <= maxLength && text.All(char.IsAsciiDigit)
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
