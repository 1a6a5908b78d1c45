using System.Globalization;
using System.Text.Json;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// <c>citywatch sim</c> with real processes: the CLI (a child), its nats-server and its worker processes. A small city
/// with one worker killed by SIGKILL: every camera runs, the killed worker's cameras come back on the survivors within
/// the lease TTL and a little, no candidate JetStream acknowledged is left unconsumed, and nothing is left running. A
/// small city with nats-server stopped (SIGTERM) or crashed (SIGKILL) for 12 s: the workers stop every camera, analyse
/// nothing until it is back, then run every camera again; everything JetStream acknowledged as stored is still in its
/// streams afterwards, and nothing acknowledged is left unconsumed. A small city whose server (its own
/// process) is killed by SIGKILL for 12 s and started again on the same folder: every grant lapses within its lifetime,
/// no frame is analysed without one, and once the server is back every camera holds a grant and analyses again.
/// Every link to nats-server is TLS with a CA of the run's, and no child's command line holds a NATS password.
/// </summary>
public sealed class SimTests
{
    [Fact]
    public async Task A_small_sim_with_a_worker_killed_moves_its_cameras_and_loses_no_acknowledged_candidate()
    {
        using var stop = new CancellationTokenSource();
        var watching = Task.Run(() => WatchCommandLinesAsync(stop.Token));
        var (exit, output, errors) = await CliRunner.RunAsync(
            "sim", "--cameras", "12", "--workers", "3", "--seconds", "8", "--kill-worker", "--json", "--lease-ttl-s", "4",
            "--models", TestPaths.Models, "--assets", TestPaths.SharedData);
        await stop.CancelAsync();
        var seen = await watching;
        Assert.True(exit == 0, $"sim exited {exit}: {string.Join(" | ", errors.TakeLast(6))}");

        // Each worker and the server got its NATS password and the CA in its environment, and no process's command
        // line (what ps shows anyone) held a password, nor a URL with credentials in it.
        var passwords = seen.Passwords;
        Assert.True(passwords.Count >= 4, $"expected the server's and 3 workers' passwords in their environments, saw {passwords.Count}");
        Assert.True(seen.CaFiles.Count > 0 && seen.CaFiles.All(ca => ca.EndsWith("nats-ca.pem", StringComparison.Ordinal)), string.Join(", ", seen.CaFiles));
        Assert.True(seen.CommandLines.Count >= 5, string.Join(" | ", seen.CommandLines));
        foreach (var command in seen.CommandLines)
        {
            Assert.DoesNotContain("@127.0.0.1", command, StringComparison.Ordinal);
            Assert.DoesNotContain("Password", command, StringComparison.OrdinalIgnoreCase);
            Assert.All(passwords, password => Assert.DoesNotContain(password, command, StringComparison.Ordinal));
        }

        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        Assert.Equal(12, root.GetProperty("cameras").GetInt32());
        var perWorker = root.GetProperty("cameras_per_worker").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(3, perWorker.Count);
        Assert.Equal(12, perWorker.Sum());
        Assert.True(root.GetProperty("frames_per_s").GetDouble() > 0, output);
        Assert.True(root.GetProperty("cpu_s_per_camera_s").GetDouble() > 0, output);
        var resume = root.GetProperty("failover_resume_s");
        Assert.Equal(JsonValueKind.Number, resume.ValueKind);
        Assert.InRange(resume.GetDouble(), 0, 10);
        Assert.True(root.GetProperty("lease_moves").GetInt32() >= perWorker.Max(), output);
        // Every camera was granted at least once; nothing the server sent failed to verify.
        Assert.True(root.GetProperty("grants_issued").GetInt64() >= 12, output);
        Assert.Equal(0, root.GetProperty("grants_unusable").GetInt64());
        Assert.Equal(0, root.GetProperty("acknowledged_lost").GetInt64());
        Assert.Empty(LeftRunning());
    }

