using System.Net;
using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Cli.Audit;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Audit;

/// <summary>
/// The server checks its log against the latest witnessed checkpoint as it starts. Each test takes a copy of a
/// witnessed server's data folder, tampers with the copy's database the way an insider with the file would
/// (the append-only triggers dropped first), starts a server on it and expects it to grant nothing, answer
/// 503 on /healthz with the reason, and record each refusal.
/// </summary>
public sealed class StartupCheckTests
{
    [Fact]
    public async Task Untampered_copy_starts_ready_and_grants_as_before()
    {
        var witnessed = await WitnessedServerAsync();
        var copy = RunningServer.CopyDataFolder(witnessed.Data);
        await using (var server = await StartAsync(copy, witnessed))
        {
            Assert.Null(server.Services.GetRequiredService<AuditTrail>().StartupFailure);
            using var health = await server.Anonymous.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        Cleanup(witnessed, copy);
    }

    [Fact]
    public async Task Log_cut_back_below_the_witnessed_checkpoint_refuses_every_grant()
    {
        var witnessed = await WitnessedServerAsync();
        var copy = RunningServer.CopyDataFolder(witnessed.Data);
        Tamper(copy, connection => CutBack(connection, witnessed.Size - 2));

        await AssertRefusesAsync(copy, witnessed, "shorter than the checkpoint witness");
        Cleanup(witnessed, copy);
    }

    [Fact]
    public async Task Log_cut_back_with_its_witness_record_deleted_is_caught_by_the_witness_folder()
    {
        var witnessed = await WitnessedServerAsync();
        var copy = RunningServer.CopyDataFolder(witnessed.Data);
        Tamper(copy, connection =>
        {
            CutBack(connection, witnessed.Size - 2);
            connection.Execute("DELETE FROM audit_witnessed");
        });

        await AssertRefusesAsync(copy, witnessed with { UseState = true }, "the witness in");
        Cleanup(witnessed, copy);
    }

    [Fact]
    public async Task Leaf_rewritten_with_its_stored_hash_refuses_every_grant()
    {
        var witnessed = await WitnessedServerAsync();
        var copy = RunningServer.CopyDataFolder(witnessed.Data);
        Tamper(copy, connection =>
        {
            var entry = connection.QuerySingle<byte[]>("SELECT entry FROM audit_leaves WHERE idx = 3");
            var altered = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(entry).Replace("\"Actor\":\"", "\"Actor\":\"x", StringComparison.Ordinal));
            connection.Execute("UPDATE audit_leaves SET entry = @altered WHERE idx = 3", new { altered });
            TamperedLog.SetLeafHash(connection, 3, Rfc6962.HashLeaf(altered));
        });

        await AssertRefusesAsync(copy, witnessed, "does not match");
        Cleanup(witnessed, copy);
    }

    [Fact]
    public async Task Forked_log_longer_than_the_witnessed_one_refuses_every_grant()
    {
        var witnessed = await WitnessedServerAsync();
        var copy = RunningServer.CopyDataFolder(witnessed.Data);
        Tamper(copy, connection => CutBack(connection, witnessed.Size - 2));
        // Another history from there on, signed with the log's own key (the operator holds the KEK).
        var database = new CityWatch.Data.CityWatchDatabase(Path.Combine(copy, "citywatch.db"), TestPaths.KekFor(copy));
        await using (var trail = new AuditTrail(database, TimeProvider.System))
        {
            for (var i = 0; i < 10; i++)
            {
                await trail.AppendAsync(new AuditRecord("rewritten", AuditActions.Analysis, $"another history {i}"));
            }

            Assert.True(trail.Size > witnessed.Size);
        }

        await AssertRefusesAsync(copy, witnessed, "forked");
        Cleanup(witnessed, copy);
    }

    private sealed record Witnessed(string Data, string WitnessDirectory, string WitnessKey, long Size, bool UseState = false);

