using CityWatch.Matching;

namespace CityWatch.Tests.Matching;

/// <summary>The int8 gallery against the float exact scan it replaces, on seeded random unit vectors of 512 dimensions.</summary>
public sealed class Int8GalleryTests
{
    private const int Dimensions = 512;

    [Fact]
    public void Quantising_and_dequantising_stays_within_half_a_step_per_component()
    {
        var vectors = UnitVectors(new Random(1), 200);

        var gallery = Int8Gallery.Quantise(vectors, Dimensions);

        for (var row = 0; row < 200; row++)
        {
            var original = vectors.AsSpan(row * Dimensions, Dimensions);
            var restored = gallery.Dequantise(row);
            var step = Largest(original) / Int8Gallery.Levels;
            for (var i = 0; i < Dimensions; i++)
            {
                Assert.InRange(MathF.Abs(restored[i] - original[i]), 0, (step / 2) + 1e-6f);
            }

            Assert.True(WatchlistIndex.Dot(original, restored) > 0.999f, $"row {row}: cosine to its own dequantised copy {WatchlistIndex.Dot(original, restored)}");
        }
    }

    [Fact]
    public void Int8_search_finds_the_same_best_row_as_the_float_scan_with_a_close_score()
    {
        var random = new Random(2);
        var vectors = UnitVectors(random, 20_000);
        var gallery = Int8Gallery.Quantise(vectors, Dimensions);

        // Probes: noisy copies of gallery rows (a second photo of an enrolled face): the same best row, always.
        var largestError = 0f;
        for (var q = 0; q < 100; q++)
        {
            var probe = Noisy(random, vectors, random.Next(20_000), 0.6f);
            var (bestRow, bestScore) = FloatBest(vectors, probe);

            var hit = gallery.Search(probe, top: 1).Single();

            Assert.Equal(bestRow, hit.Row);
            largestError = MathF.Max(largestError, MathF.Abs(hit.Score - bestScore));
        }

        // Faces never enrolled: the best of 20,000 near-orthogonal rows is often within a few thousandths of the
        // second, inside the quantisation error, so the row int8 picks must score (in float) as well as the best.
        for (var q = 0; q < 100; q++)
        {
            var probe = UnitVectors(random, 1);
            var (_, bestScore) = FloatBest(vectors, probe);

            var hit = gallery.Search(probe, top: 1).Single();

            var picked = WatchlistIndex.Dot(probe, vectors.AsSpan(hit.Row * Dimensions, Dimensions));
            Assert.InRange(bestScore - picked, 0, 0.01f);
            largestError = MathF.Max(largestError, MathF.Abs(hit.Score - picked));
        }

        Assert.InRange(largestError, 0, 0.01f);
    }

    [Fact]
    public void A_batch_of_probes_gives_what_the_probes_give_one_by_one()
    {
        var random = new Random(3);
        var vectors = UnitVectors(random, 9_000);
        var gallery = Int8Gallery.Quantise(vectors, Dimensions);
        // Seven probes: one full group of four and a remainder of three.
        var probes = UnitVectors(random, 7);

        var batch = gallery.SearchBatch(probes, top: 5);

        Assert.Equal(7, batch.Length);
        for (var q = 0; q < 7; q++)
        {
            var alone = gallery.Search(probes.AsSpan(q * Dimensions, Dimensions), top: 5);
            Assert.Equal(alone, batch[q]);
            Assert.Equal(5, alone.Length);
            Assert.True(alone.Zip(alone.Skip(1)).All(pair => pair.First.Score >= pair.Second.Score));
        }
    }

    [Fact]
    public void A_probe_of_the_wrong_length_is_refused()
    {
        var gallery = Int8Gallery.Quantise(UnitVectors(new Random(4), 10), Dimensions);

        Assert.Throws<ArgumentException>(() => gallery.Search(new float[Dimensions - 1], top: 1));
    }

    private static (int Row, float Score) FloatBest(float[] vectors, float[] probe)
    {
        var best = (Row: -1, Score: float.NegativeInfinity);
        for (var row = 0; row < vectors.Length / Dimensions; row++)
        {
            var score = WatchlistIndex.Dot(probe, vectors.AsSpan(row * Dimensions, Dimensions));
            if (score > best.Score)
            {
                best = (row, score);
            }
        }

        return best;
    }

    private static float[] Noisy(Random random, float[] vectors, int row, float noise)
    {
        var probe = new float[Dimensions];
        var extra = UnitVectors(random, 1);
        for (var i = 0; i < Dimensions; i++)
        {
            probe[i] = vectors[(row * Dimensions) + i] + (noise * extra[i]);
        }

        Normalise(probe);
        return probe;
    }

    private static float[] UnitVectors(Random random, int count)
    {
        var vectors = new float[count * Dimensions];
        for (var i = 0; i < vectors.Length; i++)
        {
            // Box-Muller: Gaussian components make uniformly distributed directions.
            vectors[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        for (var row = 0; row < count; row++)
        {
            Normalise(vectors.AsSpan(row * Dimensions, Dimensions));
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

    private static float Largest(ReadOnlySpan<float> vector)
    {
        var largest = 0f;
        foreach (var value in vector)
        {
            largest = MathF.Max(largest, MathF.Abs(value));
        }

        return largest;
    }
}
