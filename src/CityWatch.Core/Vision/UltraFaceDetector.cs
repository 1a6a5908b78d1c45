using Microsoft.ML.OnnxRuntime;

namespace CityWatch.Vision;

/// <summary>
/// UltraFace RFB-320 (version-RFB-320.onnx) on ONNX Runtime. The whole image is scaled (bilinear, aspect
/// not kept, as the model was trained) to 320x240, written as RGB (x - 127) / 128 NCHW; the output's
/// 4420 prior boxes come decoded as normalised x1,y1,x2,y2 with a face probability, and are thresholded,
/// suppressed (NMS) and mapped back to the image.
/// <para>
/// UltraFace gives no landmarks. For alignment, the five points are estimated from the box: the mean
/// ArcFace template positions (112x112) scaled into the box. That ignores pose and roll, so embeddings of
/// faces that are not upright and frontal are worse than with YuNet's landmarks (see the model card).
/// </para>
/// </summary>
public sealed class UltraFaceDetector : IFaceDetector
{
    public const string ModelName = "ultraface";
    private const int InputWidth = 320;
    private const int InputHeight = 240;
    private const int Plane = InputWidth * InputHeight;

    private readonly VisionOptions options;
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string[] inputNames;
    private readonly string[] outputNames = ["scores", "boxes"];
    private readonly float[] input = new float[3 * Plane];
    private readonly OrtValue inputValue;
    private readonly Lock gate = new();

    public UltraFaceDetector(string modelPath, VisionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        using var sessionOptions = options.CreateSessionOptions();

        // The published file lists its weights as graph inputs too; ONNX Runtime warns once per weight.
        sessionOptions.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
        session = new InferenceSession(modelPath, sessionOptions);
        var missing = outputNames.Except(session.OutputNames, StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            session.Dispose();
            runOptions.Dispose();
            throw new InvalidDataException($"{Path.GetFileName(modelPath)} is not an UltraFace model: it has no output {string.Join(", ", missing)}.");
        }

        inputNames = [session.InputNames[0]];
        inputValue = OrtValue.CreateTensorValueFromMemory(input, [1, 3, InputHeight, InputWidth]);
    }

    public string Name => ModelName;

    public long Runs { get; private set; }

    /// <summary>The five landmarks assumed for a face in <paramref name="box"/>: the ArcFace template scaled into it.</summary>
    public static Point2[] EstimatedLandmarks(FaceBox box)
    {
        var points = new Point2[5];
        for (var k = 0; k < 5; k++)
        {
            var t = FaceAligner.ArcFaceTemplate[k];
            points[k] = new Point2(box.X + (t.X / FaceAligner.ChipSize * box.Width), box.Y + (t.Y / FaceAligner.ChipSize * box.Height));
        }

        return points;
    }

    public IReadOnlyList<DetectedFace> Detect(BgrImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var candidates = new List<DetectedFace>();
        lock (gate)
        {
            Fill(image);
            using var outputs = session.Run(runOptions, inputNames, [inputValue], outputNames);
            Runs++;
            var scores = outputs[0].GetTensorDataAsSpan<float>();
            var boxes = outputs[1].GetTensorDataAsSpan<float>();
            var count = scores.Length / 2;
            if (boxes.Length != count * 4)
            {
                throw new InvalidDataException($"UltraFace gave {scores.Length} scores and {boxes.Length} box values.");
            }

            for (var i = 0; i < count; i++)
            {
                var score = scores[(2 * i) + 1];
                if (score < options.ScoreThreshold)
                {
                    continue;
                }

                var left = Math.Clamp(boxes[4 * i] * image.Width, 0, image.Width);
                var top = Math.Clamp(boxes[(4 * i) + 1] * image.Height, 0, image.Height);
                var right = Math.Clamp(boxes[(4 * i) + 2] * image.Width, 0, image.Width);
                var bottom = Math.Clamp(boxes[(4 * i) + 3] * image.Height, 0, image.Height);
                if (right <= left || bottom <= top)
                {
                    continue;
                }

                var box = new FaceBox(left, top, right - left, bottom - top);
                candidates.Add(new DetectedFace(box, score, EstimatedLandmarks(box)));
            }
        }

        return YuNetDetector.Suppress(candidates, options.NmsIoU);
    }

    public void Dispose()
    {
        inputValue.Dispose();
        session.Dispose();
        runOptions.Dispose();
    }

    // Bilinear resize to 320x240 (pixel centres aligned), planar R, G, B, (x - 127) / 128.
    private void Fill(BgrImage image)
    {
        var pixels = image.Pixels;
        var ratioX = (float)image.Width / InputWidth;
        var ratioY = (float)image.Height / InputHeight;
        for (var y = 0; y < InputHeight; y++)
        {
            var sy = Math.Clamp(((y + 0.5f) * ratioY) - 0.5f, 0, image.Height - 1);
            var y0 = (int)sy;
            var y1 = Math.Min(y0 + 1, image.Height - 1);
            var wy = sy - y0;
            for (var x = 0; x < InputWidth; x++)
            {
                var sx = Math.Clamp(((x + 0.5f) * ratioX) - 0.5f, 0, image.Width - 1);
                var x0 = (int)sx;
                var x1 = Math.Min(x0 + 1, image.Width - 1);
                var wx = sx - x0;
                var p00 = (y0 * image.Stride) + (x0 * 3);
                var p10 = (y0 * image.Stride) + (x1 * 3);
                var p01 = (y1 * image.Stride) + (x0 * 3);
                var p11 = (y1 * image.Stride) + (x1 * 3);
                var target = (y * InputWidth) + x;
                for (var c = 0; c < 3; c++)
                {
                    var topValue = pixels[p00 + c] + ((pixels[p10 + c] - pixels[p00 + c]) * wx);
                    var bottomValue = pixels[p01 + c] + ((pixels[p11 + c] - pixels[p01 + c]) * wx);
                    var value = topValue + ((bottomValue - topValue) * wy);

                    // BGR in, RGB planes out: blue (c = 0) goes to plane 2.
                    input[((2 - c) * Plane) + target] = (value - 127f) / 128f;
                }
            }
        }
    }
}
