using System.Globalization;
using System.Text.RegularExpressions;
using CityWatch.Ingest;
using CityWatch.Recognition;
using CityWatch.ScaleOut;

namespace CityWatch.Cli.Simulation;

/// <summary>
/// One worker child process (<c>dotnet citywatch.dll serve --role worker ... --replay CLIP</c>, or the apphost; its NATS link in its environment): its
/// standard output read line by line for the stats line, its CPU time from /proc.
/// </summary>
internal sealed partial class SimWorker : IAsyncDisposable
{
    private readonly ProcessRunner _runner;
    private readonly Task _reading;
    private readonly RecentLines _lines = new();
    private WorkerStats _latest = new(0, 0, 0, 0, 0, default, 0);
    private long _statsLines;
    private int _disposed;

    private SimWorker(string name, ProcessRunner runner)
    {
        Name = name;
        _runner = runner;
        _reading = Task.Run(ReadAsync);
    }

    public string Name { get; }

    public bool HasExited => _runner.HasExited;

    public WorkerStats Latest => Volatile.Read(ref _latest);

    /// <summary>How many stats lines the worker has written; read after <see cref="Latest"/> changed, it counts that line.</summary>
    public long StatsLines => Interlocked.Read(ref _statsLines);

    public string LastLines => _lines.Last(_runner.ErrorLines);

    public static SimWorker Start(string name, NatsLink nats, string grantKey, SimSettings settings, string clip, CancellationToken cancellationToken)
    {
        var (file, prefix) = SimProcess.Self();
        // The worker's NATS user, password and CA go in the environment, not on the command line (ps shows that).
        string[] arguments = [.. prefix, "serve", "--role", "worker", "--worker", name, "--models", settings.Models,
            "--lease-ttl-s", settings.LeaseTtlSeconds.ToString(CultureInfo.InvariantCulture), "--replay", clip];
        var runner = ProcessRunner.Start(file, arguments, new ProcessRunnerOptions
        {
            Environment = new Dictionary<string, string>(SimProcess.NatsEnvironment(nats)) { ["ScaleOut__GrantKey"] = grantKey, ["Logging__Console__FormatterName"] = "simple" },
        }, cancellationToken);
        return new SimWorker(name, runner);
    }

    /// <summary>The worker's user+system CPU seconds so far (0 once it has gone).</summary>
    public double CpuSeconds() => SimProcess.CpuSeconds(_runner.Id);

    /// <summary>SIGKILL, as a crash: the worker releases nothing.</summary>
    public void KillHard() => _runner.Kill();

    /// <summary>
    /// Stops the worker as an operator would (SIGTERM: it releases its leases, sends what it still holds and writes its
    /// last stats line), waits up to <paramref name="wait"/> for it to exit and for its output to be read, then disposes
    /// it (a kill, where it has not exited by then). A worker that has gone already is only disposed.
    /// </summary>
    public async Task StopAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        if (!HasExited)
        {
            try
            {
                await SimProcess.SignalAsync(_runner, crash: false, wait, cancellationToken);
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                limit.CancelAfter(wait);
                await _reading.WaitAsync(limit.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // not gone in time: disposing kills it
            }
            catch (InvalidOperationException)
            {
                // it exited between the check and the signal
            }
        }

        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _runner.DisposeAsync();
        try
        {
            await _reading;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // its output closed
        }
    }

    private async Task ReadAsync()
    {
        using var reader = new StreamReader(_runner.StandardOutput);
        while (await reader.ReadLineAsync() is { } line)
        {
            _lines.Add(line);

            var match = StatsLine().Match(line);
            if (match.Success)
            {
                long N(string group) => long.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);
                Volatile.Write(ref _latest, new WorkerStats(
                    (int)N("cameras"), N("frames"), N("faces"), N("candidates"), (int)N("granted"),
                    new GrantAnswers(N("issued"), N("refused"), N("unanswered"), N("unusable")), N("stored")));
                Interlocked.Increment(ref _statsLines);
            }
        }
    }

    [GeneratedRegex(@"Worker stats: worker=\S+ cameras=(?<cameras>\d+) frames_analysed=(?<frames>\d+) faces=(?<faces>\d+) candidates=(?<candidates>\d+) granted=(?<granted>\d+) grants_issued=(?<issued>\d+) grants_refused=(?<refused>\d+) grants_unanswered=(?<unanswered>\d+) grants_unusable=(?<unusable>\d+) stored=(?<stored>\d+)")]
    private static partial Regex StatsLine();
}

/// <summary>One worker's cumulative counters from its last stats line (<see cref="Grants"/>: how its grant requests ended).</summary>
/// <param name="Stored">Candidates and lease events JetStream acknowledged to this worker as newly stored: what the streams must hold.</param>
internal sealed record WorkerStats(int Cameras, long FramesAnalysed, long Faces, long Candidates, int Granted, GrantAnswers Grants, long Stored);
