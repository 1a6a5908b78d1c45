namespace CityWatch.AuditLog.Tests;

public sealed class TileTests
{
    [Theory]
    [InlineData(0, 1234067L, 256, "tile/0/x001/x234/067")]
    [InlineData(0, 0L, 256, "tile/0/000")]
    [InlineData(1, 1000L, 256, "tile/1/x001/000")]
    [InlineData(2, 5L, 17, "tile/2/005.p/17")]
    public void Tile_paths_follow_tlog_tiles(int level, long index, int width, string path)
    {
        var tile = new TileId(level, index, width);
        Assert.Equal(path, tile.Path());
        Assert.Equal(tile, TileId.Parse(path));
    }

    [Fact]
    public void Entry_bundle_paths_use_the_entries_level()
    {
        var tile = new TileId(0, 1234067, 3);
        Assert.Equal("tile/entries/x001/x234/067.p/3", tile.EntriesPath());
        Assert.Equal(new TileId(-1, 1234067, 3), TileId.Parse(tile.EntriesPath()));
    }

    [Theory]
    [InlineData("tile/0/1")]
    [InlineData("tile/0/x000/001")]
    [InlineData("tile/0/001.p/0")]
    [InlineData("tile/0/001.p/256")]
    [InlineData("tile/x/001")]
    [InlineData("tiles/0/001")]
    [InlineData("tile/0/001/002")]
    public void Bad_tile_paths_are_rejected(string path) =>
        Assert.Throws<MalformedTileException>(() => TileId.Parse(path));

    [Fact]
    public void Tiles_hold_the_nodes_of_their_level()
    {
        var tree = new MerkleTree();
        for (var i = 0; i < 70000; i++)
        {
            tree.AppendLeafHash(Rfc6962.HashLeaf(BitConverter.GetBytes(i)));
        }

        var last = TileId.ForTree(0, 273, tree.Size);
        Assert.Equal(70000 - (273 * 256), last.Width);
        var content = Tiles.Split(Tiles.Read(tree, last));
        Assert.Equal(tree.GetNode(0, 273 * 256), content[0]);

        var upper = TileId.ForTree(1, 0, tree.Size);
        Assert.Equal(256, upper.Width);
        Assert.Equal(tree.GetNode(8, 255), Tiles.Split(Tiles.Read(tree, upper))[255]);
        Assert.Equal(new TileId(2, 0, 1), TileId.ForTree(2, 0, tree.Size));
        Assert.Throws<MalformedTileException>(() => TileId.ForTree(0, 274, tree.Size));
    }

    [Fact]
    public void Every_node_is_hashed_from_the_tile_that_holds_its_subtree()
    {
        var tree = new MerkleTree();
        for (var i = 0; i < 70000; i++)
        {
            tree.AppendLeafHash(Rfc6962.HashLeaf(BitConverter.GetBytes(i)));
        }

        foreach (var (level, index) in new[] { (0, 0L), (0, 69999L), (3, 17L), (7, 545L), (8, 200L), (9, 100L), (15, 1L), (16, 0L) })
        {
            var holding = Tiles.Holding(level, index);
            Assert.Equal(level / 8, holding.Level);
            var stored = Tiles.Read(tree, TileId.ForTree(holding.Level, holding.Index, tree.Size));
            Assert.Equal(tree.GetNode(level, index), Tiles.Node(stored, level, index));
        }

        // Node (6, 1093) would cover leaves 69952..70015: the last partial tile holds only 69888..69999.
        var partial = Tiles.Read(tree, TileId.ForTree(0, 273, tree.Size));
        Assert.Throws<MissingNodeException>(() => Tiles.Node(partial, 6, 1093));
        Assert.Throws<MissingNodeException>(() => Tiles.Node(partial.AsSpan(0, 31), 0, 273 * 256));
    }

    [Fact]
    public void Entry_bundles_round_trip()
    {
        byte[][] entries = [[], [1, 2, 3], new byte[300]];
        var bundle = EntryBundle.Encode(entries);
        Assert.Equal(2 + 5 + 302, bundle.Length);
        Assert.Equal(entries, EntryBundle.Decode(bundle));
        Assert.Throws<MalformedTileException>(() => EntryBundle.Decode(bundle.AsSpan(0, bundle.Length - 1)));
    }
}