    [Fact]
    public async Task A_sim_on_postgresql_moves_a_killed_workers_cameras_and_loses_no_acknowledged_candidate_and_stops_its_postgres()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "sim", "--cameras", "6", "--workers", "2", "--seconds", "6", "--kill-worker", "--postgres", "--json", "--lease-ttl-s", "3",
            "--models", TestPaths.Models, "--assets", TestPaths.SharedData);
        Assert.True(exit == 0, $"sim exited {exit}: {string.Join(" | ", errors.TakeLast(6))}");

        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        Assert.Equal("postgresql", root.GetProperty("database").GetString());
        Assert.True(root.GetProperty("frames_per_s").GetDouble() > 0, output);
        Assert.Equal(JsonValueKind.Number, root.GetProperty("failover_resume_s").ValueKind);
        // The server on PostgreSQL signed grants for every camera, and what the workers sent reached it.
        Assert.True(root.GetProperty("grants_issued").GetInt64() >= 6, output);
        Assert.Equal(0, root.GetProperty("grants_unusable").GetInt64());
        Assert.Equal(0, root.GetProperty("acknowledged_lost").GetInt64());
        Assert.Empty(LeftRunning());
        Assert.Empty(Directory.EnumerateDirectories(Path.GetTempPath(), "citywatch-sim-pg-*"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_sim_with_nats_server_stopped_fails_closed_analyses_nothing_without_it_and_resumes_every_camera(bool crash)
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            ["sim", "--cameras", "6", "--workers", "2", "--seconds", "4", "--stop-nats", "12", .. (crash ? (string[])["--kill-nats"] : []), "--json", "--lease-ttl-s", "3",
            "--models", TestPaths.Models, "--assets", TestPaths.SharedData]);
        Assert.True(exit == 0, $"sim exited {exit}: {string.Join(" | ", errors.TakeLast(6))}");

        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        Assert.Equal(12, root.GetProperty("nats_stopped_s").GetDouble());
        Assert.Equal(crash ? "SIGKILL" : "SIGTERM", root.GetProperty("nats_stop_signal").GetString());
        // Every worker stopped every camera while nats-server was away (by its own clock: one lease TTL after the last
        // renew, then a stats line), and analysed no frame from then until it came back.
        var failClosed = root.GetProperty("nats_fail_closed_s");
        Assert.True(failClosed.ValueKind == JsonValueKind.Number, output);
        Assert.InRange(failClosed.GetDouble(), 0, 12);
        Assert.Equal(0, root.GetProperty("frames_analysed_while_closed").GetInt64());
        var resumed = root.GetProperty("nats_resume_s");
        Assert.True(resumed.ValueKind == JsonValueKind.Number, output);
        // Whatever JetStream acknowledged as stored before the stop (or the crash) is still in its streams after it.
        var stored = root.GetProperty("acknowledged_stored").GetInt64();
        Assert.True(stored > 0, output);
        Assert.True(root.GetProperty("stream_messages").GetInt64() >= stored, output);
        Assert.Equal(0, root.GetProperty("acknowledged_not_in_stream").GetInt64());
        Assert.Equal(0, root.GetProperty("acknowledged_lost").GetInt64());
        Assert.True(root.GetProperty("candidates").GetInt64() > 0, output);
        Assert.Empty(LeftRunning());
    }

    [Fact]
    public async Task A_sim_with_the_server_killed_lets_every_grant_lapse_analyses_nothing_without_one_and_resumes_on_restart()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "sim", "--cameras", "6", "--workers", "2", "--seconds", "4", "--stop-server", "12", "--json", "--lease-ttl-s", "3",
            "--models", TestPaths.Models, "--assets", TestPaths.SharedData);
        Assert.True(exit == 0, $"sim exited {exit}: {string.Join(" | ", errors.TakeLast(6))}");

        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        Assert.Equal(12, root.GetProperty("server_stopped_s").GetDouble());
        var lifetime = root.GetProperty("grant_lifetime_s").GetDouble();
        var lapsed = root.GetProperty("grants_lapsed_s");
        Assert.True(lapsed.ValueKind == JsonValueKind.Number, output);
        // Within the grant's lifetime, and a stats line (every 2 s) for the worker to say so, and the sim's sampling.
        Assert.InRange(lapsed.GetDouble(), 0, lifetime + 2.5);
        Assert.Equal(0, root.GetProperty("frames_analysed_without_grant").GetInt64());
        // Before the fix to the server's key unwrap this stayed null: a restarted server refused every grant.
        var resumed = root.GetProperty("server_resume_s");
        Assert.True(resumed.ValueKind == JsonValueKind.Number, output);
        // The renewals asked while the server was dead went unanswered, and were counted as such.
        Assert.True(root.GetProperty("grants_unanswered").GetInt64() > 0, output);
        Assert.Equal(0, root.GetProperty("acknowledged_lost").GetInt64());
        Assert.Empty(LeftRunning());
    }

    [Theory]
    [InlineData("--workers 0", "error: --workers must be at least 1, not 0")]
    [InlineData("--workers 1 --kill-worker", "error: --kill-worker needs at least 2 workers")]
    [InlineData("--cameras 0", "error: --cameras must be from 1 to 1000, not 0")]
    [InlineData("--stop-nats -1", "error: --stop-nats must be 0 (no outage) or a number of seconds, not -1")]
    [InlineData("--kill-nats", "error: --kill-nats needs --stop-nats")]
    [InlineData("--stop-server -1", "error: --stop-server must be 0 (no outage) or a number of seconds, not -1")]
    public async Task Bad_input_is_one_line_and_exit_1(string arguments, string error)
    {
        var (exit, output, errors) = await CliRunner.RunAsync(["sim", .. arguments.Split(' '), "--assets", TestPaths.SharedData]);
        Assert.Equal(1, exit);
        Assert.Equal("", output);
        var line = Assert.Single(errors);
        Assert.StartsWith(error, line, StringComparison.Ordinal);
    }

    /// <summary>
    /// Until <paramref name="stop"/>, every half second: the command lines of the processes a sim starts (its server,
    /// workers and nats-server), and the NATS passwords and CA files in their environments.
    /// </summary>
    private static async Task<(HashSet<string> CommandLines, HashSet<string> Passwords, HashSet<string> CaFiles)> WatchCommandLinesAsync(CancellationToken stop)
    {
        var (commands, passwords, caFiles) = (new HashSet<string>(), new HashSet<string>(), new HashSet<string>());
        while (!stop.IsCancellationRequested)
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                try
                {
                    var command = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                    if (!IsSimChild(command))
                    {
                        continue;
                    }

                    commands.Add(command);
                    foreach (var variable in File.ReadAllText(Path.Combine(dir, "environ")).Split('\0'))
                    {
                        if (variable.StartsWith("ScaleOut__NatsPassword=", StringComparison.Ordinal))
                        {
                            passwords.Add(variable["ScaleOut__NatsPassword=".Length..]);
                        }
                        else if (variable.StartsWith("ScaleOut__NatsCaFile=", StringComparison.Ordinal))
                        {
                            caFiles.Add(variable["ScaleOut__NatsCaFile=".Length..]);
                        }
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // gone meanwhile, or not ours
                }
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return (commands, passwords, caFiles);
    }

    private static bool IsSimChild(string command) =>
        command.Contains("citywatch-sim-nats-", StringComparison.Ordinal) || command.Contains("citywatch-sim-server-", StringComparison.Ordinal) || command.Contains("citywatch-sim-pg-", StringComparison.Ordinal) || (command.Contains("--replay", StringComparison.Ordinal) && command.Contains("sim-w", StringComparison.Ordinal));

    /// <summary>Processes a sim started (its workers, its server and its nats-server) that still run.</summary>
    private static List<string> LeftRunning()
    {
        var left = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                continue;
            }

            try
            {
                var command = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (IsSimChild(command))
                {
                    left.Add(command);
                }
            }
            catch (IOException)
            {
                // gone meanwhile
            }
            catch (UnauthorizedAccessException)
            {
                // not ours
            }
        }

        return left;
    }
}
