using System.Diagnostics;
using Cloud.Unum.USearch;
using CityWatch.Matching;

namespace CityWatch.Cli.Bench;

/// <summary>The figures of one `bench match` run; every rate measured in the same process, on the same gallery.</summary>
internal sealed record MatchFigures(
    int Entries,
    int Dimensions,
    int Queries,
    int Batch,
    int Cores,
    string Kernel,
    double BandwidthGbPerSecond,
    double BandwidthBeforeGbPerSecond,
    double BandwidthAfterGbPerSecond,
    double FloatBaselineQps,
    double ExactQps,
    double BandwidthFraction,
    double BatchedQps,
    double BatchedBandwidthFraction,
    double ExactRecallAt1,
    double? AnnBuildSeconds,
    double? UsearchBuildSeconds,
    IReadOnlyList<RecallPoint> AnnSweep,
    IReadOnlyList<RecallPoint> UsearchSweep)
{
    /// <summary>The recall both searches must reach for their rates to be compared (issue 13's goal).</summary>
    public const double RecallGoal = 0.99;

    /// <summary>The approximate index's operating point: its fastest sweep point at the recall goal, else its best recall.</summary>
    public RecallPoint? Ann => RecallPoint.Operating(AnnSweep);

    /// <summary>Plain USearch's operating point, chosen the same way.</summary>
    public RecallPoint? Usearch => RecallPoint.Operating(UsearchSweep);

    /// <summary>The approximate index's queries a second over USearch's, each at its operating point.</summary>
    public double? AnnOverUsearch => Ann is { } ann && Usearch is { } usearch ? ann.Qps / usearch.Qps : null;
}

/// <summary>One point of a recall sweep: how many candidates the graph was asked for, the rate, and recall@1 against the exact float scan.</summary>
internal sealed record RecallPoint(int Candidates, double Qps, double RecallAt1)
{
    /// <summary>
    /// The fastest point that reaches <see cref="MatchFigures.RecallGoal"/>; if none does, the one with the best recall
    /// (the faster of equals). Null for an empty sweep.
    /// </summary>
    public static RecallPoint? Operating(IReadOnlyList<RecallPoint> sweep) =>
        sweep.Where(p => p.RecallAt1 >= MatchFigures.RecallGoal).MaxBy(p => p.Qps)
        ?? sweep.OrderByDescending(p => p.RecallAt1).ThenByDescending(p => p.Qps).FirstOrDefault();
}

/// <summary>
/// `bench match`: a seeded gallery of random unit vectors, probes that are noisy copies of gallery rows (a second
/// photo of an enrolled face), and each search measured side by side: today's single-threaded float scan, the
/// int8 exact scan one probe at a time and in batches, against the box's memory bandwidth measured in the same run;
/// then the approximate index and plain USearch, with recall@1 against the exact float scan. The two graphs are
/// each built once and searched at every candidate count of <see cref="Sweep"/> (USearch's beam widens with the
/// results asked for), so that their rates are compared at the same recall rather than at two unrelated defaults.
/// </summary>
internal static class MatchBench
{
    public const int Dimensions = 512;

    // Each rate stops after this long (with at least one query done): the float baseline at a million entries
    // would otherwise take minutes on a small box.
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(15);

    /// <summary>The candidate counts each graph is searched at, 16 to 1024, closer together from 128 on, where recall climbs (USearch's default beam is 64).</summary>
    public static readonly int[] Sweep = [16, 32, 64, 128, 192, 256, 384, 512, 768, 1024];

