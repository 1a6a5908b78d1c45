using System.Diagnostics;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Keys;
using Microsoft.Data.Sqlite;

namespace CityWatch.Cli.Bench;

/// <summary>The figures of one `bench audit` run; every rate measured in the same process, on the same disk.</summary>
internal sealed record AuditFigures(
    int Seconds,
    int Writers,
    int Window,
    int Cores,
    long Appended,
    double AppendsPerSecond,
    long StagedOnePerTransaction,
    double StagedOnePerTransactionPerSecond,
    long AppendedOnePerTransaction,
    double OnePerTransactionPerSecond,
    double OfferedPerSecond,
    double StagedPerSecond,
    long Timed,
    double CommitP50Milliseconds,
    double CommitP99Milliseconds,
    double CommitMaxMilliseconds);

/// <summary>
/// `bench audit`: the audit trail on a new data folder in a temporary directory (the real SQLite file, WAL,
/// synchronous=FULL, the real signing key), measured in one run: concurrent callers of
/// <see cref="AuditTrail.AppendAsync"/> (group commit: the sequencer logs every queued record in its next
/// transaction, no outbox); the same writers each staging one record per outbox transaction of its own (one fsync
/// per record, as an act with rows of its own does), both with the group-commit sequencer (<see cref="AuditLogOptions.MaxBatch"/> 1024); the same
/// writers with MaxBatch 1, so that every leaf is sequenced, its nodes stored and a checkpoint signed in a
/// transaction of its own (the baseline); and the time from calling AppendAsync to its leaf being committed, at an
/// offered rate.
/// </summary>
internal static class AuditBench
{
    /// <summary>Records a writer may have staged and not yet seen logged before it waits for the oldest.</summary>
    public const int Window = 128;

