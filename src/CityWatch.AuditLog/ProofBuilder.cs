using System.Numerics;

namespace CityWatch.AuditLog;

/// <summary>
/// Builds RFC 9162 inclusion and consistency proofs from stored perfect-subtree nodes. Any subtree hash the
/// proof needs (MTH of a range) is assembled from at most O(log n) stored nodes.
/// </summary>
public static class ProofBuilder
{
    /// <summary>MTH(D[0:size]).</summary>
    public static byte[] Root(INodeSource nodes, long size)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        return size == 0 ? Rfc6962.EmptyRoot() : SubtreeHash(nodes, 0, size);
    }

    /// <summary>The audit path PATH(index, D[0:size]) for the leaf at <paramref name="index"/>.</summary>
    public static IReadOnlyList<byte[]> Inclusion(INodeSource nodes, long index, long size)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        if (index < 0 || index >= size)
        {
            throw new InvalidProofException($"Leaf index {index} is not in a tree of size {size}.");
        }

        var proof = new List<byte[]>();
        InclusionPath(nodes, index, 0, size, proof);
        return proof;
    }

    /// <summary>PROOF(oldSize, D[0:newSize]); empty when the sizes are equal or the old tree is empty.</summary>
    public static IReadOnlyList<byte[]> Consistency(INodeSource nodes, long oldSize, long newSize)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        if (oldSize < 0 || oldSize > newSize)
        {
            throw new InvalidProofException($"No consistency proof from size {oldSize} to size {newSize}.");
        }

        var proof = new List<byte[]>();
        if (oldSize > 0 && oldSize < newSize)
        {
            SubProof(nodes, oldSize, 0, newSize, complete: true, proof);
        }

        return proof;
    }

    /// <summary>MTH(D[start:end]) for a range that the RFC 6962 recursion produces.</summary>
    public static byte[] SubtreeHash(INodeSource nodes, long start, long end)
    {
        var count = end - start;
        if (count <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(end), "A subtree holds at least one leaf.");
        }

        if (BitOperations.IsPow2(count) && start % count == 0)
        {
            var level = BitOperations.Log2((ulong)count);
            return nodes.GetNode(level, start >> level);
        }

        var split = SplitPoint(count);
        return Rfc6962.HashChildren(SubtreeHash(nodes, start, start + split), SubtreeHash(nodes, start + split, end));
    }

    /// <summary>The largest power of two strictly below <paramref name="count"/> (count ≥ 2).</summary>
    internal static long SplitPoint(long count) => (long)BitOperations.RoundUpToPowerOf2((ulong)count) >> 1;

    private static void InclusionPath(INodeSource nodes, long index, long start, long end, List<byte[]> proof)
    {
        var count = end - start;
        if (count == 1)
        {
            return;
        }

        var split = SplitPoint(count);
        if (index < split)
        {
            InclusionPath(nodes, index, start, start + split, proof);
            proof.Add(SubtreeHash(nodes, start + split, end));
        }
        else
        {
            InclusionPath(nodes, index - split, start + split, end, proof);
            proof.Add(SubtreeHash(nodes, start, start + split));
        }
    }

    private static void SubProof(INodeSource nodes, long oldSize, long start, long end, bool complete, List<byte[]> proof)
    {
        var count = end - start;
        if (oldSize == count)
        {
            if (!complete)
            {
                proof.Add(SubtreeHash(nodes, start, end));
            }

            return;
        }

        var split = SplitPoint(count);
        if (oldSize <= split)
        {
            SubProof(nodes, oldSize, start, start + split, complete, proof);
            proof.Add(SubtreeHash(nodes, start + split, end));
        }
        else
        {
            SubProof(nodes, oldSize - split, start + split, end, complete: false, proof);
            proof.Add(SubtreeHash(nodes, start, start + split));
        }
    }
}