    public static MatchFigures Run(int entries, int queries, int batch, int seed, bool approximate, Action<string> step)
    {
        step("generating the gallery");
        var random = new Random(seed);
        var gallery = UnitVectors(random, entries);
        var probes = new float[queries * Dimensions];
        var noise = UnitVectors(random, queries);
        for (var q = 0; q < queries; q++)
        {
            var source = random.Next(entries);
            for (var i = 0; i < Dimensions; i++)
            {
                probes[(q * Dimensions) + i] = gallery[((long)source * Dimensions) + i] + (0.6f * noise[(q * Dimensions) + i]);
            }

            Normalise(probes.AsSpan(q * Dimensions, Dimensions));
        }

        var reader = new BandwidthProbe();

        step("exact float scan (ground truth)");
        var truth = new int[queries];
        Parallel.For(0, queries, q => truth[q] = FloatTop1(gallery, Probe(probes, q)));

        step("today's float scan, one core");
        var floatQps = Rate(queries, 1, q => FloatTop1(gallery, Probe(probes, q)));

        step("quantising to int8");
        var codes = Int8Gallery.Quantise(gallery, Dimensions);

        // This VM's memory bandwidth moved by up to 2x from one minute to the next (26 to 47 GB/s for the same loop), so it
        // is read right before and right after the scan it is compared with, and the scan is set against their mean.
        step("measuring memory bandwidth");
        var bandwidthBefore = reader.Measure();
        step("int8 exact, one probe at a time");
        var exactHits = Unsearched(queries);
        var exactQps = Rate(queries, 1, q => exactHits[q] = codes.Search(Probe(probes, q), 1)[0].Row);
        step("measuring memory bandwidth again");
        var bandwidthAfter = reader.Measure();
        var bandwidth = (bandwidthBefore + bandwidthAfter) / 2;

        step($"int8 exact, {batch} probes per pass");
        var batchedQps = Rate(queries, batch, q =>
        {
            var count = Math.Min(batch, queries - q);
            codes.SearchBatch(probes.AsSpan(q * Dimensions, count * Dimensions), 1);
        });

        double? annBuild = null, usearchBuild = null;
        var annSweep = new List<RecallPoint>();
        var usearchSweep = new List<RecallPoint>();
        if (approximate)
        {
            step("building the approximate index (HNSW over the int8 codes)");
            var clock = Stopwatch.StartNew();
            using var ann = ApproximateIndex.Build(codes);
            annBuild = clock.Elapsed.TotalSeconds;
            foreach (var candidates in Sweep)
            {
                step($"approximate search, {candidates} candidates");
                var hits = Unsearched(queries);
                var qps = Rate(queries, 1, q => hits[q] = ann.Search(Probe(probes, q), 1, candidates)[0].Row);
                annSweep.Add(new RecallPoint(candidates, qps, Recall(hits, truth)));
            }

            step("building the USearch baseline (float32, its defaults)");
            clock.Restart();
            using var usearch = new USearchIndex(MetricKind.Cos, ScalarKind.Float32, Dimensions);
            var keys = new ulong[entries];
            var rows = new float[entries][];
            for (var i = 0; i < entries; i++)
            {
                keys[i] = (ulong)i;
                rows[i] = gallery.AsSpan(i * Dimensions, Dimensions).ToArray();
            }

            usearch.Add(keys, rows);
            usearchBuild = clock.Elapsed.TotalSeconds;
            var probeRows = Enumerable.Range(0, queries).Select(q => Probe(probes, q).ToArray()).ToArray();
            foreach (var candidates in Sweep)
            {
                step($"USearch search, {candidates} results");
                var hits = Unsearched(queries);
                var qps = Rate(queries, 1, q =>
                {
                    // Best first: the top-1 is the first of the results asked for.
                    usearch.Search(probeRows[q], candidates, out var found, out _);
                    hits[q] = found.Length == 0 ? -1 : (int)found[0];
                });
                usearchSweep.Add(new RecallPoint(candidates, qps, Recall(hits, truth)));
            }
        }

        var bytesPerScan = codes.BytesPerScan;
        return new MatchFigures(
            entries,
            Dimensions,
            queries,
            batch,
            Environment.ProcessorCount,
            Int8Gallery.Kernel,
            bandwidth / 1e9,
            bandwidthBefore / 1e9,
            bandwidthAfter / 1e9,
            floatQps,
            exactQps,
            exactQps * bytesPerScan / bandwidth,
            batchedQps,
            batchedQps / batch * bytesPerScan / bandwidth,
            Recall(exactHits, truth),
            annBuild,
            usearchBuild,
            annSweep,
            usearchSweep);
    }

    /// <summary>Queries per second over up to <paramref name="queries"/> probes, <paramref name="stepSize"/> per call, within the budget.</summary>
    private static double Rate(int queries, int stepSize, Action<int> search)
    {
        // One untimed call first, so that compiling the kernel and starting the thread pool are not measured.
        search(0);
        var clock = Stopwatch.StartNew();
        var done = 0;
        while (done < queries && (done == 0 || clock.Elapsed < Budget))
        {
            search(done);
            done += Math.Min(stepSize, queries - done);
        }

        return done / clock.Elapsed.TotalSeconds;
    }

