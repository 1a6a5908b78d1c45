using System.Numerics.Tensors;
using CityWatch.Grants;

namespace CityWatch.Vision;

/// <summary>A detected face and its L2-normalised embedding.</summary>
public sealed record EmbeddedFace(DetectedFace Face, float[] Embedding);

/// <summary>
/// The frame path: detection (<see cref="VisionOptions.Detector"/>: YuNet or UltraFace), five-point
/// alignment, embedding (<see cref="VisionOptions.Embedder"/>: fr_feature, faceres or mobileface). Every entry point takes a
/// <see cref="ProcessingGrant"/> and checks it is still valid before any model runs: no grant, no
/// processing. Built from verified models (<see cref="ModelStore.Verified"/>). Thread-safe: each model has
/// a pool of up to <see cref="VisionOptions.AnalysisThreads"/> ONNX Runtime sessions, each used by one
/// thread at a time, so one instance serves every analysis thread (no lock across them). With
/// <see cref="VisionOptions.FuseWith"/> a second embedder embeds every face too and the embedding is their
/// <see cref="ScoreFusion"/>.
/// </summary>
public sealed class FacePipeline : IDisposable
{
    private readonly TimeProvider time;
    private readonly SessionPool<IFaceDetector> detectors;
    private readonly SessionPool<AlignedEmbedder> embedders;
    private readonly SessionPool<AlignedEmbedder>? second;
    private readonly string embedderPath;

    public FacePipeline(VisionOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        Options = options;
        this.time = time;
        var detectorPath = ModelStore.Verified(options.ModelDirectory, DetectorModel(options.Detector));
        embedderPath = ModelStore.Verified(options.ModelDirectory, EmbedderModel(options.Embedder));
        var secondPath = options.FuseWith is { } fuseWith ? ModelStore.Verified(options.ModelDirectory, EmbedderModel(fuseWith)) : null;
        Fusion = options.FuseWith is { } other ? new ScoreFusion(options.Embedder, other) : null;
        IFaceDetector NewDetector() => options.Detector switch
        {
            UltraFaceDetector.ModelName => new UltraFaceDetector(detectorPath, options),
            _ => new YuNetDetector(detectorPath, options),
        };
        var path = embedderPath;
        AlignedEmbedder NewEmbedder() => Embedder(options.Embedder, path, options);
        AlignedEmbedder NewSecond() => Embedder(options.FuseWith!, secondPath!, options);

        // One of each now, so a bad model fails here; more are made as more threads come at once.
        detectors = new SessionPool<IFaceDetector>(NewDetector(), NewDetector, options.AnalysisThreads);
        try
        {
            embedders = new SessionPool<AlignedEmbedder>(NewEmbedder(), NewEmbedder, options.AnalysisThreads);
            second = Fusion is null ? null : new SessionPool<AlignedEmbedder>(NewSecond(), NewSecond, options.AnalysisThreads);
        }
        catch
        {
            embedders?.Dispose();
            detectors.Dispose();
            throw;
        }
    }

    public VisionOptions Options { get; }

    /// <summary>Length of every embedding this pipeline makes (it depends on the embedder, and with fusion is the sum of both).</summary>
    public int EmbeddingDimensions => embedders.First.Dimensions + (second?.First.Dimensions ?? 0);

    /// <summary>The score fusion in force (<see cref="VisionOptions.FuseWith"/>), or null.</summary>
    public ScoreFusion? Fusion { get; }

    /// <summary>The configured detector's name.</summary>
    public string DetectorName => detectors.First.Name;

    /// <summary>The configured embedder's name ("fr_feature+faceres" with fusion); embeddings of different embedders cannot be compared.</summary>
    public string EmbedderName => Fusion?.Name ?? embedders.First.Name;

    /// <summary>Sessions per model: the most threads that detect (or embed) at once (<see cref="VisionOptions.AnalysisThreads"/>).</summary>
    public int AnalysisThreads => detectors.Capacity;

