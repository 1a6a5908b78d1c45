namespace CityWatch.AuditLog;

/// <summary>
/// An append-only tree kept wholly in memory (every perfect-subtree node), for verifiers, tests and
/// benchmarks. Proofs come from <see cref="ProofBuilder"/> with this tree as the node source.
/// </summary>
public sealed class MerkleTree : INodeSource
{
    private readonly CompactRange _range = new();
    private readonly List<List<byte[]>> _levels = [];

    public long Size => _range.Size;

    public long AppendData(ReadOnlySpan<byte> data) => AppendLeafHash(Rfc6962.HashLeaf(data));

    public long AppendLeafHash(byte[] leafHash) => _range.Append(leafHash, Store);

    public byte[] Root() => _range.Root();

    /// <summary>The root of the tree as it was at an earlier size.</summary>
    public byte[] RootAt(long size)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, Size);
        return ProofBuilder.Root(this, size);
    }

    public byte[] GetNode(int level, long index)
    {
        if (level < 0 || level >= _levels.Count || index < 0 || index >= _levels[level].Count)
        {
            throw new MissingNodeException(level, index);
        }

        return _levels[level][(int)index];
    }

    private void Store(int level, long index, byte[] hash)
    {
        while (_levels.Count <= level)
        {
            _levels.Add([]);
        }

        _levels[level].Add(hash);
    }
}
