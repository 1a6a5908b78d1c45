using System.Text.Json;
using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Tests.Audit;

public sealed class AuditTrailTests
{
    [Fact]
    public async Task Appends_return_consecutive_indices_and_read_back_canonically()
    {
        using var city = await CityWithoutItsTrailAsync();
        await using var audit = new AuditTrail(city.Database, city.Time);
        var parameters = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" };
        var first = await audit.AppendAsync(new AuditRecord("alice", AuditActions.Analysis, "ok", Parameters: parameters, Commitments: ["c1"]));
        var second = await audit.AppendAsync(new AuditRecord("bob", AuditActions.AlertView, "ok", CaseId: "K-1"));

        Assert.Equal(first + 1, second);
        var acts = audit.Read(first, 10);
        Assert.Equal(2, acts.Count);
        Assert.Contains("\"Parameters\":{\"a\":\"1\",\"b\":\"2\"}", acts[0].Body, StringComparison.Ordinal);
        Assert.Equal("bob", JsonSerializer.Deserialize<AuditRecord>(acts[1].Body)!.Actor);
        Assert.Single(audit.Read(0, 10, AuditActions.AlertView));
    }

    [Fact]
    public async Task Concurrent_appends_all_land_and_the_checkpoint_covers_them()
    {
        using var city = await CityWithoutItsTrailAsync();
        var states = new[] { new CommittedState("watchlist 1", 3, Rfc6962.HashLeaf("w"u8)) };
        await using var audit = new AuditTrail(city.Database, city.Time, () => states);
        var indices = await Task.WhenAll(Enumerable.Range(0, 500).Select(i => audit.AppendAsync(new AuditRecord("t", AuditActions.Analysis, i.ToString(System.Globalization.CultureInfo.InvariantCulture)))));

        Assert.Equal(Enumerable.Range(0, 500).Select(i => (long)i), indices.Order());
        var (checkpoint, _) = Checkpoint.Open(audit.LatestCheckpoint(), NoteVerifier.Parse(audit.VerifierKey));
        Assert.Equal(audit.Size, checkpoint.Size);
        Assert.Contains($"state watchlist%201 3 {Convert.ToBase64String(states[0].RootHash)}", checkpoint.Extensions);
        var entry = audit.ReadEntries(17, 1)[0];
        var proof = audit.InclusionProof(17, checkpoint.Size);
        ProofVerifier.VerifyInclusion(17, checkpoint.Size, Rfc6962.HashLeaf(entry), proof, checkpoint.RootHash);
        Assert.True(AuditVerifier.VerifyDatabase(city.Database.Path).Ok);
    }

    [Fact]
    public async Task The_wal_reaches_the_database_file_soon_after_a_commit_without_waiting_for_a_thousand_pages()
    {
        using var city = await CityWithoutItsTrailAsync();
        await using var audit = new AuditTrail(city.Database, city.Time);
        for (var i = 0; i < 40; i++)
        {
            await audit.AppendAsync(new AuditRecord("t", AuditActions.Analysis, $"act {i}"));
        }

        // A few dozen pages of WAL: SQLite's own autocheckpoint would leave them there until 1,000. A copy of the
        // database file alone, without its WAL, holds every leaf once the background checkpointer has run.
        var copy = city.Database.Path + ".copy";
        var waited = System.Diagnostics.Stopwatch.StartNew();
        long copied = -1;
        while (copied != audit.Size && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(100);
            File.Copy(city.Database.Path, copy, overwrite: true);
            try
            {
                using var connection = new SqliteConnection($"Data Source={copy};Pooling=False");
                connection.Open();
                copied = connection.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_leaves");
            }
            catch (SqliteException)
            {
                copied = -1; // copied in the middle of a checkpoint's writes: try again
            }
        }

        Assert.Equal(audit.Size, copied);
    }

    [Fact]
    public async Task Reopened_log_continues_the_same_tree_and_stays_consistent()
    {
        using var city = await CityWithoutItsTrailAsync();
        var verifier = string.Empty;
        (long Size, byte[] Root) before;
        await using (var audit = new AuditTrail(city.Database, city.Time))
        {
            for (var i = 0; i < 300; i++)
            {
                await audit.AppendAsync(new AuditRecord("t", AuditActions.Analysis, "ok"));
            }

            verifier = audit.VerifierKey;
            var (checkpoint, _) = Checkpoint.Open(audit.LatestCheckpoint(), NoteVerifier.Parse(verifier));
            before = (checkpoint.Size, checkpoint.RootHash);
        }

        await using var reopened = new AuditTrail(city.Database, city.Time);
        Assert.Equal(verifier, reopened.VerifierKey);
        await reopened.AppendAsync(new AuditRecord("t", AuditActions.Analysis, "again"));
        var (after, _) = Checkpoint.Open(reopened.LatestCheckpoint(), NoteVerifier.Parse(verifier));
        ProofVerifier.VerifyConsistency(before.Size, after.Size, before.Root, after.RootHash, reopened.ConsistencyProof(before.Size, after.Size));
    }

