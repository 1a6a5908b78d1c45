using CityWatch.Vision;

namespace CityWatch.Evaluation;

/// <summary>A hand-drawn face box; an ignored one (dlib ignore='1') is neither a miss nor a false positive.</summary>
public readonly record struct TruthBox(FaceBox Box, bool Ignore = false);

/// <summary>One detection: its box and the detector's score.</summary>
public readonly record struct ScoredBox(FaceBox Box, float Score);

/// <summary>The labelled boxes and the detector's output for one image.</summary>
public sealed record ImageDetections(string File, IReadOnlyList<TruthBox> Truth, IReadOnlyList<ScoredBox> Detections);

/// <summary>Precision and recall when detections scoring at or above <see cref="Threshold"/> are kept.</summary>
public readonly record struct PrPoint(float Threshold, double Precision, double Recall, int TruePositives, int FalsePositives);

/// <summary>Detection accuracy at one IoU: precision/recall at the operating score threshold, and the curve over thresholds.</summary>
public sealed record DetectionFigures(
    double IoU,
    int Faces,
    float ScoreThreshold,
    int TruePositives,
    int FalsePositives,
    double Precision,
    double Recall,
    double AveragePrecision,
    IReadOnlyList<PrPoint> Curve);

/// <summary>
/// Detection accuracy against hand-labelled boxes. In each image, detections are taken best score first and
/// each is matched greedily to the unmatched labelled face it overlaps most (IoU at or above the bar); a
/// detection that matches none is a false positive unless it overlaps an ignored box, and an unmatched
/// labelled face is a miss.
/// </summary>
public static class DetectionMetrics
{
    public static DetectionFigures Evaluate(IReadOnlyList<ImageDetections> images, double iou, float scoreThreshold)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (iou is <= 0 or > 1)
        {
            throw new InvalidRequestException($"The IoU bar must be in (0, 1], not {iou}.");
        }

        var faces = images.Sum(i => i.Truth.Count(t => !t.Ignore));
        var outcomes = new List<(float Score, bool TruePositive)>();
        foreach (var image in images)
        {
            outcomes.AddRange(Match(image, iou));
        }

        outcomes.Sort((a, b) => b.Score.CompareTo(a.Score));
        var curve = new List<PrPoint>();
        int tp = 0, fp = 0;
        for (var i = 0; i < outcomes.Count; i++)
        {
            if (outcomes[i].TruePositive)
            {
                tp++;
            }
            else
            {
                fp++;
            }

            if (i == outcomes.Count - 1 || outcomes[i + 1].Score != outcomes[i].Score)
            {
                curve.Add(new PrPoint(outcomes[i].Score, (double)tp / (tp + fp), faces == 0 ? 0 : (double)tp / faces, tp, fp));
            }
        }

        var atThreshold = curve.LastOrDefault(p => p.Threshold >= scoreThreshold);
        return new DetectionFigures(
            iou,
            faces,
            scoreThreshold,
            atThreshold.TruePositives,
            atThreshold.FalsePositives,
            atThreshold.TruePositives + atThreshold.FalsePositives == 0 ? 1 : atThreshold.Precision,
            atThreshold.Recall,
            AveragePrecision(curve),
            curve);
    }

    /// <summary>Each detection of one image (score and whether it is a true positive); ignored matches are left out.</summary>
    public static IReadOnlyList<(float Score, bool TruePositive)> Match(ImageDetections image, double iou)
    {
        ArgumentNullException.ThrowIfNull(image);
        var matched = new bool[image.Truth.Count];
        var result = new List<(float, bool)>();
        foreach (var detection in image.Detections.OrderByDescending(d => d.Score))
        {
            var best = -1;
            var bestIoU = 0.0;
            for (var t = 0; t < image.Truth.Count; t++)
            {
                if (matched[t] || image.Truth[t].Ignore)
                {
                    continue;
                }

                var overlap = detection.Box.IoU(image.Truth[t].Box);
                if (overlap >= iou && overlap > bestIoU)
                {
                    best = t;
                    bestIoU = overlap;
                }
            }

            if (best >= 0)
            {
                matched[best] = true;
                result.Add((detection.Score, true));
            }
            else if (!image.Truth.Any(t => t.Ignore && detection.Box.IoU(t.Box) >= iou))
            {
                result.Add((detection.Score, false));
            }
        }

        return result;
    }

    // All-point interpolated average precision (area under the precision envelope over recall).
    private static double AveragePrecision(IReadOnlyList<PrPoint> curve)
    {
        var envelope = new double[curve.Count];
        for (var i = curve.Count - 1; i >= 0; i--)
        {
            envelope[i] = Math.Max(curve[i].Precision, i + 1 < curve.Count ? envelope[i + 1] : 0);
        }

        double area = 0, previousRecall = 0;
        for (var i = 0; i < curve.Count; i++)
        {
            area += (curve[i].Recall - previousRecall) * envelope[i];
            previousRecall = curve[i].Recall;
        }

        return area;
    }
}
