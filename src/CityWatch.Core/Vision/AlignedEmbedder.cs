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
/// The input tensor is one buffer reused for every face; calls are serialised (one session per instance:
/// <see cref="FacePipeline"/> keeps one instance per analysis thread). With
/// <see cref="VisionOptions.FlipAugmentation"/> the mirrored chip is embedded too and the two unit vectors
/// are averaged (and normalised again): two model runs per face.
/// <para>
/// Batches: the shipped graphs are fixed at a batch of one. With <see cref="VisionOptions.EmbedBatchSize"/>
/// above 1 a second session is made from the graph rewritten to take any batch (<see cref="BatchGraph"/>), kept
/// only if a probe batch of two gives, within 1e-5, what the two chips give alone on the shipped graph;
/// otherwise there is none and <see cref="BatchLimit"/> is 1 (<see cref="EmbedBatch"/> then runs once per chip).
/// Only runs of two or more chips use the rewritten graph: one chip always runs on the shipped graph, which is
/// what the models were measured on (docs/performance.md, "Analysis on every core").
/// </para>
/// </summary>
public abstract class AlignedEmbedder : IDisposable
{
    private const float ProbeTolerance = 1e-5f;

    private readonly InferenceSession session;
    private readonly InferenceSession? batchSession;
    private readonly RunOptions runOptions = new();
    private readonly string[] inputNames;
    private readonly string[] outputNames;
    private readonly float[] input;
    private readonly byte[] chip;
    private readonly byte[] mirrored;
    private readonly byte[] chips;
    private readonly bool flip;
    private readonly Point2[] template;
    private readonly Lock gate = new();

    protected AlignedEmbedder(string modelPath, VisionOptions options, EmbedderSpec spec)
        : this(File.ReadAllBytes(modelPath), options, spec)
    {
    }

    /// <summary>An embedder over a model held in memory (the int8 graph <see cref="QuantizedGraph"/> makes).</summary>
    private protected AlignedEmbedder(byte[] model, VisionOptions options, EmbedderSpec spec)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        var size = spec.ChipSize;
        var k = size / (float)FaceAligner.ChipSize;
        template = FaceAligner.ArcFaceTemplate.Select(p => new Point2(p.X * k, p.Y * k)).ToArray();
        chip = new byte[3 * size * size];
        mirrored = new byte[3 * size * size];
        flip = options.FlipAugmentation;
        using var sessionOptions = options.CreateSessionOptions();
        session = new InferenceSession(model, sessionOptions);
        inputNames = [session.InputNames[0]];
        outputNames = [session.OutputNames[0]];
        var batched = options.EmbedBatchSize > 1 ? BatchGraph.TryRewrite(model) : null;
        batchSession = batched is null ? null : new InferenceSession(batched, sessionOptions);
        BatchLimit = batchSession is null ? 1 : options.EmbedBatchSize;
        input = new float[BatchLimit * 3 * size * size];
        if (batchSession is not null && !BatchesAlike())
        {
            batchSession.Dispose();
            batchSession = null;
            BatchLimit = 1;
        }

