namespace CityWatch.AuditLog;

/// <summary>
/// The right edge of an append-only Merkle tree: the roots of the perfect subtrees that together cover
/// leaves [0, size), largest first (one per set bit of the size). Appending is O(log n) and the root can be
/// computed at any time without any other node.
/// </summary>
public sealed class CompactRange
{
    private readonly List<(int Level, byte[] Hash)> _peaks = [];

    public long Size { get; private set; }

    /// <summary>Rebuilds the range for a tree of <paramref name="size"/> leaves from stored perfect-subtree roots.</summary>
    public static CompactRange FromNodes(long size, INodeSource nodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentNullException.ThrowIfNull(nodes);
        var range = new CompactRange();
        long start = 0;
        for (var level = 62; level >= 0; level--)
        {
            var span = 1L << level;
            if ((size & span) != 0)
            {
                range._peaks.Add((level, nodes.GetNode(level, start >> level)));
                start += span;
            }
        }

        range.Size = size;
        return range;
    }

    /// <summary>
    /// Appends a leaf hash and returns its index; <paramref name="onNode"/> sees every node completed by this
    /// append (the leaf itself first, then each new parent), so that a store can persist them.
    /// </summary>
    public long Append(byte[] leafHash, Action<int, long, byte[]>? onNode = null)
    {
        Rfc6962.CheckHash(leafHash, nameof(leafHash));
        var index = Size;
        var hash = leafHash;
        var level = 0;
        onNode?.Invoke(0, index, hash);
        while (_peaks.Count > 0 && _peaks[^1].Level == level)
        {
            hash = Rfc6962.HashChildren(_peaks[^1].Hash, hash);
            _peaks.RemoveAt(_peaks.Count - 1);
            level++;
            onNode?.Invoke(level, index >> level, hash);
        }

        _peaks.Add((level, hash));
        Size = index + 1;
        return index;
    }

    /// <summary>The RFC 6962 root hash of the tree so far.</summary>
    public byte[] Root()
    {
        if (_peaks.Count == 0)
        {
            return Rfc6962.EmptyRoot();
        }

        var hash = _peaks[^1].Hash;
        for (var i = _peaks.Count - 2; i >= 0; i--)
        {
            hash = Rfc6962.HashChildren(_peaks[i].Hash, hash);
        }

        return hash;
    }
}