    [Fact]
    public async Task Tiles_and_entry_bundles_rebuild_the_signed_root()
    {
        using var city = await CityWithoutItsTrailAsync();
        await using var audit = new AuditTrail(city.Database, city.Time);
        await Task.WhenAll(Enumerable.Range(0, 600).Select(_ => audit.AppendAsync(new AuditRecord("t", AuditActions.Match, "ok"))));
        var (checkpoint, _) = Checkpoint.Open(audit.LatestCheckpoint(), NoteVerifier.Parse(audit.VerifierKey));

        var tree = new MerkleTree();
        for (long n = 0; n * 256 < checkpoint.Size; n++)
        {
            var tile = TileId.ForTree(0, n, checkpoint.Size);
            var hashes = Tiles.Split(audit.ReadTile(tile));
            var entries = EntryBundle.Decode(audit.ReadEntryBundle(tile));
            Assert.Equal(hashes, entries.Select(e => Rfc6962.HashLeaf(e)));
            foreach (var hash in hashes)
            {
                tree.AppendLeafHash(hash);
            }
        }

        Assert.Equal(checkpoint.RootHash, tree.Root());
        Assert.Throws<NotFoundException>(() => audit.ReadTile(new TileId(0, 3, 256)));
    }

    [Theory]
    [InlineData("change")]
    [InlineData("delete")]
    [InlineData("swap")]
    public async Task Tampering_with_the_database_file_names_the_first_bad_index(string tamper)
    {
        using var city = await CityWithoutItsTrailAsync();
        await using (var audit = new AuditTrail(city.Database, city.Time))
        {
            for (var i = 0; i < 40; i++)
            {
                await audit.AppendAsync(new AuditRecord("t", AuditActions.Analysis, $"act {i}"));
            }
        }

        Assert.True(AuditVerifier.VerifyDatabase(city.Database.Path).Ok);
        using (var connection = new SqliteConnection($"Data Source={city.Database.Path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "DROP TRIGGER audit_leaves_no_update; DROP TRIGGER audit_leaves_no_delete;" + tamper switch
            {
                "change" => "UPDATE audit_leaves SET entry = CAST(replace(CAST(entry AS TEXT), 'act 23', 'act 99') AS BLOB) WHERE idx = 23;",
                "delete" => "DELETE FROM audit_leaves WHERE idx = 23;",
                _ => "UPDATE audit_leaves SET idx = -1 WHERE idx = 23; UPDATE audit_leaves SET idx = 23 WHERE idx = 31; UPDATE audit_leaves SET idx = 31 WHERE idx = -1;",
            };
            command.ExecuteNonQuery();
        }

        var result = AuditVerifier.VerifyDatabase(city.Database.Path);
        Assert.False(result.Ok);
        Assert.Equal(23, result.FirstBadIndex);
        Assert.StartsWith("First bad index 23", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rewriting_leaf_and_node_together_still_breaks_the_signed_checkpoint()
    {
        using var city = await CityWithoutItsTrailAsync();
        await using (var audit = new AuditTrail(city.Database, city.Time))
        {
            for (var i = 0; i < 10; i++)
            {
                await audit.AppendAsync(new AuditRecord("t", AuditActions.Analysis, $"act {i}"));
            }
        }

        using (var connection = new SqliteConnection($"Data Source={city.Database.Path};Pooling=False"))
        {
            connection.Open();
            TamperedLog.DropTriggers(connection);
            Assert.Equal(1, connection.Execute("UPDATE audit_leaves SET entry = X'7B7D' WHERE idx = 4"));
            TamperedLog.SetLeafHash(connection, 4, Rfc6962.HashLeaf("{}"u8));
        }

        var result = AuditVerifier.VerifyDatabase(city.Database.Path);
        Assert.False(result.Ok, result.Message);
        Assert.Contains("does not match its signed checkpoint", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hash_tile_above_the_leaves_that_was_altered_is_named_by_the_verifier()
    {
        using var city = await CityWithoutItsTrailAsync();
        await using (var audit = new AuditTrail(city.Database, city.Time))
        {
            await Task.WhenAll(Enumerable.Range(0, 600).Select(i => audit.AppendAsync(new AuditRecord("t", AuditActions.Analysis, $"act {i}"))));
        }

        // Tile 1/0 holds the tree-level-8 nodes (one per 256 leaves): the second is rewritten, the leaves are left alone.
        using (var connection = new SqliteConnection($"Data Source={city.Database.Path};Pooling=False"))
        {
            connection.Open();
            TamperedLog.DropTriggers(connection);
            var tile = connection.QuerySingle<byte[]>("SELECT hashes FROM audit_tiles WHERE level = 1 AND idx = 0");
            Assert.True(tile.Length >= 2 * Rfc6962.HashSize);
            tile[Rfc6962.HashSize] ^= 0xFF;
            connection.Execute("UPDATE audit_tiles SET hashes = @tile WHERE level = 1 AND idx = 0", new { tile });
        }

        var result = AuditVerifier.VerifyDatabase(city.Database.Path);
        Assert.False(result.Ok, result.Message);
        Assert.Equal(256, result.FirstBadIndex);
        Assert.Contains("hash tile was altered", result.Message, StringComparison.Ordinal);
    }

    // A scratch city whose own trail is shut, so the trail under test is the only sequencer over the file
    // (two would each log the other's records and sign checkpoints with their own committed state).
    private static async Task<TestCity> CityWithoutItsTrailAsync()
    {
        var city = new TestCity();
        await city.Audit.DisposeAsync();
        return city;
    }
}
