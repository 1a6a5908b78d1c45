using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CityWatch.Ingest;
using CityWatch.ScaleOut;

namespace CityWatch.Cli.Simulation;

/// <summary>What the sim needs of the processes it starts: how to start this CLI again, and a child's CPU time.</summary>
internal static class SimProcess
{
    /// <summary>How to start this CLI again: the apphost itself, or <c>dotnet citywatch.dll</c>.</summary>
    public static (string File, string[] Prefix) Self()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable");
        var dll = typeof(SimProcess).Assembly.Location;
        return Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase) ? (process, [dll]) : (process, []);
    }

    /// <summary>
    /// The environment that hands a child <c>serve</c> its link to NATS (<c>ScaleOut__Nats</c>, <c>__NatsUser</c>,
    /// <c>__NatsPassword</c>, <c>__NatsCaFile</c>): a child's environment is readable only by its user (and root),
    /// where its command line is anyone's to read in ps.
    /// </summary>
    public static Dictionary<string, string> NatsEnvironment(NatsLink nats)
    {
        ArgumentNullException.ThrowIfNull(nats);
        var environment = new Dictionary<string, string> { ["ScaleOut__Nats"] = nats.Url };
        if (nats.User is { } user)
        {
            environment["ScaleOut__NatsUser"] = user.Name;
            environment["ScaleOut__NatsPassword"] = user.Password;
        }

        if (nats.CaFile is { } ca)
        {
            environment["ScaleOut__NatsCaFile"] = ca;
        }

        return environment;
    }

    /// <summary>Process <paramref name="pid"/>'s user+system CPU seconds so far, from /proc/PID/stat (0 once it has gone).</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based), in clock ticks (USER_HZ = 100 on Linux).
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Sends SIGTERM (or, with <paramref name="crash"/>, SIGKILL) to <paramref name="process"/> and waits up to <paramref name="wait"/> for it to exit.</summary>
    public static async Task SignalAsync(ProcessRunner process, bool crash, TimeSpan wait, CancellationToken cancellationToken)
    {
        var how = crash ? "-KILL" : "-TERM";
        var signal = await ProcessRunner.RunAsync("/bin/kill", [how, process.Id.ToString(CultureInfo.InvariantCulture)], cancellationToken);
        if (signal.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill {how} {process.Id} failed: {string.Join(" ", signal.ErrorLines)}");
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(wait);
        await process.WaitForExitAsync(limit.Token);
    }

    /// <summary>A TCP port free on 127.0.0.1 now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The last lines a child wrote on standard output, for an error message that says what it said before it failed.</summary>
internal sealed class RecentLines
{
    private const int Kept = 8;
    private readonly Queue<string> _lines = new();

    public void Add(string line)
    {
        lock (_lines)
        {
            _lines.Enqueue(line);
            if (_lines.Count > Kept)
            {
                _lines.Dequeue();
            }
        }
    }

    /// <summary>The last four of these lines and then <paramref name="errorLines"/>, joined with " | ".</summary>
    public string Last(IEnumerable<string> errorLines)
    {
        lock (_lines)
        {
            return string.Join(" | ", _lines.Concat(errorLines).TakeLast(4));
        }
    }
}
