using CityWatch.Grants;

namespace CityWatch.Vision;

/// <summary>
/// An embedder on the int8 QDQ graph that <see cref="FacePipeline.Quantized"/> made from the pipeline's float embedder;
/// it embeds as <see cref="FacePipeline.Embed"/> does, under a grant, one face per run, no flip.
/// </summary>
public sealed class QuantizedEmbedder : IDisposable
{
    private readonly Int8Session embedder;
    private readonly TimeProvider time;

    internal QuantizedEmbedder(byte[] model, VisionOptions options, EmbedderSpec spec, TimeProvider time, int calibrationFaces)
    {
        embedder = new Int8Session(model, options, spec with { Name = $"{spec.Name}_int8" });
        this.time = time;
        ModelBytes = model.Length;
        CalibrationFaces = calibrationFaces;
    }

    /// <summary>The int8 graph's size in bytes.</summary>
    public long ModelBytes { get; }

    /// <summary>Faces whose activations set the quantization ranges.</summary>
    public int CalibrationFaces { get; }

    public string Name => embedder.Name;

    /// <summary>How many times the int8 graph has run.</summary>
    public long Runs => embedder.Runs;

    /// <exception cref="GrantExpiredException">The grant is not valid now; nothing ran.</exception>
    public float[] Embed(ProcessingGrant grant, BgrImage image, DetectedFace face)
    {
        ArgumentNullException.ThrowIfNull(grant);
        grant.EnsureValid(time.GetUtcNow());
        return embedder.Embed(image, face);
    }

    public void Dispose() => embedder.Dispose();

    private sealed class Int8Session(byte[] model, VisionOptions options, EmbedderSpec spec) : AlignedEmbedder(model, options, spec);
}
