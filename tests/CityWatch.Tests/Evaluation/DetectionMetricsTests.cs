using CityWatch.Evaluation;
using CityWatch.Vision;

namespace CityWatch.Tests.Evaluation;

public sealed class DetectionMetricsTests
{
    private static readonly FaceBox A = new(0, 0, 10, 10);
    private static readonly FaceBox B = new(100, 100, 10, 10);
    private static readonly FaceBox Ignored = new(200, 200, 10, 10);

    [Fact]
    public void Greedy_matching_by_score_counts_hits_misses_and_false_positives()
    {
        var image = new ImageDetections(
            "x.jpg",
            [new TruthBox(A), new TruthBox(B), new TruthBox(Ignored, Ignore: true)],
            [
                new ScoredBox(new FaceBox(1, 0, 10, 10), 0.9f),   // A, IoU 9/11 = 0.82: true positive
                new ScoredBox(new FaceBox(0, 1, 10, 10), 0.8f),   // A again: already taken -> false positive
                new ScoredBox(new FaceBox(200, 201, 10, 10), 0.7f), // the ignored box: neither
                new ScoredBox(new FaceBox(50, 50, 10, 10), 0.6f), // nothing: false positive
            ]);

        var figures = DetectionMetrics.Evaluate([image], 0.5, 0.0f);

        Assert.Equal(2, figures.Faces);
        Assert.Equal(1, figures.TruePositives);
        Assert.Equal(2, figures.FalsePositives);
        Assert.Equal(1.0 / 3, figures.Precision, 12);
        Assert.Equal(0.5, figures.Recall, 12);
        Assert.Equal(
            [(0.9f, 1.0, 0.5), (0.8f, 0.5, 0.5), (0.6f, 1.0 / 3, 0.5)],
            figures.Curve.Select(p => (p.Threshold, p.Precision, p.Recall)).ToArray());
    }

    [Fact]
    public void The_iou_bar_decides_whether_a_loose_box_is_a_hit()
    {
        // Shifted by 4 of 10 pixels: IoU = 60 / 140 = 0.43, a hit at 0.3 and a miss at 0.5.
        var image = new ImageDetections("x.jpg", [new TruthBox(A)], [new ScoredBox(new FaceBox(4, 0, 10, 10), 0.9f)]);
        Assert.Equal(1.0, DetectionMetrics.Evaluate([image], 0.3, 0.5f).Recall);
        var strict = DetectionMetrics.Evaluate([image], 0.5, 0.5f);
        Assert.Equal(0.0, strict.Recall);
        Assert.Equal(0.0, strict.Precision);
    }

    [Fact]
    public void Detections_below_the_score_threshold_do_not_count_at_the_operating_point()
    {
        var image = new ImageDetections(
            "x.jpg",
            [new TruthBox(A), new TruthBox(B)],
            [new ScoredBox(A, 0.9f), new ScoredBox(B, 0.4f), new ScoredBox(Ignored, 0.3f)]);
        var figures = DetectionMetrics.Evaluate([image], 0.5, 0.6f);
        Assert.Equal(1, figures.TruePositives);
        Assert.Equal(0, figures.FalsePositives);
        Assert.Equal(0.5, figures.Recall);
        Assert.Equal(1.0, figures.Precision);
        // Over the whole curve: precision 1 up to recall 1, so AP is 1.
        Assert.Equal(1.0, figures.AveragePrecision, 12);
    }
}