        chips = new byte[BatchLimit * 3 * size * size];
    }

    /// <summary>Most chips one model run embeds: <see cref="VisionOptions.EmbedBatchSize"/> where the graph takes a batch, else 1.</summary>
    public int BatchLimit { get; }

    public EmbedderSpec Spec { get; }

    public string Name => Spec.Name;

    public int Dimensions => Spec.Dimensions;

    /// <summary>How many times the model has run (for metrics and tests).</summary>
    public long Runs { get; private set; }

    /// <summary>How many of <see cref="Runs"/> embedded two or more chips at once, on the rewritten graph.</summary>
    public long BatchedRuns { get; private set; }

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

    /// <summary>
    /// Aligns and embeds every face, in order, up to <see cref="BatchLimit"/> chips per model run (with flip
    /// augmentation a face is two chips); each embedding equals, within 1e-5, what <see cref="Embed"/> gives.
    /// </summary>
    public float[][] EmbedBatch(IReadOnlyList<(BgrImage Frame, DetectedFace Face)> faces)
    {
        ArgumentNullException.ThrowIfNull(faces);
        var transforms = new SimilarityTransform[faces.Count];
        for (var i = 0; i < faces.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(faces[i].Frame);
            ArgumentNullException.ThrowIfNull(faces[i].Face);
            transforms[i] = FaceAligner.Estimate(faces[i].Face.Landmarks, template);
        }

        var result = new float[faces.Count][];
        var chipBytes = 3 * Spec.ChipSize * Spec.ChipSize;
        var perFace = flip ? 2 : 1;
        var facesPerRun = Math.Max(1, BatchLimit / perFace);
        lock (gate)
        {
            for (var first = 0; first < faces.Count; first += facesPerRun)
            {
                var count = Math.Min(facesPerRun, faces.Count - first);
                if (count * perFace > BatchLimit)
                {
                    // A batch limit of 1 with flip augmentation: the single-face path.
                    result[first] = Embed(faces[first].Frame, faces[first].Face);
                    continue;
                }

                for (var i = 0; i < count; i++)
                {
                    var target = chips.AsSpan(i * perFace * chipBytes, chipBytes);
                    FaceAligner.Warp(faces[first + i].Frame, transforms[first + i], chip, Spec.ChipSize);
                    chip.CopyTo(target);
                    if (flip)
                    {
                        Mirror(chip, chips.AsSpan(((i * perFace) + 1) * chipBytes, chipBytes), Spec.ChipSize);
                    }
                }

                var rows = Run(chips.AsSpan(0, count * perFace * chipBytes), count * perFace);
                for (var i = 0; i < count; i++)
                {
                    var embedding = rows[i * perFace];
                    if (flip)
                    {
                        var other = rows[(i * perFace) + 1];
                        for (var d = 0; d < embedding.Length; d++)
                        {
                            embedding[d] += other[d];
                        }

                        Normalise(embedding);
                    }

                    result[first + i] = embedding;
                }
            }
        }

        return result;
    }

    public void Dispose()
    {
        session.Dispose();
        batchSession?.Dispose();
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

    /// <summary>One chip's model input: (pixel - Offset) * Scale in the spec's channel order and layout.</summary>
    internal static void Fill(EmbedderSpec spec, ReadOnlySpan<byte> bgr, Span<float> target)
    {
        var plane = spec.ChipSize * spec.ChipSize;
        // Source channel for input channel c: BGR as stored, or reversed for RGB.
        int first = spec.Rgb ? 2 : 0, step = spec.Rgb ? -1 : 1;
        for (int i = 0, p = 0; i < plane; i++, p += 3)
        {
            for (var c = 0; c < 3; c++)
            {
                var pixel = (bgr[p + first + (step * c)] - spec.Offset) * spec.Scale;
                target[spec.ChannelsLast ? p + c : (c * plane) + i] = pixel;
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

    private float[] Run(ReadOnlySpan<byte> bgr) => Run(bgr, 1)[0];

    // The normalised embeddings of `count` chips stored one after another in bgr: one model run.
    private float[][] Run(ReadOnlySpan<byte> bgr, int count)
    {
        var rows = RunUncounted(bgr, count);
        Runs++;
        if (count > 1)
        {
            BatchedRuns++;
        }

        return rows;
    }

    private float[][] RunUncounted(ReadOnlySpan<byte> bgr, int count)
    {
        var size = Spec.ChipSize;
        var plane = size * size;
        for (var n = 0; n < count; n++)
        {
            Fill(Spec, bgr.Slice(n * 3 * plane, 3 * plane), input.AsSpan(n * 3 * plane, 3 * plane));
        }

        using var value = OrtValue.CreateTensorValueFromMemory(
            OrtMemoryInfo.DefaultInstance, input.AsMemory(0, count * 3 * plane), Spec.ChannelsLast ? [count, size, size, 3] : [count, 3, size, size]);
        // One chip on the shipped graph; several (only where the rewritten graph passed its probe) on the rewritten one.
        var graph = count == 1 ? session : batchSession ?? throw new InvalidOperationException($"{Spec.Name} has no batched graph for {count} chips.");
        using var outputs = graph.Run(runOptions, inputNames, [value], outputNames);
        var raw = outputs[0].GetTensorDataAsSpan<float>();
        if (raw.Length != count * Spec.Dimensions)
        {
            throw new InvalidDataException($"{Spec.Name} gave {raw.Length} values for {count} chips, expected {count * Spec.Dimensions}.");
        }

        var rows = new float[count][];
        for (var n = 0; n < count; n++)
        {
            rows[n] = raw.Slice(n * Spec.Dimensions, Spec.Dimensions).ToArray();
            Normalise(rows[n]);
        }

        return rows;
    }

    // Whether the rewritten graph's batch of two gives what each chip gives alone on the shipped graph (two fixed pseudo-random chips).
    private bool BatchesAlike()
    {
        var chipBytes = 3 * Spec.ChipSize * Spec.ChipSize;
        var probe = new byte[2 * chipBytes];
        new Random(20261203).NextBytes(probe);
        try
        {
            var together = RunUncounted(probe, 2);
            for (var n = 0; n < 2; n++)
            {
                var alone = RunUncounted(probe.AsSpan(n * chipBytes, chipBytes), 1)[0];
                for (var d = 0; d < alone.Length; d++)
                {
                    if (Math.Abs(alone[d] - together[n][d]) > ProbeTolerance)
                    {
                        return false;
                    }
                }
            }

            return true;
        }
        catch (OnnxRuntimeException)
        {
            return false;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }
}
