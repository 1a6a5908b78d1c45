using System.Diagnostics;
using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace CityWatch.Tests.Audit;

/// <summary>
/// Two servers on one PostgreSQL database (two <see cref="AuditTrail"/>s, each over its own connection pool):
/// only the holder of the advisory lock <see cref="AuditTrail.SequencerLockKey"/> sequences, both stage, and
/// when the leader's lock connection is terminated the standby takes over the same tree. Every record is
/// logged exactly once and the log verifies. The takeover time is printed, not asserted.
/// </summary>
public sealed class AuditStandbyTests(PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>, IDisposable
{
    // A guard against a hang only; the takeover is measured and printed.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly PostgresDatabases _databases = new(postgres);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    public void Dispose() => _databases.Dispose();

    private async Task<(CityWatchDatabase A, CityWatchDatabase B)> TwoServersAsync()
    {
        var kek = KeyEncryptionKey.Generate();
        var connectionString = await _databases.NewConnectionStringAsync();
        var a = _databases.Open(connectionString, kek);
        a.Migrate(_time);
        return (a, _databases.Open(connectionString, kek));
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < Patience, "gave up waiting");
            await Task.Delay(20);
        }
    }

    private static AuditRecord Act(string outcome) => new("system:test", AuditActions.Analysis, outcome);

    private static Task<long[]> AppendAllAsync(AuditTrail trail, string prefix, int count) =>
        Task.WhenAll(Enumerable.Range(0, count).Select(i => trail.AppendAsync(Act($"{prefix} {i}")))).WaitAsync(Patience);

    private static void AssertEachOnceAndVerified(CityWatchDatabase database, AuditTrail trail, IReadOnlyCollection<long> indices, int expected)
    {
        Assert.Equal(expected, indices.Count);
        Assert.Equal(expected, indices.Distinct().Count());
        var acts = trail.Read(0, 10_000);
        Assert.Equal(Enumerable.Range(0, acts.Count).Select(i => (long)i), acts.Select(a => a.Index));
        var outcomes = acts.Where(a => a.Action == AuditActions.Analysis).Select(a => a.Outcome).ToList();
        Assert.Equal(expected, outcomes.Count);
        Assert.Equal(expected, outcomes.Distinct().Count());
        using var connection = database.Connect();
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_outbox"));
        var verification = AuditVerifier.Verify(connection, NoteVerifier.Parse(trail.VerifierKey), []);
        Assert.True(verification.Ok, verification.Message);
    }

    [Fact]
    public async Task Records_staged_on_two_servers_are_all_sequenced_once_by_the_leader()
    {
        var (databaseA, databaseB) = await TwoServersAsync();
        await using var a = new AuditTrail(databaseA, _time);
        await UntilAsync(() => a.IsSequencer);
        await using var b = new AuditTrail(databaseB, _time);
        Assert.Equal(a.VerifierKey, b.VerifierKey);

        var logged = await Task.WhenAll(AppendAllAsync(a, "on a", 40), AppendAllAsync(b, "on b", 40));

        Assert.True(a.IsSequencer);
        Assert.False(b.IsSequencer);
        AssertEachOnceAndVerified(databaseA, a, [.. logged.SelectMany(l => l)], 80);
        using var connection = databaseA.Connect();
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_sequenced")); // b collected what a logged for it
        Assert.Equal(1, connection.ExecuteScalar<long>(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = @key",
            new { key = AuditTrail.SequencerLockKey }));
    }

    [Fact]
    public async Task When_the_leaders_lock_connection_dies_the_standby_takes_over_the_same_tree()
    {
        var (databaseA, databaseB) = await TwoServersAsync();
        await using var a = new AuditTrail(databaseA, _time);
        await UntilAsync(() => a.IsSequencer);
        await using var b = new AuditTrail(databaseB, _time);
        var before = await Task.WhenAll(AppendAllAsync(a, "before on a", 20), AppendAllAsync(b, "before on b", 20));
        Assert.False(b.IsSequencer);

        using (var connection = databaseA.Connect())
        {
            var leader = connection.QuerySingle<int>(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = @key",
                new { key = AuditTrail.SequencerLockKey });
            Assert.True(connection.ExecuteScalar<bool>("SELECT pg_terminate_backend(@leader)", new { leader }));
        }

        var sinceKill = Stopwatch.StartNew();
        var afterOnB = AppendAllAsync(b, "after on b", 20);
        var afterOnA = AppendAllAsync(a, "after on a", 20);
        await UntilAsync(() => b.IsSequencer);
        var takeover = sinceKill.Elapsed;
        var after = await Task.WhenAll(afterOnB, afterOnA);
        var firstLogged = sinceKill.Elapsed;

        output.WriteLine($"takeover: standby became the sequencer {takeover.TotalSeconds:F2} s after pg_terminate_backend; the 40 records staged after the kill were all logged {firstLogged.TotalSeconds:F2} s after it");
        Assert.False(a.IsSequencer);
        AssertEachOnceAndVerified(databaseB, b, [.. before.SelectMany(l => l), .. after.SelectMany(l => l)], 80);
        Assert.True(after.SelectMany(l => l).Min() > before.SelectMany(l => l).Max());
    }

    [Fact]
    public async Task A_leader_that_stops_hands_the_sequencer_to_the_standby()
    {
        var (databaseA, databaseB) = await TwoServersAsync();
        var a = new AuditTrail(databaseA, _time);
        await UntilAsync(() => a.IsSequencer);
        await using var b = new AuditTrail(databaseB, _time);
        var before = await AppendAllAsync(a, "before", 10);

        await a.DisposeAsync(); // releases the lock (a pooled connection would otherwise keep it)
        await UntilAsync(() => b.IsSequencer);
        var after = await AppendAllAsync(b, "after", 10);

        AssertEachOnceAndVerified(databaseB, b, [.. before, .. after], 20);
    }
}
