namespace CityWatch.AuditLog;

/// <summary>
/// Verifies RFC 9162 inclusion and consistency proofs (sections 2.1.3.2 and 2.1.4.2). A malformed proof
/// throws <see cref="InvalidProofException"/>; a well-formed one that leads elsewhere throws
/// <see cref="RootMismatchException"/>.
/// </summary>
public static class ProofVerifier
{
    public static void VerifyInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root)
    {
        ArgumentNullException.ThrowIfNull(proof);
        var computed = RootFromInclusion(index, size, leafHash, proof);
        if (!computed.AsSpan().SequenceEqual(root))
        {
            throw new RootMismatchException(root.ToArray(), computed);
        }
    }

    /// <summary>The root that an inclusion proof leads to, for comparing with a checkpoint.</summary>
    public static byte[] RootFromInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (index < 0 || index >= size)
        {
            throw new InvalidProofException($"Leaf index {index} is not in a tree of size {size}.");
        }

        CheckHash(leafHash, "leaf hash");
        var fn = index;
        var sn = size - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            CheckHash(p, "proof hash");
            if (sn == 0)
            {
                throw new InvalidProofException($"The inclusion proof has more hashes than a tree of size {size} needs.");
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = Rfc6962.HashChildren(p, r);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                r = Rfc6962.HashChildren(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        if (sn != 0)
        {
            throw new InvalidProofException($"The inclusion proof has fewer hashes than a tree of size {size} needs.");
        }

        return r;
    }

    public static void VerifyConsistency(long oldSize, long newSize, ReadOnlySpan<byte> oldRoot, ReadOnlySpan<byte> newRoot, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        CheckHash(oldRoot, "old root");
        CheckHash(newRoot, "new root");
        if (oldSize < 0 || oldSize > newSize)
        {
            throw new InvalidProofException($"Size {oldSize} cannot precede size {newSize}.");
        }

        if (oldSize == newSize || oldSize == 0)
        {
            if (proof.Count != 0)
            {
                throw new InvalidProofException("A consistency proof from an empty or equal tree must be empty.");
            }

            if (oldSize == newSize && !oldRoot.SequenceEqual(newRoot))
            {
                throw new RootMismatchException(oldRoot.ToArray(), newRoot.ToArray(), $"root at size {newSize}");
            }

            return;
        }

        if (proof.Count == 0)
        {
            throw new InvalidProofException("The consistency proof is empty.");
        }

        foreach (var p in proof)
        {
            CheckHash(p, "proof hash");
        }

        var path = new List<byte[]>(proof.Count + 1);
        if (System.Numerics.BitOperations.IsPow2(oldSize))
        {
            path.Add(oldRoot.ToArray());
        }

        path.AddRange(proof);
        var fn = oldSize - 1;
        var sn = newSize - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        var fr = path[0];
        var sr = path[0];
        for (var i = 1; i < path.Count; i++)
        {
            var c = path[i];
            if (sn == 0)
            {
                throw new InvalidProofException("The consistency proof has more hashes than needed.");
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = Rfc6962.HashChildren(c, fr);
                sr = Rfc6962.HashChildren(c, sr);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                sr = Rfc6962.HashChildren(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        if (sn != 0)
        {
            throw new InvalidProofException("The consistency proof has fewer hashes than needed.");
        }

        if (!fr.AsSpan().SequenceEqual(oldRoot))
        {
            throw new RootMismatchException(oldRoot.ToArray(), fr, $"root at size {oldSize}");
        }

        if (!sr.AsSpan().SequenceEqual(newRoot))
        {
            throw new RootMismatchException(newRoot.ToArray(), sr, $"root at size {newSize}");
        }
    }

    private static void CheckHash(ReadOnlySpan<byte> hash, string what)
    {
        if (hash.Length != Rfc6962.HashSize)
        {
            throw new InvalidProofException($"A {what} must be {Rfc6962.HashSize} bytes, not {hash.Length}.");
        }
    }
}