    // A probe the rate's time budget left unsearched: not counted in the recall (a search that found nothing is -1, a miss).
    private const int NotSearched = -2;

    private static int[] Unsearched(int queries) => Enumerable.Repeat(NotSearched, queries).ToArray();

    /// <summary>Top-1 recall over the probes that were searched.</summary>
    private static double Recall(int[] found, int[] truth)
    {
        var searched = found.Count(row => row != NotSearched);
        return searched == 0 ? 0 : (double)found.Where((row, q) => row == truth[q]).Count() / searched;
    }

    /// <summary>
    /// Bytes per second that all cores together read from a 1 GiB array, far larger than the caches (best of three
    /// passes). Each element holds its own index, so no two pages are alike (a page that a hypervisor could share with
    /// another would be read from one place) and the sum checks that every element was read.
    /// </summary>
    private sealed class BandwidthProbe
    {
        private readonly long[] _data = new long[128 * 1024 * 1024];

        public BandwidthProbe()
        {
            for (var i = 0; i < _data.Length; i++)
            {
                _data[i] = i;
            }
        }

        public double Measure()
        {
            var chunks = Environment.ProcessorCount * 4;
            // Whole vectors per chunk, so that every element of the chunks is summed (the tail of the array is left out).
            var size = _data.Length / chunks / System.Numerics.Vector<long>.Count * System.Numerics.Vector<long>.Count;
            var expected = (long)size * chunks * ((long)size * chunks - 1) / 2;
            var best = 0.0;
            for (var pass = 0; pass < 3; pass++)
            {
                var sums = new long[chunks];
                var clock = Stopwatch.StartNew();
                Parallel.For(0, chunks, c =>
                {
                    var span = _data.AsSpan(c * size, size);
                    var sum = System.Numerics.Vector<long>.Zero;
                    var vectors = System.Runtime.InteropServices.MemoryMarshal.Cast<long, System.Numerics.Vector<long>>(span);
                    foreach (var v in vectors)
                    {
                        sum += v;
                    }

                    sums[c] = System.Numerics.Vector.Sum(sum);
                });
                var seconds = clock.Elapsed.TotalSeconds;
                if (sums.Sum() != expected)
                {
                    throw new InvalidOperationException("The bandwidth probe read the wrong sum.");
                }

                best = Math.Max(best, (double)size * chunks * sizeof(long) / seconds);
            }

            return best;
        }
    }

    /// <summary>Today's WatchlistIndex scan before int8: one float dot product per row, on one core.</summary>
    private static int FloatTop1(float[] gallery, ReadOnlySpan<float> probe)
    {
        var best = -1;
        var bestScore = float.NegativeInfinity;
        var rows = gallery.LongLength / Dimensions;
        for (var row = 0; row < rows; row++)
        {
            var score = WatchlistIndex.Dot(probe, gallery.AsSpan((int)(row * Dimensions), Dimensions));
            if (score > bestScore)
            {
                (best, bestScore) = (row, score);
            }
        }

        return best;
    }

    private static ReadOnlySpan<float> Probe(float[] probes, int q) => probes.AsSpan(q * Dimensions, Dimensions);

    internal static float[] UnitVectors(Random random, int count)
    {
        var vectors = new float[(long)count * Dimensions];
        for (long i = 0; i < vectors.LongLength; i += 2)
        {
            // Box-Muller, both outputs: Gaussian components make uniformly distributed directions.
            var radius = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
            var angle = 2 * Math.PI * random.NextDouble();
            vectors[i] = (float)(radius * Math.Cos(angle));
            vectors[i + 1] = (float)(radius * Math.Sin(angle));
        }

        for (long row = 0; row < count; row++)
        {
            Normalise(vectors.AsSpan((int)(row * Dimensions), Dimensions));
        }

        return vectors;
    }

    private static void Normalise(Span<float> vector)
    {
        var norm = MathF.Sqrt(WatchlistIndex.Dot(vector, vector));
        foreach (ref var value in vector)
        {
            value /= norm;
        }
    }
}
