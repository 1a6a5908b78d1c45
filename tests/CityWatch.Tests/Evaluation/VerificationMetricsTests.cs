using CityWatch.Evaluation;

namespace CityWatch.Tests.Evaluation;

public sealed class VerificationMetricsTests
{
    [Fact]
    public void Auc_and_eer_of_a_tiny_list_match_the_hand_computed_values()
    {
        // Genuine 0.9, 0.8, 0.3; impostor 0.5, 0.2. Pairs won: 0.9 beats 2, 0.8 beats 2, 0.3 beats 1 -> 5/6.
        // ROC: (0,0) (0,1/3) (0,2/3) (1/2,2/3) (1/2,1) (1,1). FRR - FAR goes from 1/3 at (0,2/3) to -1/6 at
        // (1/2,2/3): it crosses zero 2/3 of the way along, at FAR = FRR = 1/3.
        var figures = VerificationMetrics.Compute([0.9f, 0.8f, 0.3f], [0.5f, 0.2f]);
        Assert.Equal(5.0 / 6, figures.Auc, 12);
        Assert.Equal(1.0 / 3, figures.Eer, 12);
        Assert.Equal(
            [(0.0, 0.0), (0.0, 1.0 / 3), (0.0, 2.0 / 3), (0.5, 2.0 / 3), (0.5, 1.0), (1.0, 1.0)],
            figures.Roc.Select(p => (p.Far, p.Tar)).ToArray());
        // The threshold moves from 0.8 towards 0.5 by the same 2/3.
        Assert.Equal(0.6f, figures.EerThreshold, 5);
    }

    [Fact]
    public void A_second_hand_computed_list_has_its_eer_on_a_roc_point()
    {
        // Genuine 0.9 0.8 0.7 0.4, impostor 0.6 0.5 0.3 0.2: 14 of 16 pairs won; at threshold 0.6 FAR = FRR = 1/4.
        var figures = VerificationMetrics.Compute([0.9f, 0.8f, 0.7f, 0.4f], [0.6f, 0.5f, 0.3f, 0.2f]);
        Assert.Equal(14.0 / 16, figures.Auc, 12);
        Assert.Equal(0.25, figures.Eer, 12);
    }

    [Fact]
    public void Ties_between_genuine_and_impostor_scores_count_one_half()
    {
        var all = VerificationMetrics.Compute([0.5f, 0.5f], [0.5f, 0.5f]);
        Assert.Equal(0.5, all.Auc, 12);
        Assert.Equal(0.5, all.Eer, 12);
        Assert.Equal([(0.0, 0.0), (1.0, 1.0)], all.Roc.Select(p => (p.Far, p.Tar)).ToArray());

        // One tie among otherwise won pairs: 0.7 vs 0.7 counts 1/2, so (3 + 0.5) / 4.
        Assert.Equal(3.5 / 4, VerificationMetrics.Auc([0.9f, 0.7f], [0.7f, 0.1f]), 12);
    }

    [Fact]
    public void Perfect_separation_gives_auc_one_eer_zero_and_a_threshold_in_the_gap()
    {
        var figures = VerificationMetrics.Compute([0.9f, 0.8f], [0.2f, 0.1f]);
        Assert.Equal(1.0, figures.Auc, 12);
        Assert.Equal(0.0, figures.Eer, 12);
        Assert.Equal(0.5f, figures.EerThreshold, 5);
    }

    [Fact]
    public void Reversed_scores_give_auc_zero_and_eer_one()
    {
        var figures = VerificationMetrics.Compute([0.1f, 0.2f], [0.8f, 0.9f]);
        Assert.Equal(0.0, figures.Auc, 12);
        Assert.Equal(1.0, figures.Eer, 12);
    }

    [Fact]
    public void Tar_at_far_is_null_when_there_are_fewer_than_one_over_far_impostor_pairs()
    {
        var impostor = Enumerable.Range(0, 99).Select(i => i / 1000f).ToArray();
        var figures = VerificationMetrics.Compute([0.5f], impostor);
        Assert.Null(figures.TarAtFar[0.01]);
        Assert.Null(figures.ThresholdAtFar[0.01]);
        Assert.Null(figures.TarAtFar[0.001]);
    }

    [Fact]
    public void Threshold_at_far_accepts_at_most_that_share_of_impostors()
    {
        // 200 impostors 0.000 .. 0.199: at FAR 1e-2 two may be accepted (0.199 and 0.198), so the threshold
        // lies just above 0.197. Genuine 0.1975 is accepted, 0.197 and 0.15 are not.
        var impostor = Enumerable.Range(0, 200).Select(i => i / 1000f).ToArray();
        float[] genuine = [0.5f, 0.1975f, 0.197f, 0.15f];
        var figures = VerificationMetrics.Compute(genuine, impostor);
        var threshold = figures.ThresholdAtFar[0.01]!.Value;
        Assert.True(threshold > 0.197f && threshold < 0.1975f, $"threshold {threshold}");
        Assert.Equal(2, impostor.Count(s => s >= threshold));
        Assert.Equal(0.5, figures.TarAtFar[0.01]!.Value, 12);
        Assert.Null(figures.TarAtFar[0.001]);
    }

    [Fact]
    public void Tied_impostors_at_the_threshold_are_all_rejected()
    {
        // 100 impostors, the top two tied at 0.9: FAR 1e-2 allows one, so both must be below the threshold.
        var impostor = Enumerable.Repeat(0.1f, 98).Append(0.9f).Append(0.9f).ToArray();
        var threshold = VerificationMetrics.ThresholdAtFar(impostor, 0.01)!.Value;
        Assert.True(threshold > 0.9f);
        Assert.Equal(0, impostor.Count(s => s >= threshold));
    }

    [Fact]
    public void Empty_score_lists_are_refused()
    {
        Assert.Throws<InvalidRequestException>(() => VerificationMetrics.Compute([], [0.1f]));
        Assert.Throws<InvalidRequestException>(() => VerificationMetrics.ThresholdAtFar([0.1f], 1.5));
    }
}
