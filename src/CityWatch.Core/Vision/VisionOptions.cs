using Microsoft.ML.OnnxRuntime;

namespace CityWatch.Vision;

/// <summary>
/// Settings of the face pipeline, bound from the "Vision" configuration section. The defaults are the ones
/// measured in docs/pipeline.md.
/// </summary>
public sealed record VisionOptions
{
    public const string SectionName = "Vision";

    /// <summary>The detectors that can be configured (<see cref="Detector"/>).</summary>
    public static IReadOnlyList<string> Detectors { get; } = [YuNetDetector.ModelName, UltraFaceDetector.ModelName];

    /// <summary>The embedders that can be configured (<see cref="Embedder"/>).</summary>
    public static IReadOnlyList<string> Embedders { get; } = [FrFeatureEmbedder.ModelName, FaceResEmbedder.ModelName, MobileFaceEmbedder.ModelName];

    /// <summary>The face detector: "yunet" (box and five landmarks) or "ultraface" (box only; landmarks estimated from the box).</summary>
    public string Detector { get; init; } = YuNetDetector.ModelName;

    /// <summary>The embedder: "fr_feature" (512-d), "faceres" (1024-d) or "mobileface" (256-d). Templates made by one cannot be compared with another's.</summary>
    public string Embedder { get; init; } = FrFeatureEmbedder.ModelName;

    /// <summary>
    /// Flip test-time augmentation: the aligned chip and its mirror image are both embedded, each
    /// L2-normalised, and their mean, normalised again, is the embedding. Twice the embedder runs per face.
    /// Templates made with it on and off are close but not the same: enrol and match with one setting.
    /// Measured in docs/evaluation.md ("Flip test-time augmentation").
    /// </summary>
    public bool FlipAugmentation { get; init; }

    /// <summary>
    /// Score fusion (<see cref="ScoreFusion"/>): a second embedder ("faceres", "fr_feature" or "mobileface", not
    /// <see cref="Embedder"/>) that embeds every face too; the embedding is the two laid end to end, weighted so
    /// that its cosine is the mean of the two z-normalised scores. Null (the default): off. Twice the embedder
    /// work per face, and templates of another name ("fr_feature+faceres") that compare with nothing else.
    /// Measured in docs/evaluation.md ("Score fusion").
    /// </summary>
    public string? FuseWith { get; init; }

    /// <summary>The verified model folder (filled by <c>citywatch models fetch</c>).</summary>
    public string ModelDirectory { get; init; } = "models";

    /// <summary>YuNet sees the image scaled so its long side is this many pixels (then padded to a multiple of 32); UltraFace always sees 320x240.</summary>
    public int DetectionSize { get; init; } = 640;

    /// <summary>Scale images whose long side is below <see cref="DetectionSize"/> up to it (off: small images are used as they are).</summary>
    public bool AllowUpscale { get; init; }

    /// <summary>
    /// Small-face refinement (YuNet only): a face whose eyes are closer than this many pixels in the
    /// detector's input is detected again on an upscaled crop around it, and the crop's landmarks are used
    /// for alignment (box and score stay). One extra, small detector run per such face; 0 turns it off.
    /// Measured in docs/evaluation.md ("Small faces").
    /// </summary>
    public float SmallFaceRefine { get; init; }

    /// <summary>Minimum detector score, sqrt(cls * obj), 0..1.</summary>
    public float ScoreThreshold { get; init; } = 0.6f;

    /// <summary>Boxes overlapping a better one by more than this IoU are dropped (non-maximum suppression).</summary>
    public float NmsIoU { get; init; } = 0.3f;

    /// <summary>ONNX Runtime intra-op threads per model; one was faster and steadier than two on a 2-core host.</summary>
    public int IntraOpThreads { get; init; } = 1;

    /// <summary>
    /// Sessions per model: up to this many threads detect and embed at once, each on its own ONNX Runtime
    /// session (made when first needed); more threads wait for a free one. 1 is the old single locked
    /// session per model. Default: the machine's core count. Measured in docs/performance.md ("Analysis on every core").
    /// </summary>
    public int AnalysisThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Most aligned faces embedded in one model run by <see cref="FacePipeline.EmbedBatch"/> (where the
    /// embedder's graph takes a batch; otherwise they are embedded one at a time). Default 1: the shipped graph
    /// alone. The live frame path embeds one face at a time and does not call EmbedBatch; above 1 every embedder
    /// keeps a second session on the model rewritten to a free batch dimension (read, rewritten and probed when
    /// the session is made) for runs of two or more chips, while a single chip still runs on the shipped graph.
    /// Only a caller that batches gains from it (the analysis bench sets it).
    /// </summary>
    public int EmbedBatchSize { get; init; } = 1;

    /// <summary>Throws <see cref="InvalidRequestException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelDirectory))
        {
            throw new InvalidRequestException("Vision:ModelDirectory is required.");
        }

        if (!Detectors.Contains(Detector, StringComparer.Ordinal))
        {
            throw new InvalidRequestException($"Vision:Detector must be one of {string.Join(", ", Detectors)}, not '{Detector}'.");
        }

        if (!Embedders.Contains(Embedder, StringComparer.Ordinal))
        {
            throw new InvalidRequestException($"Vision:Embedder must be one of {string.Join(", ", Embedders)}, not '{Embedder}'.");
        }

        if (FuseWith is not null && (!Embedders.Contains(FuseWith, StringComparer.Ordinal) || FuseWith == Embedder))
        {
            throw new InvalidRequestException($"Vision:FuseWith must be one of {string.Join(", ", Embedders.Where(e => e != Embedder))} (an embedder other than Vision:Embedder), not '{FuseWith}'.");
        }

        if (DetectionSize is < 32 or > 4096)
        {
            throw new InvalidRequestException($"Vision:DetectionSize must be 32..4096, not {DetectionSize}.");
        }

        if (SmallFaceRefine is < 0 or > 200 || float.IsNaN(SmallFaceRefine))
        {
            throw new InvalidRequestException($"Vision:SmallFaceRefine must be 0..200 pixels (0: off), not {SmallFaceRefine}.");
        }

        if (ScoreThreshold is <= 0 or >= 1)
        {
            throw new InvalidRequestException($"Vision:ScoreThreshold must be between 0 and 1, not {ScoreThreshold}.");
        }

        if (NmsIoU is <= 0 or > 1)
        {
            throw new InvalidRequestException($"Vision:NmsIoU must be in (0, 1], not {NmsIoU}.");
        }

        if (IntraOpThreads is < 1 or > 64)
        {
            throw new InvalidRequestException($"Vision:IntraOpThreads must be 1..64, not {IntraOpThreads}.");
        }

        if (AnalysisThreads is < 1 or > 256)
        {
            throw new InvalidRequestException($"Vision:AnalysisThreads must be 1..256, not {AnalysisThreads}.");
        }

        if (EmbedBatchSize is < 1 or > 64)
        {
            throw new InvalidRequestException($"Vision:EmbedBatchSize must be 1..64, not {EmbedBatchSize}.");
        }
    }

    public SessionOptions CreateSessionOptions()
    {
        var session = new SessionOptions
        {
            IntraOpNumThreads = IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };

        // Do not busy-wait between frames: the host's cores are shared with ingest and the web server.
        session.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return session;
    }
}
