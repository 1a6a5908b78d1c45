using BenchmarkDotNet.Attributes;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Keys;

namespace CityWatch.Bench.AuditLog;

/// <summary>Durable appends per second: group commit (up to 1024 leaves per transaction) against one leaf per transaction.</summary>
[MemoryDiagnoser]
public class DurableAppendBench
{
    private string _directory = string.Empty;
    private AuditTrail? _trail;

    [Params(1, 1024)]
    public int MaxBatch { get; set; }

    /// <summary>Appends in flight at once: the offered load, which bounds how full a group-commit batch can be.</summary>
    [Params(256, 4096)]
    public int InFlight { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "citywatch-bench", Guid.NewGuid().ToString("N"));
        var database = new CityWatchDatabase(Path.Combine(_directory, "citywatch.db"), KeyEncryptionKey.Generate());
        database.Migrate(TimeProvider.System);
        _trail = new AuditTrail(database, TimeProvider.System, options: new AuditLogOptions { MaxBatch = MaxBatch });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _trail?.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>The time of <see cref="InFlight"/> appends at once; divide by it for the time per append.</summary>
    [Benchmark]
    public Task<long[]> AppendConcurrently() =>
        Task.WhenAll(Enumerable.Range(0, InFlight).Select(_ => _trail!.AppendAsync(new AuditRecord("bench", AuditActions.Analysis, "ok"))));
}
