using System.Diagnostics;
using System.Globalization;
using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Data;
using CityWatch.Tests.Support;
using CityWatch.Keys;

namespace CityWatch.Tests.Audit;

public sealed class AuditCrashTests
{
    [Fact]
    public async Task Killing_the_writer_mid_append_loses_no_acknowledged_leaf()
    {
        var directory = TestPaths.NewScratchDirectory();
        var databasePath = Path.Combine(directory, "citywatch.db");
        var testAssembly = typeof(AuditCrashTests).Assembly.Location;
        var kek = KeyEncryptionKey.Generate();
        for (var round = 0; round < 3; round++)
        {
            var acknowledged = await RunAndKillAsync(testAssembly, databasePath, kek, 200 + (round * 150));
            Assert.True(acknowledged >= 0, "The child process acknowledged nothing.");

            var verification = AuditVerifier.VerifyDatabase(databasePath);
            Assert.True(verification.Ok, verification.Message);
            Assert.True(verification.Size > acknowledged, $"Acknowledged index {acknowledged} is not in the log of size {verification.Size}.");
        }

        var database = new CityWatchDatabase(databasePath, kek);
        // Stopped before the folder is deleted: its sequencer and WAL checkpointer open connections in the background.
        await using (var reopened = new AuditTrail(database, TimeProvider.System))
        {
            var next = await reopened.AppendAsync(new AuditRecord("after", AuditActions.Analysis, "ok"));
            Assert.Equal(next + 1, reopened.Size);
            var (checkpoint, _) = Checkpoint.Open(reopened.LatestCheckpoint(), NoteVerifier.Parse(reopened.VerifierKey));
            Assert.Equal(reopened.Size, checkpoint.Size);
            Assert.True(AuditVerifier.VerifyDatabase(databasePath).Ok);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    private static async Task<long> RunAndKillAsync(string testAssembly, string databasePath, KeyEncryptionKey kek, int acknowledgementsBeforeKill)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(testAssembly);
        start.Environment["DOTNET_STARTUP_HOOKS"] = testAssembly;
        start.Environment["CITYWATCH_AUDIT_CRASH_DB"] = databasePath;
        start.Environment[KeyEncryptionKey.EnvironmentVariable] = kek.ToBase64();
        using var child = new Process { StartInfo = start };
#pragma warning disable RS0030 // Tests may start processes; product code goes through ProcessRunner.
        child.Start();
#pragma warning restore RS0030
        long acknowledged = -1;
        var seen = 0;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while (seen < acknowledgementsBeforeKill && await child.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith("ack ", StringComparison.Ordinal))
                {
                    acknowledged = Math.Max(acknowledged, long.Parse(line[4..], CultureInfo.InvariantCulture));
                    seen++;
                }
            }
        }
        finally
        {
            child.Kill(entireProcessTree: true); // SIGKILL: no flush, no dispose, no finally in the child.
            await child.WaitForExitAsync();
        }

        Assert.True(seen >= acknowledgementsBeforeKill, "The child exited early: " + await child.StandardError.ReadToEndAsync());
        return acknowledged;
    }
}
