namespace CityWatch.Vision;

/// <summary>How one embedder's cosine scores are spread over impostor pairs (the z-normalisation statistics).</summary>
/// <param name="Embedder">The embedder's name.</param>
/// <param name="Mean">Mean cosine of impostor pairs.</param>
/// <param name="StandardDeviation">Their standard deviation.</param>
public sealed record ImpostorScores(string Embedder, float Mean, float StandardDeviation);

/// <summary>
/// Score fusion of two embedders (<see cref="VisionOptions.FuseWith"/>): the mean of the two cosine scores,
/// each z-normalised by its own impostor statistics (<see cref="Statistics"/>), so that a score counts by how
/// unusual it is for a stranger, not by where the embedder's scale happens to sit (faceres impostors score about
/// 0.5, fr_feature's about 0).
/// <para>
/// It is kept a single dot product, so templates, the watchlist search and thresholds work unchanged: a fused
/// embedding is the two unit vectors laid end to end, scaled by sqrt(w1) and sqrt(w2) with w_i = (1/sd_i) /
/// (1/sd_1 + 1/sd_2). It has unit length, and the dot product of two of them is <see cref="Score"/>
/// w1·s1 + w2·s2, which is (z1 + z2) / 2 scaled by 2 / (1/sd_1 + 1/sd_2) and shifted by a constant: the same
/// order, ROC, AUC and EER as the z-score mean, on a cosine-like scale of its own (a fused threshold is not
/// either embedder's).
/// </para>
/// </summary>
public sealed class ScoreFusion
{
    /// <summary>
    /// Impostor statistics on clean dlib_johns (1210 impostor pairs), the only shared set with more than a
    /// thousand: <c>citywatch eval verify --set ../shared/data/faces/dlib_johns --embedder E --models ../shared/models --json</c>
    /// (<c>impostor_mean</c>, <c>impostor_sd</c>). Only the ratio of the deviations sets the weights.
    /// </summary>
    public static IReadOnlyList<ImpostorScores> Statistics { get; } =
    [
        new(FrFeatureEmbedder.ModelName, 0.00661f, 0.11926f),
        new(FaceResEmbedder.ModelName, 0.40261f, 0.07334f),
        new(MobileFaceEmbedder.ModelName, 0.14946f, 0.12785f),
    ];

    public ScoreFusion(string primary, string secondary)
    {
        if (primary == secondary)
        {
            throw new InvalidRequestException($"Score fusion needs two different embedders, not {primary} twice.");
        }

        Primary = Find(primary);
        Secondary = Find(secondary);
        var a = 1 / Primary.StandardDeviation;
        var b = 1 / Secondary.StandardDeviation;
        PrimaryWeight = a / (a + b);
        SecondaryWeight = b / (a + b);
    }

    public ImpostorScores Primary { get; }

    public ImpostorScores Secondary { get; }

    /// <summary>w1: the primary cosine's share of the fused score.</summary>
    public float PrimaryWeight { get; }

    /// <summary>w2 = 1 - w1.</summary>
    public float SecondaryWeight { get; }

    /// <summary>"fr_feature+faceres": the embedder name of fused templates (they compare only with each other).</summary>
    public string Name => $"{Primary.Embedder}+{Secondary.Embedder}";

    /// <summary>The fused score of two pairs' cosines: w1·s1 + w2·s2 (what the dot product of two fused embeddings is).</summary>
    public float Score(float primary, float secondary) => (PrimaryWeight * primary) + (SecondaryWeight * secondary);

    /// <summary>The mean of the two z-normalised scores, of which <see cref="Score"/> is a positive affine transform.</summary>
    public double ZMean(float primary, float secondary) =>
        (((primary - Primary.Mean) / Primary.StandardDeviation) + ((secondary - Secondary.Mean) / Secondary.StandardDeviation)) / 2;

    /// <summary>The fused embedding of one face: sqrt(w1)·<paramref name="primary"/> followed by sqrt(w2)·<paramref name="secondary"/> (both unit vectors).</summary>
    public float[] Fuse(ReadOnlySpan<float> primary, ReadOnlySpan<float> secondary)
    {
        var fused = new float[primary.Length + secondary.Length];
        var a = MathF.Sqrt(PrimaryWeight);
        var b = MathF.Sqrt(SecondaryWeight);
        for (var i = 0; i < primary.Length; i++)
        {
            fused[i] = a * primary[i];
        }

        for (var i = 0; i < secondary.Length; i++)
        {
            fused[primary.Length + i] = b * secondary[i];
        }

        return fused;
    }

    private static ImpostorScores Find(string embedder) =>
        Statistics.FirstOrDefault(s => s.Embedder == embedder)
        ?? throw new InvalidRequestException($"Unknown embedder '{embedder}': use one of {string.Join(", ", VisionOptions.Embedders)}.");
}
