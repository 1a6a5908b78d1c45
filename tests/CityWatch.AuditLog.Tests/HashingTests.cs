using System.Security.Cryptography;

namespace CityWatch.AuditLog.Tests;

public sealed class HashingTests
{
    // The eight leaves of the RFC 6962 reference test tree (certificate-transparency test vectors).
    internal static readonly byte[][] ReferenceLeaves =
    [
        [],
        [0x00],
        [0x10],
        [0x20, 0x21],
        [0x30, 0x31],
        [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
    ];

    [Fact]
    public void Empty_tree_root_is_sha256_of_nothing() =>
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Convert.ToHexStringLower(Rfc6962.EmptyRoot()));

    [Fact]
    public void Leaf_hash_prefixes_zero_byte() =>
        Assert.Equal("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", Convert.ToHexStringLower(Rfc6962.HashLeaf([])));

    [Fact]
    public void Node_hash_prefixes_one_byte()
    {
        var left = SHA256.HashData("l"u8);
        var right = SHA256.HashData("r"u8);
        Assert.Equal(SHA256.HashData([0x01, .. left, .. right]), Rfc6962.HashChildren(left, right));
    }

    [Fact]
    public void Three_leaf_root_matches_hand_computation()
    {
        byte[] Leaf(byte b) => SHA256.HashData([0x00, b]);
        var expected = SHA256.HashData([0x01, .. SHA256.HashData([0x01, .. Leaf(1), .. Leaf(2)]), .. Leaf(3)]);
        var tree = new MerkleTree();
        tree.AppendData([1]);
        tree.AppendData([2]);
        tree.AppendData([3]);
        Assert.Equal(expected, tree.Root());
    }

    [Theory]
    [InlineData(1, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")]
    [InlineData(2, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]
    [InlineData(3, "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77")]
    [InlineData(4, "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    [InlineData(5, "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4")]
    [InlineData(6, "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef")]
    [InlineData(7, "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c")]
    [InlineData(8, "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
    public void Reference_tree_roots_match_golden_vectors(int size, string root)
    {
        var tree = new MerkleTree();
        foreach (var leaf in ReferenceLeaves.Take(size))
        {
            tree.AppendData(leaf);
        }

        Assert.Equal(root, Convert.ToHexStringLower(tree.Root()));
        Assert.Equal(root, Convert.ToHexStringLower(NaiveRfc6962.Mth(ReferenceLeaves.Take(size).ToArray())));
    }

    [Fact]
    public void Compact_range_rebuilt_from_stored_nodes_continues_the_same_tree()
    {
        var tree = new MerkleTree();
        for (var i = 0; i < 37; i++)
        {
            tree.AppendData([(byte)i]);
        }

        var range = CompactRange.FromNodes(tree.Size, tree);
        Assert.Equal(tree.Root(), range.Root());
        var leaf = Rfc6962.HashLeaf([99]);
        range.Append(leaf);
        tree.AppendLeafHash(leaf);
        Assert.Equal(tree.Root(), range.Root());
    }

    [Fact]
    public void Compact_range_reports_every_completed_node()
    {
        var range = new CompactRange();
        var nodes = new List<(int, long)>();
        for (var i = 0; i < 4; i++)
        {
            range.Append(Rfc6962.HashLeaf([(byte)i]), (level, index, _) => nodes.Add((level, index)));
        }

        Assert.Equal([(0, 0L), (0, 1L), (1, 0L), (0, 2L), (0, 3L), (1, 1L), (2, 0L)], nodes);
    }
}
