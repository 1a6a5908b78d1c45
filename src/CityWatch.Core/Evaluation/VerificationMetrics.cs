namespace CityWatch.Evaluation;

/// <summary>One operating point: accept when score >= <see cref="Threshold"/>; the share of impostor (FAR) and genuine (TAR) pairs accepted.</summary>
public readonly record struct RocPoint(float Threshold, double Far, double Tar)
{
    /// <summary>False non-match rate, 1 - TAR.</summary>
    public double Frr => 1 - Tar;
}

/// <summary>The figures of a genuine/impostor score split. A figure the set is too small for is null.</summary>
public sealed record VerificationFigures(
    int Genuine,
    int Impostor,
    double Auc,
    double Eer,
    float EerThreshold,
    IReadOnlyList<RocPoint> Roc,
    IReadOnlyDictionary<double, double?> TarAtFar,
    IReadOnlyDictionary<double, float?> ThresholdAtFar);

/// <summary>
/// Verification accuracy from similarity scores of genuine (same person) and impostor (different people)
/// pairs. A pair is accepted when its score is at or above the threshold, as the watchlist search does.
/// </summary>
public static class VerificationMetrics
{
    /// <summary>The FARs reported by default.</summary>
    public static IReadOnlyList<double> StandardFars { get; } = [1e-2, 1e-3];

    public static VerificationFigures Compute(IReadOnlyList<float> genuine, IReadOnlyList<float> impostor, IEnumerable<double>? fars = null)
    {
        ArgumentNullException.ThrowIfNull(genuine);
        ArgumentNullException.ThrowIfNull(impostor);
        if (genuine.Count == 0 || impostor.Count == 0)
        {
            throw new InvalidRequestException($"Need genuine and impostor pairs to measure accuracy; got {genuine.Count} genuine and {impostor.Count} impostor.");
        }

        if (genuine.Concat(impostor).Any(float.IsNaN))
        {
            throw new InvalidRequestException("A score is NaN.");
        }

        var roc = Roc(genuine, impostor);
        var (eer, eerThreshold) = Eer(roc);
        var tar = new Dictionary<double, double?>();
        var thresholds = new Dictionary<double, float?>();
        foreach (var far in (fars ?? StandardFars).Distinct())
        {
            var threshold = ThresholdAtFar(impostor, far);
            thresholds[far] = threshold;
            tar[far] = threshold is { } t ? (double)genuine.Count(g => g >= t) / genuine.Count : null;
        }

        return new VerificationFigures(genuine.Count, impostor.Count, Auc(genuine, impostor), eer, eerThreshold, roc, tar, thresholds);
    }

    /// <summary>
    /// The area under the ROC curve: the probability that a random genuine pair scores above a random
    /// impostor pair, a tie counting one half (Mann-Whitney).
    /// </summary>
    public static double Auc(IReadOnlyList<float> genuine, IReadOnlyList<float> impostor)
    {
        ArgumentNullException.ThrowIfNull(genuine);
        ArgumentNullException.ThrowIfNull(impostor);
        var sorted = impostor.ToArray();
        Array.Sort(sorted);
        double wins = 0;
        foreach (var g in genuine)
        {
            var below = LowerBound(sorted, g);
            var notAbove = UpperBound(sorted, g);
            wins += below + (0.5 * (notAbove - below));
        }

        return wins / ((double)genuine.Count * impostor.Count);
    }

    /// <summary>
    /// The ROC curve from (0,0) (threshold +inf) to (1,1), one point per distinct score, thresholds falling.
    /// Tied genuine and impostor scores give one diagonal step.
    /// </summary>
    public static IReadOnlyList<RocPoint> Roc(IReadOnlyList<float> genuine, IReadOnlyList<float> impostor)
    {
        ArgumentNullException.ThrowIfNull(genuine);
        ArgumentNullException.ThrowIfNull(impostor);
        var scores = genuine.Select(s => (Score: s, Genuine: true))
            .Concat(impostor.Select(s => (Score: s, Genuine: false)))
            .OrderByDescending(s => s.Score)
            .ToList();
        var points = new List<RocPoint> { new(float.PositiveInfinity, 0, 0) };
        int acceptedGenuine = 0, acceptedImpostor = 0;
        for (var i = 0; i < scores.Count; i++)
        {
            if (scores[i].Genuine)
            {
                acceptedGenuine++;
            }
            else
            {
                acceptedImpostor++;
            }

            if (i == scores.Count - 1 || scores[i + 1].Score != scores[i].Score)
            {
                points.Add(new RocPoint(scores[i].Score, (double)acceptedImpostor / impostor.Count, (double)acceptedGenuine / genuine.Count));
            }
        }

        return points;
    }

    /// <summary>
    /// The equal error rate: where FRR = FAR along the ROC curve, linearly interpolated between its points,
    /// and the threshold there (interpolated the same way; at a perfect split, the midpoint of the gap).
    /// </summary>
    public static (double Eer, float Threshold) Eer(IReadOnlyList<RocPoint> roc)
    {
        ArgumentNullException.ThrowIfNull(roc);
        for (var i = 1; i < roc.Count; i++)
        {
            var d0 = roc[i - 1].Frr - roc[i - 1].Far;
            var d1 = roc[i].Frr - roc[i].Far;
            if (d0 >= 0 && d1 <= 0)
            {
                var alpha = d0 == d1 ? 0 : d0 / (d0 - d1);
                var eer = roc[i - 1].Far + (alpha * (roc[i].Far - roc[i - 1].Far));
                var t0 = float.IsPositiveInfinity(roc[i - 1].Threshold) ? roc[i].Threshold : roc[i - 1].Threshold;
                var threshold = d1 == 0 && i + 1 < roc.Count
                    ? (roc[i].Threshold + roc[i + 1].Threshold) / 2
                    : (float)(t0 + (alpha * (roc[i].Threshold - t0)));
                return (eer, threshold);
            }
        }

        throw new InvalidOperationException("The ROC curve does not reach (1,1).");
    }

    /// <summary>
    /// The lowest threshold that accepts at most a <paramref name="far"/> share of the impostor pairs (just
    /// above the impostor score that would exceed it), or null when there are fewer than 1/FAR impostor
    /// pairs: the set cannot resolve that rate.
    /// </summary>
    public static float? ThresholdAtFar(IReadOnlyList<float> impostor, double far)
    {
        ArgumentNullException.ThrowIfNull(impostor);
        if (far is <= 0 or >= 1 || double.IsNaN(far))
        {
            throw new InvalidRequestException($"A target FAR must be between 0 and 1, not {far}.");
        }

        if (impostor.Count * far < 1 - 1e-9)
        {
            return null;
        }

        var allowed = (int)Math.Floor((impostor.Count * far) + 1e-9);
        var descending = impostor.OrderByDescending(s => s).ToArray();
        return MathF.BitIncrement(descending[allowed]);
    }

    // Index of the first element >= value.
    private static int LowerBound(float[] sorted, float value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    // Index of the first element > value.
    private static int UpperBound(float[] sorted, float value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] <= value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
