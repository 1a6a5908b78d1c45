namespace CityWatch.Evaluation;

/// <summary>
/// The pairs whose smaller inter-eye distance (of the two faces, in the pixels the detector saw) is in
/// [<see cref="From"/>, <see cref="To"/>), and how well they separate: AUC within the bucket, and the share of
/// genuine (TAR) and impostor (FAR) pairs at or above <see cref="Threshold"/>. A figure the bucket has no pairs
/// for is null.
/// </summary>
public sealed record InterEyeBucket(float From, float? To, float Threshold, int Genuine, int Impostor, double? Auc, double? MeanGenuine, double? Tar, double? Far);

/// <summary>
/// Verification figures by face size, for the quality gate's <c>MinInterEyeDistance</c>: at which eye
/// distance does recognition still hold? A pair is as small as its smaller face.
/// </summary>
public static class InterEyeBuckets
{
    /// <summary>Bucket lower edges in pixels; the last bucket is open.</summary>
    public static IReadOnlyList<float> Edges { get; } = [0, 6, 8, 10, 12, 16, 24];

    /// <param name="genuine">Genuine scores.</param>
    /// <param name="genuineEyes">For each genuine score, the pair's smaller inter-eye distance.</param>
    /// <param name="impostor">Impostor scores.</param>
    /// <param name="impostorEyes">For each impostor score, the pair's smaller inter-eye distance.</param>
    /// <param name="threshold">The operating threshold TAR and FAR are counted at.</param>
    /// <param name="edges">Ascending lower edges (default <see cref="Edges"/>).</param>
    public static IReadOnlyList<InterEyeBucket> Compute(
        IReadOnlyList<float> genuine,
        IReadOnlyList<float> genuineEyes,
        IReadOnlyList<float> impostor,
        IReadOnlyList<float> impostorEyes,
        float threshold,
        IReadOnlyList<float>? edges = null)
    {
        ArgumentNullException.ThrowIfNull(genuine);
        ArgumentNullException.ThrowIfNull(genuineEyes);
        ArgumentNullException.ThrowIfNull(impostor);
        ArgumentNullException.ThrowIfNull(impostorEyes);
        if (genuine.Count != genuineEyes.Count || impostor.Count != impostorEyes.Count)
        {
            throw new ArgumentException("Each score needs its inter-eye distance.");
        }

        edges ??= Edges;
        var buckets = new List<InterEyeBucket>(edges.Count);
        for (var b = 0; b < edges.Count; b++)
        {
            var from = edges[b];
            float? to = b + 1 < edges.Count ? edges[b + 1] : null;
            bool In(float eyes) => eyes >= from && (to is not { } t || eyes < t);
            var g = genuine.Where((_, i) => In(genuineEyes[i])).ToList();
            var s = impostor.Where((_, i) => In(impostorEyes[i])).ToList();
            buckets.Add(new InterEyeBucket(
                from,
                to,
                threshold,
                g.Count,
                s.Count,
                g.Count > 0 && s.Count > 0 ? VerificationMetrics.Auc(g, s) : null,
                g.Count > 0 ? g.Average() : null,
                g.Count > 0 ? (double)g.Count(x => x >= threshold) / g.Count : null,
                s.Count > 0 ? (double)s.Count(x => x >= threshold) / s.Count : null));
        }

        return buckets;
    }
}
