using CityWatch.Audit;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Audit;

/// <summary>
/// `citywatch witness` as its own process, and `citywatch audit verify` against what it cosigned: a copy of the
/// database cut back below the witnessed checkpoint passes the plain check (it is internally consistent) and
/// fails against the witness.
/// </summary>
public sealed class WitnessCliTests
{
    [Fact]
    public async Task Verify_against_the_witness_fails_on_a_log_cut_back_below_what_it_cosigned()
    {
        var data = TestPaths.NewScratchDirectory();
        var witnessDirectory = Path.Combine(TestPaths.NewScratchDirectory(), "witness");
        var (keyExit, keyOutput, _) = await CliRunner.RunAsync("witness", "--dir", witnessDirectory, "--name", "witness.test/cli", "--print-key");
        Assert.Equal(0, keyExit);
        var witnessKey = keyOutput.Trim();
        string logKey;
        await using (var server = await RunningServer.StartAsync(dataDirectory: data, witnessKeys: [witnessKey]))
        {
            var (exit, output, errors) = await CliRunner.RunAsync("witness", "--dir", witnessDirectory, "--log", server.Address.ToString(), "--interval", "0");
            Assert.True(exit == 0, output + string.Join('\n', errors));
            Assert.Contains("Cosigned", output, StringComparison.Ordinal);
            var trail = server.Services.GetRequiredService<AuditTrail>();
            logKey = trail.VerifierKey;
            Assert.Equal(WitnessState.Read(witnessDirectory)!.Size, Assert.Single(trail.Witnessed()).Size);

            var (urlExit, urlOutput, urlErrors) = await CliRunner.RunAsync("audit", "verify", "--url", server.Address.ToString(), "--key", logKey, "--witness-key", witnessKey);
            Assert.True(urlExit == 0, urlOutput + string.Join('\n', urlErrors));
            await trail.AppendAsync(new AuditRecord("test", AuditActions.Analysis, "after the witness"));
        }

        var size = WitnessState.Read(witnessDirectory)!.Size;
        var database = Path.Combine(data, "citywatch.db");
        Assert.Equal(0, (await CliRunner.RunAsync("audit", "verify", "--db", database, "--witness-state", witnessDirectory)).ExitCode);

        using (var connection = new SqliteConnection($"Data Source={database}"))
        {
            connection.Open();
            TamperedLog.DropTriggers(connection);
            TamperedLog.CutTreeBack(connection, size - 1);
            connection.Execute("DELETE FROM audit_checkpoints WHERE size > @k", new { k = size - 1 });
            connection.Execute("DELETE FROM audit_witnessed");
        }

        SqliteConnection.ClearAllPools();
        var (cutExit, cutOutput, _) = await CliRunner.RunAsync("audit", "verify", "--db", database, "--witness-state", witnessDirectory);
        Assert.Equal(1, cutExit);
        Assert.Contains("cut back", cutOutput, StringComparison.Ordinal);
        var (keyedExit, keyedOutput, _) = await CliRunner.RunAsync("audit", "verify", "--db", database, "--witness-key", witnessKey);
        Assert.Equal(1, keyedExit);
        Assert.Contains("keeps no checkpoint cosigned", keyedOutput, StringComparison.Ordinal);

        Directory.Delete(data, recursive: true);
        TestPaths.DeleteKekOf(data);
        Directory.Delete(Path.GetDirectoryName(witnessDirectory)!, recursive: true);
    }

    [Theory]
    [InlineData("audit", "verify", "--url", "not a url")]
    [InlineData("audit", "verify", "--url", "ftp://127.0.0.1/")]
    [InlineData("witness", "--dir", "{dir}", "--log", "127.0.0.1:5080")]
    public async Task A_bad_url_is_one_line_and_a_non_zero_exit(params string[] arguments)
    {
        var directory = TestPaths.NewScratchDirectory();
        var (exit, output, errors) = await CliRunner.RunAsync([.. arguments.Select(a => a.Replace("{dir}", directory, StringComparison.Ordinal))]);
        Assert.NotEqual(0, exit);
        var line = Assert.Single(errors);
        Assert.Contains("is not an http:// or https:// URL", line, StringComparison.Ordinal);
        Assert.DoesNotContain("System.Uri", output + line, StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }
}
