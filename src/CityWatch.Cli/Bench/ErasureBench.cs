using System.Diagnostics;
using System.Security.Cryptography;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Evidence;
using CityWatch.Keys;
using Microsoft.Data.Sqlite;

namespace CityWatch.Cli.Bench;

/// <summary>The figures of one `bench erasure` run, all on one temporary SQLite data folder.</summary>
internal sealed record ErasureFigures(
    int Items,
    int Rounds,
    double SealsPerSecond,
    int EmptiedWhole,
    double EarlyErasureMilliseconds,
    double BaselineMilliseconds,
    double WholeEpochMilliseconds,
    double RewrapsPerSecond);

/// <summary>
/// `bench erasure`: what the evidence vault's erasure epochs cost (<see cref="EvidenceVault"/>). One epoch filled with
/// <c>--items</c> sealed item keys (as an hour's crops and photos at a busy city); then, in alternating rounds, one
/// item destroyed and its erasure finished by <see cref="EvidenceVault.EraseDestroyed"/> (the epoch's other keys
/// rewrapped under a fresh epoch key, the old one deleted from the erasure-key file, the WAL emptied) against the
/// baseline, the same destruction finished as before epochs: the truncating WAL checkpoint alone
/// (<see cref="CityWatchDatabase.Checkpoint"/>). Last, the epoch emptied whole, as retention does, and erased.
/// </summary>
internal static class ErasureBench
{
    public static ErasureFigures Run(int items, int rounds, Action<string> step)
    {
        var root = Path.Combine(Path.GetTempPath(), $"citywatch-bench-erasure-{Guid.NewGuid():N}");
        try
        {
            var database = new CityWatchDatabase(Path.Combine(root, "citywatch.db"), KeyEncryptionKey.Generate());
            database.Migrate(TimeProvider.System);
            using var audit = new AuditTrail(database, TimeProvider.System);
            var vault = new EvidenceVault(database);
            var now = TimeProvider.System.GetUtcNow(); // one instant for every seal: one epoch, whatever the hour turns to

            step($"sealing {items} item keys into one epoch");
            var crop = RandomNumberGenerator.GetBytes(8 * 1024);
            var keys = new List<string>(items);
            var clock = Stopwatch.StartNew();
            while (keys.Count < items)
            {
                using var connection = database.Connect();
                using var transaction = connection.BeginTransaction();
                for (var i = 0; i < 100 && keys.Count < items; i++)
                {
                    keys.Add(vault.Seal(crop, connection, transaction, now).KeyId);
                }

                transaction.Commit();
            }

            var sealsPerSecond = items / clock.Elapsed.TotalSeconds;
            var early = new List<double>();
            var rates = new List<double>();
            var baseline = new List<double>();
            for (var round = 0; round < rounds && keys.Count > 2; round++)
            {
                step($"round {round + 1} of {rounds}: an early erasure (rewrapping {keys.Count - 1}) against the checkpoint alone");
                Destroy(database, keys, 1);
                early.Add(Time(() => vault.EraseDestroyed()));
                rates.Add(keys.Count / (early[^1] / 1000));
                Destroy(database, keys, 1);
                baseline.Add(Time(() => database.Checkpoint()));
            }

            // The baseline rounds left their destroyed keys unerased: finish them before the epoch is emptied.
            vault.EraseDestroyed();
            var left = keys.Count;
            step($"retention: the epoch's {keys.Count} keys destroyed at once and erased");
            Destroy(database, keys, keys.Count);
            var whole = Time(() => vault.EraseDestroyed());
            return new ErasureFigures(items, early.Count, sealsPerSecond, left, Median(early), Median(baseline), whole, Median(rates));
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

    // Destroys the last `count` keys in one committed transaction.
    private static void Destroy(CityWatchDatabase database, List<string> keys, int count)
    {
        var gone = keys.GetRange(keys.Count - count, count);
        keys.RemoveRange(keys.Count - count, count);
        using var connection = database.Connect();
        using var transaction = connection.BeginTransaction();
        if (EvidenceVault.Destroy(gone, connection, transaction) != count)
        {
            throw new InvalidOperationException("the bench destroyed fewer keys than it sealed");
        }

        transaction.Commit();
    }

    private static double Time(Action work)
    {
        var clock = Stopwatch.StartNew();
        work();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return 0;
        }

        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
