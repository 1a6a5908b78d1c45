using System.Numerics.Tensors;
using CityWatch.Grants;
using CityWatch.Policy;

namespace CityWatch.Vision;

/// <summary>A detected face and its L2-normalised embedding.</summary>
public sealed record EmbeddedFace(DetectedFace Face, float[] Embedding);

/// <summary>
/// The frame path: detection (<see cref="VisionOptions.Detector"/>: YuNet or UltraFace), five-point
/// alignment, embedding (<see cref="VisionOptions.Embedder"/>: fr_feature, faceres or mobileface). Every entry point takes a
/// <see cref="ProcessingGrant"/> and checks it is still valid before any model runs: no grant, no
/// processing. Built from verified models (<see cref="ModelStore.Verified"/>); one instance per worker is
/// enough (calls into each model are serialised).
/// </summary>
public sealed class FacePipeline : IDisposable
{
    private readonly TimeProvider time;
    private readonly IFaceDetector detector;
    private readonly AlignedEmbedder embedder;

    public FacePipeline(VisionOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        Options = options;
        this.time = time;
        var detectorPath = ModelStore.Verified(options.ModelDirectory, DetectorModel(options.Detector));
        var embedderPath = ModelStore.Verified(options.ModelDirectory, EmbedderModel(options.Embedder));
        detector = options.Detector switch
        {
            UltraFaceDetector.ModelName => new UltraFaceDetector(detectorPath, options),
            _ => new YuNetDetector(detectorPath, options),
        };
        try
        {
            embedder = options.Embedder switch
            {
                FaceResEmbedder.ModelName => new FaceResEmbedder(embedderPath, options),
                MobileFaceEmbedder.ModelName => new MobileFaceEmbedder(embedderPath, options),
                _ => new FrFeatureEmbedder(embedderPath, options),
            };
        }
        catch
        {
            detector.Dispose();
            throw;
        }
    }

    public VisionOptions Options { get; }

    /// <summary>Length of every embedding this pipeline makes (it depends on the embedder).</summary>
    public int EmbeddingDimensions => embedder.Dimensions;

    /// <summary>The configured detector's name.</summary>
    public string DetectorName => detector.Name;

    /// <summary>The configured embedder's name; embeddings of different embedders cannot be compared.</summary>
    public string EmbedderName => embedder.Name;

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
    public long DetectorRuns => detector.Runs;

    /// <summary>Embedder runs so far.</summary>
    public long EmbedderRuns => embedder.Runs;

    /// <summary>Faces in <paramref name="image"/>, best first, in its pixel coordinates.</summary>
    /// <exception cref="GrantExpiredException">The grant is not valid now; nothing ran.</exception>
    public IReadOnlyList<DetectedFace> Detect(ProcessingGrant grant, BgrImage image)
    {
        Ensure(grant);
        return detector.Detect(image);
    }

    /// <summary>The L2-normalised embedding (<see cref="EmbeddingDimensions"/> values) of <paramref name="face"/> (found in <paramref name="image"/>).</summary>
    /// <exception cref="GrantExpiredException">The grant is not valid now; nothing ran.</exception>
    public float[] Embed(ProcessingGrant grant, BgrImage image, DetectedFace face)
    {
        Ensure(grant);
        return embedder.Embed(image, face);
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
        detector.Dispose();
        embedder.Dispose();
    }

    private void Ensure(ProcessingGrant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        grant.EnsureValid(time.GetUtcNow());
    }
}
