using Microsoft.ML.OnnxRuntime;

namespace CityWatch.Vision;

/// <summary>
/// The fr_feature.onnx embedder: a 112x112 aligned BGR chip in, (x - 127) / 128 as NCHW [1,3,112,112],
/// a 512-d vector out, L2-normalised so that cosine similarity is a dot product. The input tensor is one
/// pinned buffer reused for every face; calls are serialised.
/// </summary>
internal sealed class FrFeatureEmbedder : IDisposable
{
    public const int Dimensions = 512;
    private const int Size = FaceAligner.ChipSize;
    private const int Plane = Size * Size;

    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string[] inputNames;
    private readonly string[] outputNames;
    private readonly float[] input = new float[3 * Plane];
    private readonly byte[] chip = new byte[3 * Plane];
    private readonly OrtValue inputValue;
    private readonly Lock gate = new();

    public FrFeatureEmbedder(string modelPath, VisionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var sessionOptions = options.CreateSessionOptions();
        session = new InferenceSession(modelPath, sessionOptions);
        inputNames = [session.InputNames[0]];
        outputNames = [session.OutputNames[0]];
        inputValue = OrtValue.CreateTensorValueFromMemory(input, [1, 3, Size, Size]);
    }

    /// <summary>How many times the model has run (for metrics and tests).</summary>
    public long Runs { get; private set; }

    /// <summary>Aligns <paramref name="face"/> onto the ArcFace template and embeds it.</summary>
    public float[] Embed(BgrImage image, DetectedFace face)
    {
        ArgumentNullException.ThrowIfNull(face);
        var transform = FaceAligner.Estimate(face.Landmarks, FaceAligner.ArcFaceTemplate);
        lock (gate)
        {
            FaceAligner.Warp(image, transform, chip, Size);
            return Run(chip);
        }
    }

    /// <summary>Embeds a chip that is already aligned (112x112).</summary>
    public float[] EmbedAligned(BgrImage alignedChip)
    {
        ArgumentNullException.ThrowIfNull(alignedChip);
        if (alignedChip.Width != Size || alignedChip.Height != Size)
        {
            throw new ArgumentException($"An aligned chip is {Size}x{Size}, not {alignedChip.Width}x{alignedChip.Height}.", nameof(alignedChip));
        }

        lock (gate)
        {
            return Run(alignedChip.Pixels);
        }
    }

    public void Dispose()
    {
        inputValue.Dispose();
        session.Dispose();
        runOptions.Dispose();
    }

    private float[] Run(ReadOnlySpan<byte> bgr)
    {
        for (int i = 0, p = 0; i < Plane; i++, p += 3)
        {
            input[i] = (bgr[p] - 127f) / 128f;
            input[Plane + i] = (bgr[p + 1] - 127f) / 128f;
            input[(2 * Plane) + i] = (bgr[p + 2] - 127f) / 128f;
        }

        using var outputs = session.Run(runOptions, inputNames, [inputValue], outputNames);
        Runs++;
        var raw = outputs[0].GetTensorDataAsSpan<float>();
        if (raw.Length != Dimensions)
        {
            throw new InvalidDataException($"fr_feature gave {raw.Length} values, expected {Dimensions}.");
        }

        var embedding = raw.ToArray();
        Normalise(embedding);
        return embedding;
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
}
