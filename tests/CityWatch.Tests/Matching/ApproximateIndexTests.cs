using CityWatch.Matching;

namespace CityWatch.Tests.Matching;

/// <summary>The HNSW index (USearch over the int8 codes) against the exact int8 scan on a seeded gallery.</summary>
public sealed class ApproximateIndexTests
{
    private const int Dimensions = 512;

    [Fact]
    public void The_approximate_index_finds_the_exact_best_row_for_probes_near_enrolled_rows_with_the_exact_score()
    {
        var random = new Random(7);
        var vectors = UnitVectors(random, 5_000);
        var gallery = Int8Gallery.Quantise(vectors, Dimensions);
        using var index = ApproximateIndex.Build(gallery);

        var agreed = 0;
        for (var q = 0; q < 100; q++)
        {
            var probe = Noisy(random, vectors, random.Next(5_000));
            var exact = gallery.Search(probe, top: 1).Single();

            var approximate = index.Search(probe, top: 1).Single();

            if (approximate.Row == exact.Row)
            {
                agreed++;
                Assert.Equal(exact.Score, approximate.Score, 1e-5f);
            }
        }

        Assert.True(agreed >= 99, $"recall@1 {agreed}/100");
    }

    private static float[] Noisy(Random random, float[] vectors, int row)
    {
        var noise = UnitVectors(random, 1);
        var probe = new float[Dimensions];
        for (var i = 0; i < Dimensions; i++)
        {
            probe[i] = vectors[(row * Dimensions) + i] + (0.6f * noise[i]);
        }

        return probe;
    }

    private static float[] UnitVectors(Random random, int count)
    {
        var vectors = new float[count * Dimensions];
        for (var i = 0; i < vectors.Length; i++)
        {
            vectors[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        for (var row = 0; row < count; row++)
        {
            var span = vectors.AsSpan(row * Dimensions, Dimensions);
            var norm = MathF.Sqrt(WatchlistIndex.Dot(span, span));
            foreach (ref var value in span)
            {
                value /= norm;
            }
        }

        return vectors;
    }
}