    /// <summary>Detector sessions made so far (one per thread that came while every other was busy, at most <see cref="AnalysisThreads"/>).</summary>
    public int DetectorSessions => detectors.Count;

    /// <summary>Embedder sessions made so far (at most <see cref="AnalysisThreads"/>).</summary>
    public int EmbedderSessions => embedders.Count;

    /// <summary>The catalogued model file of a detector name.</summary>
    public static ModelInfo DetectorModel(string name) => name switch
    {
        YuNetDetector.ModelName => ModelCatalog.YuNetDynamic,
        UltraFaceDetector.ModelName => ModelCatalog.UltraFaceRfb320,
        _ => throw new InvalidRequestException($"Unknown detector '{name}': use one of {string.Join(", ", VisionOptions.Detectors)}."),
    };

    /// <summary>The catalogued model file of an embedder name.</summary>
    public static ModelInfo EmbedderModel(string name) => name switch
    {
        FrFeatureEmbedder.ModelName => ModelCatalog.FrFeature,
        FaceResEmbedder.ModelName => ModelCatalog.FaceRes,
        MobileFaceEmbedder.ModelName => ModelCatalog.MobileFace,
        _ => throw new InvalidRequestException($"Unknown embedder '{name}': use one of {string.Join(", ", VisionOptions.Embedders)}."),
    };

    /// <summary>Detector runs so far (for metrics, and for tests that check nothing ran).</summary>
    public long DetectorRuns => detectors.Sum(d => d.Runs);

    /// <summary>Embedder runs so far (of both embedders with fusion).</summary>
    public long EmbedderRuns => embedders.Sum(e => e.Runs) + (second?.Sum(e => e.Runs) ?? 0);

    /// <summary>Embedder runs so far that took two or more chips (on the rewritten batch graph; one chip always runs on the shipped graph).</summary>
    public long EmbedderBatchedRuns => embedders.Sum(e => e.BatchedRuns);

    /// <summary>Faces in <paramref name="image"/>, best first, in its pixel coordinates.</summary>
    /// <exception cref="GrantExpiredException">The grant is not valid now; nothing ran.</exception>
    public IReadOnlyList<DetectedFace> Detect(ProcessingGrant grant, BgrImage image)
    {
        Ensure(grant);
        using var lease = detectors.Rent();
        return lease.Value.Detect(image);
    }

    /// <summary>The L2-normalised embedding (<see cref="EmbeddingDimensions"/> values) of <paramref name="face"/> (found in <paramref name="image"/>).</summary>
    /// <exception cref="GrantExpiredException">The grant is not valid now; nothing ran.</exception>
    public float[] Embed(ProcessingGrant grant, BgrImage image, DetectedFace face)
    {
        Ensure(grant);
        float[] embedding;
        using (var lease = embedders.Rent())
        {
            embedding = lease.Value.Embed(image, face);
        }

        if (second is null)
        {
            return embedding;
        }

        using var other = second.Rent();
        return Fusion!.Fuse(embedding, other.Value.Embed(image, face));
    }

    /// <summary>Most aligned faces one embedder run takes in <see cref="EmbedBatch"/>: <see cref="VisionOptions.EmbedBatchSize"/> where the embedder's graph takes a batch, else 1.</summary>
    public int EmbedBatchLimit => Math.Min(embedders.First.BatchLimit, second?.First.BatchLimit ?? int.MaxValue);

    /// <summary>
    /// The embeddings of several faces (from one frame or many), in order, in as few model runs as
    /// <see cref="EmbedBatchLimit"/> allows; each equals, within 1e-5, what <see cref="Embed"/> gives.
    /// </summary>
    /// <exception cref="GrantExpiredException">The grant is not valid now; nothing ran.</exception>
    public IReadOnlyList<float[]> EmbedBatch(ProcessingGrant grant, IReadOnlyList<(BgrImage Frame, DetectedFace Face)> faces)
    {
        Ensure(grant);
        ArgumentNullException.ThrowIfNull(faces);
        if (faces.Count == 0)
        {
            return [];
        }

        float[][] embeddings;
        using (var lease = embedders.Rent())
        {
            embeddings = lease.Value.EmbedBatch(faces);
        }

        if (second is null)
        {
            return embeddings;
        }

        using var other = second.Rent();
        var others = other.Value.EmbedBatch(faces);
        return embeddings.Select((e, i) => Fusion!.Fuse(e, others[i])).ToList();
    }