    public static AuditFigures Run(int seconds, int rate, int writers, Action<string> step)
    {
        var root = Path.Combine(Path.GetTempPath(), $"citywatch-bench-audit-{Guid.NewGuid():N}");
        try
        {
            var duration = TimeSpan.FromSeconds(seconds);
            step($"AppendAsync (group commit in the sequencer's transaction): {writers} writers for {seconds} s");
            var (appended, appendsPerSecond) = Throughput(Path.Combine(root, "append"), maxBatch: 1024, writers, duration, AppendOne);

            step($"baseline: one record per outbox transaction, {writers} writers for {seconds} s");
            var (stagedSingly, stagedSinglyPerSecond) = Throughput(Path.Combine(root, "group"), maxBatch: 1024, writers, duration, StageOne);

            step($"baseline: one leaf per sequencer transaction, {writers} writers for {seconds} s");
            var (onePerTransaction, onePerTransactionPerSecond) = Throughput(Path.Combine(root, "single"), maxBatch: 1, writers, duration, StageOne);

            step($"AppendAsync commit latency at {rate} records/s offered for {seconds} s");
            var latency = Latency(Path.Combine(root, "latency"), rate, writers, duration);

            return new AuditFigures(
                seconds,
                writers,
                Window,
                Environment.ProcessorCount,
                appended,
                appendsPerSecond,
                stagedSingly,
                stagedSinglyPerSecond,
                onePerTransaction,
                onePerTransactionPerSecond,
                rate,
                latency.StagedPerSecond,
                latency.Milliseconds.Length,
                Percentiles.NearestRank(latency.Milliseconds, 0.50),
                Percentiles.NearestRank(latency.Milliseconds, 0.99),
                latency.Milliseconds.Length == 0 ? 0 : latency.Milliseconds[^1]);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A temporary folder left behind is not worth failing the figures for.
            }
        }
    }

    // Writers stage records as fast as the file lets them, each keeping up to Window in flight, for the
    // duration; the clock stops when the last staged record is in the log.
    private static (long Appended, double PerSecond) Throughput(
        string directory, int maxBatch, int writers, TimeSpan duration, Func<AuditTrail, SqliteConnection, int, long, Task<long>> append)
    {
        using var trail = Open(directory, maxBatch, out var database);
        var clock = Stopwatch.StartNew();
        var counts = new long[writers];
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            using var connection = database.Open();
            var pending = new Queue<Task<long>>();
            while (clock.Elapsed < duration)
            {
                if (pending.Count >= Window)
                {
                    await pending.Dequeue().ConfigureAwait(false);
                }

                pending.Enqueue(append(trail, connection, w, counts[w]++));
            }

            while (pending.Count > 0)
            {
                await pending.Dequeue().ConfigureAwait(false);
            }
        })).ToArray();
        Task.WaitAll(tasks);
        var seconds = clock.Elapsed.TotalSeconds;
        var appended = counts.Sum();
        CheckLogged(trail, appended);
        return (appended, appended / seconds);
    }

    private sealed record LatencyRun(double StagedPerSecond, double[] Milliseconds);

    // An open loop: each writer stages its share of the offered rate on a fixed schedule (it never waits for its
    // records), and every record's time from the start of its staging transaction to its leaf being committed is kept.
    private static LatencyRun Latency(string directory, int rate, int writers, TimeSpan duration)
    {
        using var trail = Open(directory, maxBatch: 1024, out var database);
        var total = (int)Math.Min(int.MaxValue, (long)rate * (long)duration.TotalSeconds);
        var milliseconds = new double[total];
        var staged = new bool[total];
        var clock = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            using var connection = database.Open();
            var logged = new List<Task>();
            for (var i = w; i < total; i += writers)
            {
                // Record i is due at i / rate seconds; a writer that is behind stages at once (and the rate it
                // managed is reported beside the offered one).
                var due = TimeSpan.FromSeconds((double)i / rate);
                var ahead = due - clock.Elapsed;
                if (ahead > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(ahead, TimeProvider.System).ConfigureAwait(false);
                }

                if (clock.Elapsed > duration + duration)
                {
                    break; // far behind: the figures say how many were staged
                }

                var index = i;
                var started = Stopwatch.GetTimestamp();
                staged[index] = true;
                logged.Add(AppendOne(trail, connection, w, i).ContinueWith(
                    done =>
                    {
                        _ = done.Result;
                        milliseconds[index] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    },
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default));
            }

            await Task.WhenAll(logged).ConfigureAwait(false);
        })).ToArray();
        var stagingEnded = Task.WhenAll(tasks);
        stagingEnded.GetAwaiter().GetResult();
        var count = staged.Count(s => s);
        var seconds = clock.Elapsed.TotalSeconds;
        CheckLogged(trail, count);
        var times = milliseconds.Where((_, i) => staged[i]).Order().ToArray();
        return new LatencyRun(count / seconds, times);
    }

    // The grouped path: the trail's writer stages this record with whatever else is pending, in one transaction.
    private static Task<long> AppendOne(AuditTrail trail, SqliteConnection connection, int writer, long sequence) =>
        trail.AppendAsync(Record(writer, sequence));

    // The baseline: a transaction (and an fsync) of its own for every record.
    private static Task<long> StageOne(AuditTrail trail, SqliteConnection connection, int writer, long sequence)
    {
        var record = Record(writer, sequence);
        StagedRecord staged;
        using (var transaction = connection.BeginTransaction())
        {
            staged = trail.Stage(connection, transaction, record);
            transaction.Commit();
        }

        return trail.CommittedAsync(staged);
    }

    private static AuditRecord Record(int writer, long sequence) =>
        new(
            $"bench:writer-{writer}",
            AuditActions.Match,
            "match above threshold",
            CaseId: "bench-case",
            Parameters: new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["camera"] = $"cam-{sequence % 64}",
                ["threshold"] = "0.62",
                ["sequence"] = sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            ResultCount: 1);

    private static AuditTrail Open(string directory, int maxBatch, out CityWatchDatabase database)
    {
        database = new CityWatchDatabase(Path.Combine(directory, "citywatch.db"), KeyEncryptionKey.Generate());
        database.Migrate(TimeProvider.System);
        var trail = new AuditTrail(database, TimeProvider.System, options: new AuditLogOptions { MaxBatch = maxBatch });
        // The start-up records (its own key's unwrap) are logged before the clock starts.
        trail.FlushAsync().GetAwaiter().GetResult();
        return trail;
    }

    // The figures count only what is really in the log: its size must cover every record the writers staged.
    private static void CheckLogged(AuditTrail trail, long staged)
    {
        var size = trail.Size;
        if (size < staged)
        {
            throw new InvalidOperationException($"The log holds {size} leaves, fewer than the {staged} records staged.");
        }
    }
}