    // A server with one witness: the witness cosigns, the server logs a few more acts, then stops.
    private static async Task<Witnessed> WitnessedServerAsync()
    {
        var data = TestPaths.NewScratchDirectory();
        var witnessDirectory = TestPaths.NewScratchDirectory();
        using var witnessKey = WitnessCommand.LoadOrCreateKey(witnessDirectory, "witness.test/w1");
        var verifierKey = new Cosigner(witnessKey).VerifierKey;
        long size;
        await using (var server = await RunningServer.StartAsync(dataDirectory: data, witnessKeys: [verifierKey]))
        {
            using var http = new HttpClient();
            var output = new StringWriter();
            Assert.Equal(0, await WitnessCommand.RunOnceAsync(http, server.Address, witnessDirectory, witnessKey, null, TimeProvider.System, output, CancellationToken.None));
            var trail = server.Services.GetRequiredService<AuditTrail>();
            size = Assert.Single(trail.Witnessed()).Size;
            Assert.Equal(size, WitnessState.Read(witnessDirectory)!.Size);
            for (var i = 0; i < 3; i++)
            {
                await trail.AppendAsync(new AuditRecord("test", AuditActions.Analysis, $"after the witness {i}"));
            }
        }

        return new Witnessed(data, witnessDirectory, verifierKey, size);
    }

    private static Task<RunningServer> StartAsync(string data, Witnessed witnessed) =>
        RunningServer.StartAsync(dataDirectory: data, witnessKeys: [witnessed.WitnessKey], witnessStates: witnessed.UseState ? [witnessed.WitnessDirectory] : null);

    private static async Task AssertRefusesAsync(string data, Witnessed witnessed, string reason)
    {
        await using var server = await StartAsync(data, witnessed);
        var failure = server.Services.GetRequiredService<AuditTrail>().StartupFailure;
        Assert.NotNull(failure);
        Assert.Contains(reason, failure, StringComparison.Ordinal);

        using var health = await server.Anonymous.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        using var problem = System.Text.Json.JsonDocument.Parse(await health.Content.ReadAsStringAsync());
        Assert.Contains("audit log failed its start-up check", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var policy = server.Services.GetRequiredService<PolicyEngine>();
        foreach (var purpose in new[] { ProcessingPurpose.Live, ProcessingPurpose.Retrospective, ProcessingPurpose.SubjectAccess })
        {
            var decision = await policy.AuthorizeAsync(new PolicyRequest("operator", purpose, null, [1], CaseId: "SAR-1"));
            Assert.False(decision.IsGranted);
            Assert.StartsWith("the audit log failed its start-up check", decision.RefusalReason, StringComparison.Ordinal);
        }

        var refusals = server.Services.GetRequiredService<AuditTrail>().Read(0, 100_000, AuditActions.PolicyRefusal);
        Assert.Equal(3, refusals.Count(r => r.Outcome.StartsWith("the audit log failed its start-up check", StringComparison.Ordinal)));
    }

    private static void Tamper(string data, Action<SqliteConnection> change)
    {
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(data, "citywatch.db")}"))
        {
            connection.Open();
            TamperedLog.DropTriggers(connection);
            change(connection);
        }

        SqliteConnection.ClearAllPools();
    }

    // Everything above size k goes: leaves, the tree over them, the checkpoints and cosignatures beyond k.
    private static void CutBack(SqliteConnection connection, long k)
    {
        TamperedLog.CutTreeBack(connection, k);
        connection.Execute("DELETE FROM audit_checkpoints WHERE size > @k", new { k });
        connection.Execute("DELETE FROM audit_cosignatures WHERE size > @k", new { k });
    }

    private static void Cleanup(Witnessed witnessed, string copy)
    {
        SqliteConnection.ClearAllPools();
        foreach (var directory in new[] { witnessed.Data, copy })
        {
            Directory.Delete(directory, recursive: true);
            TestPaths.DeleteKekOf(directory);
        }

        Directory.Delete(witnessed.WitnessDirectory, recursive: true);
    }
}