    /// <summary>
    /// Detects and embeds every face whose eyes are at least <paramref name="minInterEyeDistance"/> pixels
    /// apart (smaller faces are detected but not embedded: they match poorly).
    /// </summary>
    public IReadOnlyList<EmbeddedFace> DetectAndEmbed(ProcessingGrant grant, BgrImage image, float minInterEyeDistance = 0)
    {
        var faces = Detect(grant, image);
        var result = new List<EmbeddedFace>(faces.Count);
        foreach (var face in faces)
        {
            if (face.InterEyeDistance >= minInterEyeDistance)
            {
                result.Add(new EmbeddedFace(face, Embed(grant, image, face)));
            }
        }

        return result;
    }

    /// <summary>
    /// An int8 form of this pipeline's embedder (<see cref="QuantizedGraph"/>), calibrated on <paramref name="calibration"/>,
    /// to measure beside the float one (<c>citywatch bench analysis</c>). The live path never uses it: it has not met the
    /// accuracy bar (docs/performance.md, "An int8 embedder").
    /// </summary>
    /// <exception cref="GrantExpiredException">The grant is not valid now; nothing ran.</exception>
    public QuantizedEmbedder Quantized(ProcessingGrant grant, IReadOnlyList<(BgrImage Frame, DetectedFace Face)> calibration)
    {
        Ensure(grant);
        ArgumentNullException.ThrowIfNull(calibration);
        if (Fusion is not null || calibration.Count == 0)
        {
            throw new InvalidRequestException("An int8 embedder is made for one embedder (no fusion) from at least one calibration face.");
        }

        var float32 = File.ReadAllBytes(embedderPath);
        using var lease = embedders.Rent();
        var spec = lease.Value.Spec;
        var chipBytes = 3 * spec.ChipSize * spec.ChipSize;
        var inputs = new List<float[]>();
        var chip = new byte[chipBytes];
        foreach (var (frame, face) in calibration)
        {
            FaceAligner.Warp(frame, FaceAligner.Estimate(face.Landmarks, lease.Value.Template), chip, spec.ChipSize);
            var input = new float[chipBytes];
            AlignedEmbedder.Fill(spec, chip, input);
            inputs.Add(input);
        }

        long[] shape = spec.ChannelsLast ? [1, spec.ChipSize, spec.ChipSize, 3] : [1, 3, spec.ChipSize, spec.ChipSize];
        using var sessionOptions = Options.CreateSessionOptions();
        var ranges = QuantizedGraph.Calibration(float32, inputs, shape, sessionOptions);
        var int8 = QuantizedGraph.Quantize(float32, ranges);
        return new QuantizedEmbedder(int8, Options with { EmbedBatchSize = 1, FlipAugmentation = false }, spec, time, calibration.Count);
    }

    /// <summary>Cosine similarity of two L2-normalised embeddings (their dot product), -1..1.</summary>
    public static float Similarity(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    public void Dispose()
    {
        detectors.Dispose();
        embedders.Dispose();
        second?.Dispose();
    }

    private static AlignedEmbedder Embedder(string name, string path, VisionOptions options) => name switch
    {
        FaceResEmbedder.ModelName => new FaceResEmbedder(path, options),
        MobileFaceEmbedder.ModelName => new MobileFaceEmbedder(path, options),
        _ => new FrFeatureEmbedder(path, options),
    };

    private void Ensure(ProcessingGrant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        grant.EnsureValid(time.GetUtcNow());
    }
}
