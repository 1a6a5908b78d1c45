namespace CityWatch.AuditLog.Tests;

public sealed class ProofTests
{
    [Fact]
    public void Inclusion_proofs_match_the_rfc_on_the_reference_tree()
    {
        var tree = Build(HashingTests.ReferenceLeaves);
        for (var size = 1; size <= 8; size++)
        {
            var leaves = HashingTests.ReferenceLeaves.Take(size).ToArray();
            for (var index = 0; index < size; index++)
            {
                var proof = ProofBuilder.Inclusion(tree, index, size);
                Assert.Equal(NaiveRfc6962.Path(index, leaves), proof);
                ProofVerifier.VerifyInclusion(index, size, Rfc6962.HashLeaf(leaves[index]), proof, NaiveRfc6962.Mth(leaves));
            }
        }
    }

    [Fact]
    public void Consistency_proofs_match_the_rfc_on_the_reference_tree()
    {
        var tree = Build(HashingTests.ReferenceLeaves);
        for (var newSize = 1; newSize <= 8; newSize++)
        {
            var leaves = HashingTests.ReferenceLeaves.Take(newSize).ToArray();
            for (var oldSize = 1; oldSize < newSize; oldSize++)
            {
                var proof = ProofBuilder.Consistency(tree, oldSize, newSize);
                Assert.Equal(NaiveRfc6962.Proof(oldSize, leaves), proof);
                ProofVerifier.VerifyConsistency(oldSize, newSize, tree.RootAt(oldSize), tree.RootAt(newSize), proof);
            }
        }
    }

    [Fact]
    public void Index_outside_the_tree_is_an_invalid_proof()
    {
        var tree = Build(HashingTests.ReferenceLeaves);
        Assert.Throws<InvalidProofException>(() => ProofBuilder.Inclusion(tree, 8, 8));
        Assert.Throws<InvalidProofException>(() => ProofVerifier.VerifyInclusion(8, 8, Rfc6962.EmptyRoot(), [], tree.Root()));
    }

    [Fact]
    public void Consistency_from_a_larger_tree_is_an_invalid_proof() =>
        Assert.Throws<InvalidProofException>(() => ProofVerifier.VerifyConsistency(5, 4, Rfc6962.EmptyRoot(), Rfc6962.EmptyRoot(), []));

    [Fact]
    public void Equal_sizes_need_equal_roots()
    {
        var tree = Build(HashingTests.ReferenceLeaves);
        ProofVerifier.VerifyConsistency(8, 8, tree.Root(), tree.Root(), []);
        Assert.Throws<RootMismatchException>(() => ProofVerifier.VerifyConsistency(8, 8, tree.Root(), tree.RootAt(7), []));
    }

    [Fact]
    public void Random_trees_give_rfc_proofs_that_verify_and_any_alteration_fails()
    {
        var random = new Random(6962);
        for (var round = 0; round < 60; round++)
        {
            var size = random.Next(1, 300);
            var data = Enumerable.Range(0, size).Select(_ => RandomBytes(random, random.Next(0, 40))).ToArray();
            var tree = Build(data);
            var root = tree.Root();
            Assert.Equal(NaiveRfc6962.Mth(data), root);

            var index = random.Next(size);
            var leafHash = Rfc6962.HashLeaf(data[index]);
            var proof = ProofBuilder.Inclusion(tree, index, size);
            Assert.Equal(NaiveRfc6962.Path(index, data), proof);
            ProofVerifier.VerifyInclusion(index, size, leafHash, proof, root);

            if (proof.Count > 0)
            {
                AssertFails(() => ProofVerifier.VerifyInclusion(index, size, leafHash, Mutate(proof, random), root));
                AssertFails(() => ProofVerifier.VerifyInclusion(index, size, leafHash, proof.Take(proof.Count - 1).ToList(), root));
            }

            AssertFails(() => ProofVerifier.VerifyInclusion(index, size, leafHash, [.. proof, RandomBytes(random, 32)], root));
            AssertFails(() => ProofVerifier.VerifyInclusion(index, size, Flip(leafHash, random), proof, root));
            AssertFails(() => ProofVerifier.VerifyInclusion(index, size, leafHash, proof, Flip(root, random)));
            if (size > 1)
            {
                var other = (index + 1 + random.Next(size - 1)) % size;
                AssertFails(() => ProofVerifier.VerifyInclusion(other, size, leafHash, proof, root));
            }

            var otherSize = random.Next(1, 400);
            if (otherSize != size && index < otherSize)
            {
                var otherTree = otherSize <= size ? tree : Build([.. data, .. Enumerable.Range(0, otherSize - size).Select(i => new[] { (byte)i })]);
                AssertFails(() => ProofVerifier.VerifyInclusion(index, otherSize, leafHash, proof, otherTree.RootAt(otherSize)));
            }

            if (size >= 2)
            {
                var oldSize = random.Next(1, size);
                var oldRoot = tree.RootAt(oldSize);
                var consistency = ProofBuilder.Consistency(tree, oldSize, size);
                Assert.Equal(NaiveRfc6962.Proof(oldSize, data), consistency);
                ProofVerifier.VerifyConsistency(oldSize, size, oldRoot, root, consistency);
                AssertFails(() => ProofVerifier.VerifyConsistency(oldSize, size, oldRoot, root, Mutate(consistency, random)));
                AssertFails(() => ProofVerifier.VerifyConsistency(oldSize, size, Flip(oldRoot, random), root, consistency));
                AssertFails(() => ProofVerifier.VerifyConsistency(oldSize, size, oldRoot, Flip(root, random), consistency));
                AssertFails(() => ProofVerifier.VerifyConsistency(oldSize, size, oldRoot, root, consistency.Skip(1).ToList()));
                AssertFails(() => ProofVerifier.VerifyConsistency(oldSize, size, oldRoot, root, [.. consistency, RandomBytes(random, 32)]));
                var otherOld = random.Next(1, size);
                if (otherOld != oldSize)
                {
                    AssertFails(() => ProofVerifier.VerifyConsistency(otherOld, size, tree.RootAt(otherOld), root, consistency));
                }

                if (size > oldSize + 1)
                {
                    AssertFails(() => ProofVerifier.VerifyConsistency(oldSize, size - 1, oldRoot, tree.RootAt(size - 1), consistency));
                }
            }
        }
    }

    internal static MerkleTree Build(IEnumerable<byte[]> data)
    {
        var tree = new MerkleTree();
        foreach (var leaf in data)
        {
            tree.AppendData(leaf);
        }

        return tree;
    }

    private static void AssertFails(Action verify)
    {
        var error = Record.Exception(verify);
        Assert.NotNull(error);
        Assert.True(error is InvalidProofException or RootMismatchException, $"Unexpected {error.GetType().Name}: {error.Message}");
    }

    private static List<byte[]> Mutate(IReadOnlyList<byte[]> proof, Random random)
    {
        var copy = proof.Select(p => (byte[])p.Clone()).ToList();
        var i = random.Next(copy.Count);
        copy[i] = Flip(copy[i], random);
        return copy;
    }

    private static byte[] Flip(byte[] hash, Random random)
    {
        var copy = (byte[])hash.Clone();
        copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        return copy;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
