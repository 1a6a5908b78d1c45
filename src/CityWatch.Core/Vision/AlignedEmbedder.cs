using Microsoft.ML.OnnxRuntime;

namespace CityWatch.Vision;

/// <summary>How an embedder wants its aligned chip: size, tensor layout, channel order and scaling.</summary>
/// <param name="Name">The configuration name (<see cref="VisionOptions.Embedder"/>).</param>
/// <param name="ChipSize">The chip side: the ArcFace 112x112 template is scaled by ChipSize / 112.</param>
/// <param name="Dimensions">Length of the output vector.</param>
/// <param name="ChannelsLast">NHWC [1,S,S,3] when true, NCHW [1,3,S,S] when false.</param>
/// <param name="Rgb">Channel order R,G,B when true, B,G,R when false.</param>
/// <param name="Offset">Input value = (pixel - Offset) * Scale.</param>
/// <param name="Scale">See <paramref name="Offset"/>.</param>
public sealed record EmbedderSpec(string Name, int ChipSize, int Dimensions, bool ChannelsLast, bool Rgb, float Offset, float Scale);

/// <summary>
/// An ONNX embedder fed a face aligned (Umeyama similarity from the five landmarks) onto the ArcFace
/// template scaled to its chip size. The output is L2-normalised, so cosine similarity is a dot product.
/// The input tensor is one pinned buffer reused for every face; calls are serialised. With
/// <see cref="VisionOptions.FlipAugmentation"/> the mirrored chip is embedded too and the two unit vectors
/// are averaged (and normalised again): two model runs per face.
/// </summary>
public abstract class AlignedEmbedder : IDisposable
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string[] inputNames;
    private readonly string[] outputNames;
    private readonly float[] input;
    private readonly byte[] chip;
    private readonly byte[] mirrored;
    private readonly bool flip;
    private readonly OrtValue inputValue;
    private readonly Point2[] template;
    private readonly Lock gate = new();

    protected AlignedEmbedder(string modelPath, VisionOptions options, EmbedderSpec spec)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        var size = spec.ChipSize;
        var k = size / (float)FaceAligner.ChipSize;
        template = FaceAligner.ArcFaceTemplate.Select(p => new Point2(p.X * k, p.Y * k)).ToArray();
        input = new float[3 * size * size];
        chip = new byte[3 * size * size];
        mirrored = new byte[3 * size * size];
        flip = options.FlipAugmentation;
        using var sessionOptions = options.CreateSessionOptions();
        session = new InferenceSession(modelPath, sessionOptions);
        inputNames = [session.InputNames[0]];
        outputNames = [session.OutputNames[0]];
        inputValue = OrtValue.CreateTensorValueFromMemory(input, spec.ChannelsLast ? [1, size, size, 3] : [1, 3, size, size]);
    }

    public EmbedderSpec Spec { get; }

    public string Name => Spec.Name;

    public int Dimensions => Spec.Dimensions;

    /// <summary>How many times the model has run (for metrics and tests).</summary>
    public long Runs { get; private set; }

    /// <summary>The template the landmarks are aligned onto, in chip pixels.</summary>
    public IReadOnlyList<Point2> Template => template;

    /// <summary>Aligns <paramref name="face"/> onto the template and embeds it.</summary>
    public float[] Embed(BgrImage image, DetectedFace face)
    {
        ArgumentNullException.ThrowIfNull(face);
        var transform = FaceAligner.Estimate(face.Landmarks, template);
        lock (gate)
        {
            FaceAligner.Warp(image, transform, chip, Spec.ChipSize);
            return Embedding(chip);
        }
    }

    /// <summary>Embeds a chip that is already aligned (ChipSize x ChipSize).</summary>
    public float[] EmbedAligned(BgrImage alignedChip)
    {
        ArgumentNullException.ThrowIfNull(alignedChip);
        if (alignedChip.Width != Spec.ChipSize || alignedChip.Height != Spec.ChipSize)
        {
            throw new ArgumentException($"An aligned chip is {Spec.ChipSize}x{Spec.ChipSize}, not {alignedChip.Width}x{alignedChip.Height}.", nameof(alignedChip));
        }

        lock (gate)
        {
            return Embedding(alignedChip.Pixels);
        }
    }

    public void Dispose()
    {
        inputValue.Dispose();
        session.Dispose();
        runOptions.Dispose();
    }

    internal static void Normalise(Span<float> vector)
    {
        var sum = 0.0;
        foreach (var value in vector)
        {
            sum += value * value;
        }

        var norm = (float)Math.Sqrt(sum);
        if (norm > 0)
        {
            foreach (ref var value in vector)
            {
                value /= norm;
            }
        }
    }

    /// <summary>Mirrors a size x size BGR chip left to right into <paramref name="output"/>.</summary>
    internal static void Mirror(ReadOnlySpan<byte> bgr, Span<byte> output, int size)
    {
        for (var y = 0; y < size; y++)
        {
            var row = y * size * 3;
            for (var x = 0; x < size; x++)
            {
                var from = row + (x * 3);
                var to = row + ((size - 1 - x) * 3);
                output[to] = bgr[from];
                output[to + 1] = bgr[from + 1];
                output[to + 2] = bgr[from + 2];
            }
        }
    }

    // The chip's embedding, or with flip augmentation the normalised mean of the chip's and its mirror's.
    private float[] Embedding(ReadOnlySpan<byte> bgr)
    {
        var embedding = Run(bgr);
        if (!flip)
        {
            return embedding;
        }

        Mirror(bgr, mirrored, Spec.ChipSize);
        var other = Run(mirrored);
        for (var i = 0; i < embedding.Length; i++)
        {
            embedding[i] += other[i];
        }

        Normalise(embedding);
        return embedding;
    }

    private float[] Run(ReadOnlySpan<byte> bgr)
    {
        var plane = Spec.ChipSize * Spec.ChipSize;
        var offset = Spec.Offset;
        var scale = Spec.Scale;
        // Source channel for input channel c: BGR as stored, or reversed for RGB.
        int first = Spec.Rgb ? 2 : 0, step = Spec.Rgb ? -1 : 1;
        for (int i = 0, p = 0; i < plane; i++, p += 3)
        {
            for (var c = 0; c < 3; c++)
            {
                var value = (bgr[p + first + (step * c)] - offset) * scale;
                input[Spec.ChannelsLast ? p + c : (c * plane) + i] = value;
            }
        }

        using var outputs = session.Run(runOptions, inputNames, [inputValue], outputNames);
        Runs++;
        var raw = outputs[0].GetTensorDataAsSpan<float>();
        if (raw.Length != Spec.Dimensions)
        {
            throw new InvalidDataException($"{Spec.Name} gave {raw.Length} values, expected {Spec.Dimensions}.");
        }

        var embedding = raw.ToArray();
        Normalise(embedding);
        return embedding;
    }
}
