using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;

namespace CityWatch.Tests.Data;

/// <summary>
/// The audit trail on both engines: the outbox staged in the caller's transaction, the group-commit
/// sequencer, the tree nodes and signed checkpoints, each test on an empty database opened with a KEK (the
/// checkpoint signing key is wrapped in its <c>wrapped_keys</c>). The log is checked with
/// <see cref="AuditVerifier.Verify"/> over a connection of the same engine.
/// </summary>
public abstract class AuditTrailEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    private async Task<CityWatchDatabase> MigratedAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return database;
    }

    private static AuditRecord Act(string outcome) => new("officer:ana", AuditActions.Analysis, outcome, LegalBasisId: 7, CaseId: "case-1");

    private static AuditVerification Verify(CityWatchDatabase database, AuditTrail trail)
    {
        using var connection = database.Connect();
        return AuditVerifier.Verify(connection, NoteVerifier.Parse(trail.VerifierKey), []);
    }

    [Fact]
    public async Task Appended_records_get_consecutive_leaves_read_back_exactly_and_the_log_verifies()
    {
        var database = await MigratedAsync();
        await using var trail = new AuditTrail(database, Time);
        Assert.Null(trail.StartupFailure);
        var first = trail.Size;

        var indices = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            indices.Add(await trail.AppendAsync(Act($"appended {i}")));
        }

        Assert.Equal(Enumerable.Range(0, 5).Select(i => first + i), indices);
        Assert.Equal(first + 5, trail.Size);
        var acts = trail.Read(first, 100);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"appended {i}"), acts.Select(a => a.Outcome));
        Assert.All(acts, a => Assert.Equal((7L, "case-1", "officer:ana"), (a.LegalBasisId!.Value, a.CaseId!, a.Actor)));
        Assert.Equal(5, trail.Read(0, 100, AuditActions.Analysis).Count);
        var verification = Verify(database, trail);
        Assert.True(verification.Ok, verification.Message);
        Assert.Equal(first + 5, verification.Size);
    }

    [Fact]
    public async Task Many_concurrent_appends_each_land_exactly_once_with_distinct_leaves_and_the_log_verifies()
    {
        var database = await MigratedAsync();
        await using var trail = new AuditTrail(database, Time);
        var first = trail.Size;
        const int callers = 500;

        // Started together, so the writer finds many pending and stages them in shared transactions.
        var indices = await Task.WhenAll(Enumerable.Range(0, callers).Select(i => Task.Run(() => trail.AppendAsync(Act($"concurrent {i}")))));

        Assert.Equal(callers, indices.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, callers).Select(i => first + i), indices.Order());
        var acts = trail.Read(first, callers + 10);
        Assert.Equal(callers, acts.Count);
        // Each caller's index is the leaf that holds its own record, and every record is there once.
        for (var i = 0; i < callers; i++)
        {
            Assert.Equal($"concurrent {i}", acts[(int)(indices[i] - first)].Outcome);
        }

        var verification = Verify(database, trail);
        Assert.True(verification.Ok, verification.Message);
        Assert.Equal(first + callers, verification.Size);
    }

    [Fact]
    public async Task A_record_the_limits_refuse_fails_only_its_own_caller_among_concurrent_appends()
    {
        var database = await MigratedAsync();
        await using var trail = new AuditTrail(database, Time);
        var first = trail.Size;

        var good = Enumerable.Range(0, 50).Select(i => Task.Run(() => trail.AppendAsync(Act($"fine {i}")))).ToList();
        var refused = Task.Run(() => trail.AppendAsync(Act(new string('x', AuditRecordLimits.Outcome + 1))));
        var more = Enumerable.Range(50, 50).Select(i => Task.Run(() => trail.AppendAsync(Act($"fine {i}")))).ToList();

        await Assert.ThrowsAsync<InvalidRequestException>(() => refused);
        var indices = await Task.WhenAll(good.Concat(more));
        Assert.Equal(100, indices.Distinct().Count());
        var acts = trail.Read(first, 200);
        Assert.Equal(100, acts.Count);
        Assert.DoesNotContain(acts, a => a.Outcome.StartsWith('x'));
        Assert.True(Verify(database, trail).Ok);
    }

    [Fact]
    public async Task A_record_staged_in_a_transaction_that_rolls_back_leaves_nothing_and_a_committed_one_is_logged()
    {
        var database = await MigratedAsync();
        await using var trail = new AuditTrail(database, Time);
        var before = trail.Size;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            trail.Stage(connection, transaction, Act("never happened"));
            transaction.Rollback();
        }

        StagedRecord staged;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            staged = trail.Stage(connection, transaction, Act("happened"));
            transaction.Commit();
        }

        var index = await trail.CommittedAsync(staged);
        await trail.FlushAsync();

        Assert.Equal(before, index);
        Assert.Equal(before + 1, trail.Size);
        Assert.Equal(["happened"], trail.Read(before, 100).Select(a => a.Outcome));
        using var check = database.Connect();
        Assert.Equal(0, check.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_outbox"));
        Assert.True(Verify(database, trail).Ok);
    }

    [Fact]
    public async Task Concurrent_stagers_on_several_connections_are_each_logged_once_in_one_tree()
    {
        var database = await MigratedAsync();
        await using var trail = new AuditTrail(database, Time, options: new AuditLogOptions { MaxBatch = 16 });
        var before = trail.Size;
        const int Writers = 6;
        const int Each = 20;

        var indices = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var logged = new List<long>();
            for (var i = 0; i < Each; i++)
            {
                StagedRecord staged;
                using (var connection = database.Connect())
                using (var transaction = connection.BeginTransaction())
                {
                    staged = trail.Stage(connection, transaction, Act($"writer {w} act {i}"));
                    transaction.Commit();
                }

                logged.Add(await trail.CommittedAsync(staged));
            }

            return logged;
        })));

        var all = indices.SelectMany(i => i).Order().ToList();
        Assert.Equal(Enumerable.Range(0, Writers * Each).Select(i => before + i), all);
        var outcomes = trail.Read(before, 1000).Select(a => a.Outcome).ToList();
        Assert.Equal(Writers * Each, outcomes.Distinct().Count());
        Assert.Equal(Writers * Each, outcomes.Count);
        var verification = Verify(database, trail);
        Assert.True(verification.Ok, verification.Message);
    }

    [Fact]
    public async Task Inclusion_and_consistency_proofs_from_the_stored_nodes_check_against_signed_checkpoints()
    {
        var database = await MigratedAsync();
        await using var trail = new AuditTrail(database, Time);
        var logKey = NoteVerifier.Parse(trail.VerifierKey);
        for (var i = 0; i < 7; i++)
        {
            await trail.AppendAsync(Act($"early {i}"));
        }

        var (older, _) = Checkpoint.Open(trail.LatestCheckpoint(), logKey);
        for (var i = 0; i < 12; i++)
        {
            await trail.AppendAsync(Act($"later {i}"));
        }

        var (latest, _) = Checkpoint.Open(trail.LatestCheckpoint(), logKey);
        Assert.Equal(trail.Size, latest.Size);
        for (var index = 0L; index < latest.Size; index++)
        {
            var leaf = Rfc6962.HashLeaf(trail.ReadEntries(index, 1)[0]);
            ProofVerifier.VerifyInclusion(index, latest.Size, leaf, trail.InclusionProof(index, latest.Size), latest.RootHash);
        }

        ProofVerifier.VerifyConsistency(older.Size, latest.Size, older.RootHash, latest.RootHash, trail.ConsistencyProof(older.Size, latest.Size));
        var wrongLeaf = Rfc6962.HashLeaf("not logged"u8);
        Assert.ThrowsAny<AuditLogException>(() => ProofVerifier.VerifyInclusion(0, latest.Size, wrongLeaf, trail.InclusionProof(0, latest.Size), latest.RootHash));
    }

    [Fact]
    public async Task The_leaves_refuse_update_and_delete_and_a_hash_tile_only_grows()
    {
        var database = await MigratedAsync();
        await using var trail = new AuditTrail(database, Time);
        await trail.AppendAsync(Act("kept"));
        var before = trail.ReadTile(TileId.ForTree(0, 0, trail.Size));

        using (var connection = database.Connect())
        {
            Assert.ThrowsAny<System.Data.Common.DbException>(() => connection.Execute("UPDATE audit_leaves SET action = 'changed'"));
            Assert.ThrowsAny<System.Data.Common.DbException>(() => connection.Execute("DELETE FROM audit_leaves"));
            Assert.ThrowsAny<System.Data.Common.DbException>(() => connection.Execute("DELETE FROM audit_tiles"));
            var tile = connection.QuerySingle<byte[]>("SELECT hashes FROM audit_tiles WHERE level = 0 AND idx = 0");
            var longer = tile.Concat(new byte[Rfc6962.HashSize]).ToArray();
            var rewritten = longer.ToArray();
            rewritten[0] ^= 1;
            foreach (var hashes in new[] { tile[..^Rfc6962.HashSize], rewritten, tile.Concat(new byte[8192]).ToArray() })
            {
                Assert.ThrowsAny<System.Data.Common.DbException>(() =>
                    connection.Execute("UPDATE audit_tiles SET hashes = @hashes WHERE level = 0 AND idx = 0", new { hashes }));
            }
        }

        // Growing is what the sequencer does: the next leaves extend the same tile.
        await trail.AppendAsync(Act("next"));
        var after = trail.ReadTile(TileId.ForTree(0, 0, trail.Size));
        Assert.True(after.Length > before.Length);
        Assert.Equal(before, after[..before.Length]);
        Assert.Equal(["kept", "next"], trail.Read(0, 100).Where(a => a.Action == AuditActions.Analysis).Select(a => a.Outcome));
        var verification = Verify(database, trail);
        Assert.True(verification.Ok, verification.Message);
    }

    [Fact]
    public async Task A_log_of_audit_version_1_upgrades_in_place_and_every_commitment_still_opens()
    {
        var database = await MigratedAsync();
        long index;
        await using (var trail = new AuditTrail(database, Time))
        {
            index = await trail.AppendAsync(Act("before the upgrade"));
        }

        // The log as audit version 1 kept it: one openings row per commitment, keyed by the commitment, and one row per tree node.
        using (var connection = database.Connect())
        {
            AuditLayouts.PutVersion1Back(connection, database.Dialect);
            connection.Execute("UPDATE schema_versions SET version = 1 WHERE feature = 'audit'");
        }

        await using var reopened = new AuditTrail(database, Time);
        Assert.Null(reopened.StartupFailure);
        Assert.Equal(4, database.SchemaVersions()["audit"]);
        using (var connection = database.Connect())
        using (var reader = connection.ExecuteReader("SELECT * FROM audit_leaves"))
        {
            // Version 4 dropped the columns that repeated the entry.
            Assert.Equal(["idx", "action", "entry"], Enumerable.Range(0, reader.FieldCount).Select(reader.GetName));
        }

        Assert.Equal([("Actor", "officer:ana"), ("CaseId", "case-1")], reopened.Openings(index).Select(o => (o.Field, o.Value)));
        var act = reopened.Read(index, 1).Single();
        Assert.Equal(("officer:ana", "case-1", "before the upgrade"), (act.Actor, act.CaseId!, act.Outcome));
        var after = await reopened.AppendAsync(Act("after the upgrade"));
        Assert.Equal(2, reopened.Openings(after).Count);
        var verification = Verify(database, reopened);
        Assert.True(verification.Ok, verification.Message);
    }

    [Fact]
    public async Task A_second_open_finds_the_same_signed_log_and_continues_it()
    {
        var kek = KeyEncryptionKey.Generate();
        var database = await NewDatabaseAsync(kek);
        database.Migrate(Time);
        string verifierKey;
        long size;
        await using (var trail = new AuditTrail(database, Time))
        {
            await trail.AppendAsync(Act("before the restart"));
            verifierKey = trail.VerifierKey;
            size = trail.Size;
        }

        await using var reopened = new AuditTrail(database, Time);
        Assert.Null(reopened.StartupFailure);
        Assert.Equal(verifierKey, reopened.VerifierKey);
        Assert.Equal(size, await reopened.AppendAsync(Act("after the restart")));
        Assert.True(Verify(database, reopened).Ok);
    }
}

public sealed class AuditTrailOnSqliteTests : AuditTrailEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class AuditTrailOnPostgresTests(PostgresFixture postgres) : AuditTrailEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}
