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
/// thread at a time, so one instance serves every analysis thread (no lock across them).
/// </summary>
public sealed class FacePipeline : IDisposable
{
    private readonly TimeProvider time;
    private readonly SessionPool<IFaceDetector> detectors;
    private readonly SessionPool<AlignedEmbedder> embedders;

    public FacePipeline(VisionOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        Options = options;
        this.time = time;
        var detectorPath = ModelStore.Verified(options.ModelDirectory, DetectorModel(options.Detector));
        var embedderPath = ModelStore.Verified(options.ModelDirectory, EmbedderModel(options.Embedder));
        IFaceDetector NewDetector() => options.Detector switch
        {
            UltraFaceDetector.ModelName => new UltraFaceDetector(detectorPath, options),
            _ => new YuNetDetector(detectorPath, options),
        };
        AlignedEmbedder NewEmbedder() => options.Embedder switch
        {
            FaceResEmbedder.ModelName => new FaceResEmbedder(embedderPath, options),
            MobileFaceEmbedder.ModelName => new MobileFaceEmbedder(embedderPath, options),
            _ => new FrFeatureEmbedder(embedderPath, options),
        };

        // One of each now, so a bad model fails here; more are made as more threads come at once.
        detectors = new SessionPool<IFaceDetector>(NewDetector(), NewDetector, options.AnalysisThreads);
        try
        {
            embedders = new SessionPool<AlignedEmbedder>(NewEmbedder(), NewEmbedder, options.AnalysisThreads);
        }
        catch
        {
            detectors.Dispose();
            throw;
        }
    }

    public VisionOptions Options { get; }

    /// <summary>Length of every embedding this pipeline makes (it depends on the embedder).</summary>
    public int EmbeddingDimensions => embedders.First.Dimensions;

    /// <summary>The configured detector's name.</summary>
    public string DetectorName => detectors.First.Name;

    /// <summary>The configured embedder's name; embeddings of different embedders cannot be compared.</summary>
    public string EmbedderName => embedders.First.Name;

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

    /// <summary>Embedder runs so far.</summary>
    public long EmbedderRuns => embedders.Sum(e => e.Runs);

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
        using var lease = embedders.Rent();
        return lease.Value.Embed(image, face);
    }

    /// <summary>Most aligned faces one embedder run takes in <see cref="EmbedBatch"/>: <see cref="VisionOptions.EmbedBatchSize"/> where the embedder's graph takes a batch, else 1.</summary>
    public int EmbedBatchLimit => embedders.First.BatchLimit;

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

        using var lease = embedders.Rent();
        return lease.Value.EmbedBatch(faces);
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

    /// <summary>Cosine similarity of two L2-normalised embeddings (their dot product), -1..1.</summary>
    public static float Similarity(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    public void Dispose()
    {
        detectors.Dispose();
        embedders.Dispose();
    }

    private void Ensure(ProcessingGrant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        grant.EnsureValid(time.GetUtcNow());
    }
}
