using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Vision;

namespace CityWatch.Evaluation;

/// <summary>The outcome of running the pipeline over a verification set.</summary>
public sealed record VerificationReport(
    string Set,
    string Form,
    string Detector,
    string Embedder,
    Degradation? Degradation,
    bool FlipAugmentation,
    ScoreFusion? Fusion,
    float SmallFaceRefine,
    int Images,
    IReadOnlyList<string> NoFace,
    int PairsSkipped,
    IReadOnlyList<float> GenuineScores,
    IReadOnlyList<float> ImpostorScores,
    IReadOnlyList<float> GenuineEyes,
    IReadOnlyList<float> ImpostorEyes,
    VerificationFigures Figures)
{
    /// <summary>The figures by face size (<see cref="InterEyeBuckets"/>) at <paramref name="threshold"/>.</summary>
    public IReadOnlyList<InterEyeBucket> ByInterEye(float threshold) =>
        InterEyeBuckets.Compute(GenuineScores, GenuineEyes, ImpostorScores, ImpostorEyes, threshold);

    /// <summary>The share of impostor pairs scoring at or above <paramref name="threshold"/>: the false match rate measured there.</summary>
    public double FarAt(float threshold) => (double)ImpostorScores.Count(s => s >= threshold) / ImpostorScores.Count;

    /// <summary>Mean and standard deviation of the impostor scores (the statistics <see cref="ScoreFusion"/> normalises by).</summary>
    public (double Mean, double StandardDeviation) ImpostorSpread()
    {
        var mean = ImpostorScores.Average(s => (double)s);
        return (mean, Math.Sqrt(ImpostorScores.Average(s => (s - mean) * (s - mean))));
    }
}

/// <summary>The outcome of running the detector over a labelled detection set.</summary>
public sealed record DetectionReport(string Set, string Detector, Degradation? Degradation, int Images, int Faces, float CurveFloor, IReadOnlyList<DetectionFigures> ByIoU);

/// <summary>
/// Runs detection, alignment and embedding on every image of a set (the largest face of each), under an
/// evaluation grant, and scores every labelled pair. Images with no usable face are listed, and the pairs
/// that need them are counted as skipped: nothing is dropped silently. With a <see cref="Degradation"/>,
/// every image is degraded the same way before the pipeline sees it.
/// </summary>
public static class EvaluationRun
{
    /// <summary>IoU bars at which detection is reported.</summary>
    public static IReadOnlyList<double> IoUs { get; } = [0.3, 0.5];

    public static async Task<VerificationReport> VerifyAsync(
        FacePipeline pipeline,
        Func<CancellationToken, Task<ProcessingGrant>> grant,
        VerificationSet set,
        IEnumerable<double> fars,
        Degradation? degradation = null,
        IProgress<int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(grant);
        ArgumentNullException.ThrowIfNull(set);
        var embeddings = new float[]?[set.Images.Count];
        var eyes = new float[set.Images.Count];
        var noFace = new List<string>();
        for (var i = 0; i < set.Images.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var image = Decode(set.Images[i].Path, degradation);
            var current = await grant(cancellationToken);
            var face = pipeline.Detect(current, image).MaxBy(f => f.Box.Area);
            if (face is null)
            {
                noFace.Add(set.Images[i].Path);
            }
            else
            {
                embeddings[i] = pipeline.Embed(current, image, face);
                eyes[i] = face.InterEyeDistance;
            }

            progress?.Report(i + 1);
        }

        var genuine = new List<float>();
        var impostor = new List<float>();
        var genuineEyes = new List<float>();
        var impostorEyes = new List<float>();
        var skipped = 0;
        foreach (var pair in set.Pairs)
        {
            if (embeddings[pair.First] is not { } a || embeddings[pair.Second] is not { } b)
            {
                skipped++;
                continue;
            }

            (pair.Same ? genuine : impostor).Add(FacePipeline.Similarity(a, b));
            (pair.Same ? genuineEyes : impostorEyes).Add(Math.Min(eyes[pair.First], eyes[pair.Second]));
        }

        var figures = VerificationMetrics.Compute(genuine, impostor, fars);
        return new VerificationReport(set.Source, set.Form, pipeline.DetectorName, pipeline.EmbedderName, degradation, pipeline.Options.FlipAugmentation, pipeline.Fusion, pipeline.Options.SmallFaceRefine, set.Images.Count, noFace, skipped, genuine, impostor, genuineEyes, impostorEyes, figures);
    }

    /// <summary>
    /// Detects faces in every image of <paramref name="set"/>. The pipeline should run with a low score
    /// threshold (<paramref name="curveFloor"/>) so that the precision-recall curve covers the operating
    /// point <paramref name="operatingThreshold"/>, at which precision and recall are reported. A degraded
    /// image's detections are scaled back to the original's pixels, where the labelled boxes are.
    /// </summary>
    public static async Task<DetectionReport> DetectAsync(
        FacePipeline pipeline,
        Func<CancellationToken, Task<ProcessingGrant>> grant,
        DetectionSet set,
        float operatingThreshold,
        Degradation? degradation = null,
        IProgress<int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(grant);
        ArgumentNullException.ThrowIfNull(set);
        var images = new List<ImageDetections>();
        for (var i = 0; i < set.Images.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var labelled = set.Images[i];
            var original = Decode(labelled.Path, null);
            var seen = degradation is null ? original : degradation.Apply(original);
            var sx = original.Width / (float)seen.Width;
            var sy = original.Height / (float)seen.Height;
            var faces = pipeline.Detect(await grant(cancellationToken), seen);
            images.Add(new ImageDetections(
                labelled.Path,
                labelled.Boxes,
                faces.Select(f => new ScoredBox(new FaceBox(f.Box.X * sx, f.Box.Y * sy, f.Box.Width * sx, f.Box.Height * sy), f.Score)).ToList()));
            progress?.Report(i + 1);
        }

        var byIoU = IoUs.Select(iou => DetectionMetrics.Evaluate(images, iou, operatingThreshold)).ToList();
        return new DetectionReport(set.Source, pipeline.DetectorName, degradation, set.Images.Count, set.Faces, pipeline.Options.ScoreThreshold, byIoU);
    }

    private static BgrImage Decode(string path, Degradation? degradation)
    {
        try
        {
            var image = ImageCodec.DecodeFile(path);
            return degradation is null ? image : degradation.Apply(image);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidRequestException or IOException)
        {
            throw new SetFormatException(path, null, $"cannot read the image: {e.Message}");
        }
    }
}
