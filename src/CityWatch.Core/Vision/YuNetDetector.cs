using Microsoft.ML.OnnxRuntime;

namespace CityWatch.Vision;

/// <summary>
/// YuNet-n (yunet_n_dynamic.onnx) on ONNX Runtime. The image is scaled so its long side is
/// <see cref="VisionOptions.DetectionSize"/> (never up unless <see cref="VisionOptions.AllowUpscale"/>),
/// written as BGR 0..255 NCHW into a reused buffer padded right/bottom with zeros to multiples of 32, and
/// the per-stride outputs are decoded, thresholded, suppressed (NMS) and mapped back to the image. With
/// <see cref="VisionOptions.SmallFaceRefine"/>, a face that small gets its landmarks from a second run on an
/// upscaled crop around it (<see cref="Refine"/>). One instance runs one frame at a time (calls are serialised).
/// </summary>
public sealed class YuNetDetector : IFaceDetector
{
    public const string ModelName = "yunet";

    /// <summary>Share of the box's size added on each side of a small face's crop.</summary>
    public const float RefineMargin = 0.5f;

    /// <summary>Eye distance, in pixels, that a small face's crop is upscaled towards.</summary>
    public const float RefineEyes = 32;

    /// <summary>Largest upscale of a small face's crop.</summary>
    public const float RefineMaxScale = 4;

    /// <summary>Longest side of an upscaled crop, in pixels.</summary>
    public const int RefineMaxSide = 320;

    /// <summary>Least IoU between the crop's detection and the face for its landmarks to be taken.</summary>
    public const float RefineMinIoU = 0.3f;

    private static readonly int[] Strides = [8, 16, 32];

    private readonly VisionOptions options;
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string[] inputNames;
    private readonly string[] outputNames;
    private readonly Lock gate = new();
    private float[] input = [];
    private ResizePlan? plan;
    private ResizePlan? refinePlan;

    public YuNetDetector(string modelPath, VisionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        using var sessionOptions = options.CreateSessionOptions();
        session = new InferenceSession(modelPath, sessionOptions);
        inputNames = [session.InputNames[0]];
        outputNames = Strides
            .SelectMany(s => new[] { $"cls_{s}", $"obj_{s}", $"bbox_{s}", $"kps_{s}" })
            .ToArray();
        var missing = outputNames.Except(session.OutputNames, StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            session.Dispose();
            runOptions.Dispose();
            throw new InvalidDataException($"{Path.GetFileName(modelPath)} is not a YuNet model: it has no output {string.Join(", ", missing)}.");
        }
    }

    public string Name => ModelName;

    /// <summary>How many times the model has run (for metrics and tests).</summary>
    public long Runs { get; private set; }

    /// <summary>How many of <see cref="Runs"/> were small-face refinements (<see cref="VisionOptions.SmallFaceRefine"/>).</summary>
    public long Refinements { get; private set; }

    public IReadOnlyList<DetectedFace> Detect(BgrImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var longSide = Math.Max(image.Width, image.Height);
        var scale = (float)options.DetectionSize / longSide;
        if (scale > 1 && !options.AllowUpscale)
        {
            scale = 1;
        }

        var width = Math.Max(1, (int)MathF.Round(image.Width * scale));
        var height = Math.Max(1, (int)MathF.Round(image.Height * scale));
        var scaleX = (float)image.Width / width;
        var scaleY = (float)image.Height / height;
        List<DetectedFace> faces;
        lock (gate)
        {
            faces = Suppress(Run(image, width, height, ref plan, new Mapping(scaleX, scaleY, 0, 0, image.Width, image.Height)), options.NmsIoU);
            if (options.SmallFaceRefine > 0)
            {
                for (var i = 0; i < faces.Count; i++)
                {
                    // Small as the network saw it: the eye distance in the detector's input pixels.
                    if (faces[i].InterEyeDistance / scaleX < options.SmallFaceRefine)
                    {
                        faces[i] = Refine(image, faces[i]);
                    }
                }
            }
        }

        return faces;
    }

    /// <summary>
    /// Detects again on a crop around a small face (the box grown by <see cref="RefineMargin"/> of its size on
    /// each side, black where it reaches past the frame), upscaled so the eyes come about <see cref="RefineEyes"/> pixels apart (at least x2, at most
    /// <see cref="RefineMaxScale"/>, the crop at most <see cref="RefineMaxSide"/> pixels long). The crop's
    /// detection that overlaps the face most (IoU at least <see cref="RefineMinIoU"/>) gives the landmarks,
    /// mapped back to the frame with pixel centres aligned; box and score stay the frame's. With no such
    /// detection the face is returned as it was. Call under <see cref="gate"/>.
    /// </summary>
    private DetectedFace Refine(BgrImage image, DetectedFace face)
    {
        var rect = Around(face.Box, RefineMargin);
        var eyes = Math.Max(1, face.InterEyeDistance);
        var factor = Math.Clamp(RefineEyes / eyes, 2, RefineMaxScale);
        factor = Math.Min(factor, (float)RefineMaxSide / Math.Max(rect.Width, rect.Height));
        if (factor <= 1)
        {
            return face;
        }

        var crop = Crop(image, rect);
        var width = Math.Max(1, (int)MathF.Round(crop.Width * factor));
        var height = Math.Max(1, (int)MathF.Round(crop.Height * factor));
        var sx = (float)crop.Width / width;
        var sy = (float)crop.Height / height;
        // Bilinear resize aligns pixel centres: input pixel u sits at crop x = (u + 0.5) * sx - 0.5.
        var mapping = new Mapping(sx, sy, rect.X + (0.5f * sx) - 0.5f, rect.Y + (0.5f * sy) - 0.5f, image.Width, image.Height);
        Refinements++;
        DetectedFace? best = null;
        var bestIoU = RefineMinIoU;
        foreach (var candidate in Run(crop, width, height, ref refinePlan, mapping))
        {
            var iou = candidate.Box.IoU(face.Box);
            if (iou >= bestIoU)
            {
                best = candidate;
                bestIoU = iou;
            }
        }

        return best is null ? face : face with { Landmarks = best.Landmarks };
    }

    // The box grown by the margin on each side, in whole pixels; it may reach past the frame.
    private static PixelRect Around(FaceBox box, float margin)
    {
        var left = (int)MathF.Floor(box.X - (margin * box.Width));
        var top = (int)MathF.Floor(box.Y - (margin * box.Height));
        var right = (int)MathF.Ceiling(box.Right + (margin * box.Width));
        var bottom = (int)MathF.Ceiling(box.Bottom + (margin * box.Height));
        return new PixelRect(left, top, Math.Max(1, right - left), Math.Max(1, bottom - top));
    }

    // The pixels of rect; where it reaches past the frame they are black, as the detector's own padding is,
    // so a face at the frame's edge keeps its place and size in the crop.
    internal static BgrImage Crop(BgrImage image, PixelRect rect)
    {
        var pixels = new byte[rect.Width * rect.Height * 3];
        var x0 = Math.Max(0, rect.X);
        var x1 = Math.Min(image.Width, rect.X + rect.Width);
        var y0 = Math.Max(0, rect.Y);
        var y1 = Math.Min(image.Height, rect.Y + rect.Height);
        if (x1 > x0)
        {
            var row = (x1 - x0) * 3;
            for (var y = y0; y < y1; y++)
            {
                Buffer.BlockCopy(image.Pixels, (y * image.Stride) + (x0 * 3), pixels, (((y - rect.Y) * rect.Width) + (x0 - rect.X)) * 3, row);
            }
        }

        return new BgrImage(rect.Width, rect.Height, pixels);
    }

    // One model run on the image scaled to width x height; call under the gate.
    private List<DetectedFace> Run(BgrImage image, int width, int height, ref ResizePlan? cache, Mapping mapping)
    {
        var paddedWidth = (width + 31) / 32 * 32;
        var paddedHeight = (height + 31) / 32 * 32;
        var length = 3 * paddedWidth * paddedHeight;
        if (input.Length < length)
        {
            input = new float[length];
        }

        Fill(image, width, height, paddedWidth, paddedHeight, ref cache);
        using var value = OrtValue.CreateTensorValueFromMemory(
            OrtMemoryInfo.DefaultInstance, input.AsMemory(0, length), [1, 3, paddedHeight, paddedWidth]);
        using var outputs = session.Run(runOptions, inputNames, [value], outputNames);
        Runs++;
        return Decode(outputs, paddedWidth, paddedHeight, mapping);
    }

    public void Dispose()
    {
        session.Dispose();
        runOptions.Dispose();
    }

    // Greedy non-maximum suppression, best score first.
    internal static List<DetectedFace> Suppress(List<DetectedFace> candidates, float iouThreshold)
    {
        candidates.Sort((a, b) => b.Score.CompareTo(a.Score));
        var kept = new List<DetectedFace>();
        foreach (var candidate in candidates)
        {
            var overlaps = false;
            foreach (var k in kept)
            {
                if (k.Box.IoU(candidate.Box) > iouThreshold)
                {
                    overlaps = true;
                    break;
                }
            }

            if (!overlaps)
            {
                kept.Add(candidate);
            }
        }

        return kept;
    }

    // From the network's input pixels to the frame's: x * ScaleX + OffsetX; boxes clipped to the frame.
    private readonly record struct Mapping(float ScaleX, float ScaleY, float OffsetX, float OffsetY, int FrameWidth, int FrameHeight);

    private List<DetectedFace> Decode(IReadOnlyList<OrtValue> outputs, int paddedWidth, int paddedHeight, Mapping map)
    {
        var faces = new List<DetectedFace>();
        var threshold = options.ScoreThreshold;
        for (var si = 0; si < Strides.Length; si++)
        {
            var stride = Strides[si];
            var columns = paddedWidth / stride;
            var cells = columns * (paddedHeight / stride);
            var cls = outputs[(si * 4) + 0].GetTensorDataAsSpan<float>();
            var obj = outputs[(si * 4) + 1].GetTensorDataAsSpan<float>();
            var bbox = outputs[(si * 4) + 2].GetTensorDataAsSpan<float>();
            var kps = outputs[(si * 4) + 3].GetTensorDataAsSpan<float>();
            if (cls.Length != cells || bbox.Length != cells * 4 || kps.Length != cells * 10)
            {
                throw new InvalidDataException($"YuNet stride {stride} gave {cls.Length} cells, expected {cells}.");
            }

            for (var i = 0; i < cells; i++)
            {
                var score = MathF.Sqrt(Math.Clamp(cls[i], 0f, 1f) * Math.Clamp(obj[i], 0f, 1f));
                if (score < threshold)
                {
                    continue;
                }

                var row = i / columns;
                var column = i % columns;
                var cx = (column + bbox[i * 4]) * stride;
                var cy = (row + bbox[(i * 4) + 1]) * stride;
                var w = MathF.Exp(bbox[(i * 4) + 2]) * stride;
                var h = MathF.Exp(bbox[(i * 4) + 3]) * stride;
                var left = Math.Clamp(((cx - (w / 2)) * map.ScaleX) + map.OffsetX, 0, map.FrameWidth);
                var top = Math.Clamp(((cy - (h / 2)) * map.ScaleY) + map.OffsetY, 0, map.FrameHeight);
                var right = Math.Clamp(((cx + (w / 2)) * map.ScaleX) + map.OffsetX, 0, map.FrameWidth);
                var bottom = Math.Clamp(((cy + (h / 2)) * map.ScaleY) + map.OffsetY, 0, map.FrameHeight);
                if (right <= left || bottom <= top)
                {
                    continue;
                }

                var landmarks = new Point2[5];
                for (var k = 0; k < 5; k++)
                {
                    landmarks[k] = new Point2(
                        ((kps[(i * 10) + (2 * k)] + column) * stride * map.ScaleX) + map.OffsetX,
                        ((kps[(i * 10) + (2 * k) + 1] + row) * stride * map.ScaleY) + map.OffsetY);
                }

                faces.Add(new DetectedFace(new FaceBox(left, top, right - left, bottom - top), score, landmarks));
            }
        }

        return faces;
    }

    // Writes the image, scaled to width x height (bilinear, pixel centres aligned), as planar B, G, R
    // floats 0..255 into the padded input buffer; the padding is zero.
    private void Fill(BgrImage image, int width, int height, int paddedWidth, int paddedHeight, ref ResizePlan? cache)
    {
        var plane = paddedWidth * paddedHeight;
        var pixels = image.Pixels;
        var buffer = input.AsSpan(0, 3 * plane);
        if (width == image.Width && height == image.Height)
        {
            for (var y = 0; y < height; y++)
            {
                var source = y * image.Stride;
                var target = y * paddedWidth;
                for (var x = 0; x < width; x++, source += 3)
                {
                    buffer[target + x] = pixels[source];
                    buffer[plane + target + x] = pixels[source + 1];
                    buffer[(2 * plane) + target + x] = pixels[source + 2];
                }
            }
        }
        else
        {
            var p = cache is { } known && known.Matches(image.Width, image.Height, width, height)
                ? known
                : cache = ResizePlan.Create(image.Width, image.Height, width, height);
            for (var y = 0; y < height; y++)
            {
                var row0 = p.Y0[y] * image.Stride;
                var row1 = p.Y1[y] * image.Stride;
                var wy = p.WeightY[y];
                var target = y * paddedWidth;
                for (var x = 0; x < width; x++)
                {
                    var x0 = p.X0[x];
                    var x1 = p.X1[x];
                    var wx = p.WeightX[x];
                    for (var c = 0; c < 3; c++)
                    {
                        var top = pixels[row0 + x0 + c] + ((pixels[row0 + x1 + c] - pixels[row0 + x0 + c]) * wx);
                        var bottom = pixels[row1 + x0 + c] + ((pixels[row1 + x1 + c] - pixels[row1 + x0 + c]) * wx);
                        buffer[(c * plane) + target + x] = top + ((bottom - top) * wy);
                    }
                }
            }
        }

        // Zero the padding (the buffer is reused across frames of different sizes).
        for (var c = 0; c < 3; c++)
        {
            var channel = buffer.Slice(c * plane, plane);
            if (paddedWidth > width)
            {
                for (var y = 0; y < height; y++)
                {
                    channel.Slice((y * paddedWidth) + width, paddedWidth - width).Clear();
                }
            }

            channel[(height * paddedWidth)..].Clear();
        }
    }

    // Per-column and per-row source indices and weights for one resize, kept while frames keep their size.
    private sealed class ResizePlan
    {
        private int sourceWidth;
        private int sourceHeight;

        public int[] X0 { get; private init; } = [];

        public int[] X1 { get; private init; } = [];

        public float[] WeightX { get; private init; } = [];

        public int[] Y0 { get; private init; } = [];

        public int[] Y1 { get; private init; } = [];

        public float[] WeightY { get; private init; } = [];

        public static ResizePlan Create(int sourceWidth, int sourceHeight, int width, int height)
        {
            var (x0, x1, wx) = Axis(sourceWidth, width, 3);
            var (y0, y1, wy) = Axis(sourceHeight, height, 1);
            return new ResizePlan
            {
                sourceWidth = sourceWidth,
                sourceHeight = sourceHeight,
                X0 = x0,
                X1 = x1,
                WeightX = wx,
                Y0 = y0,
                Y1 = y1,
                WeightY = wy,
            };
        }

        public bool Matches(int sourceWidth, int sourceHeight, int width, int height) =>
            this.sourceWidth == sourceWidth && this.sourceHeight == sourceHeight && X0.Length == width && Y0.Length == height;

        private static (int[] I0, int[] I1, float[] Weight) Axis(int source, int target, int step)
        {
            var i0 = new int[target];
            var i1 = new int[target];
            var weight = new float[target];
            var ratio = (float)source / target;
            for (var i = 0; i < target; i++)
            {
                var at = Math.Clamp(((i + 0.5f) * ratio) - 0.5f, 0, source - 1);
                var lower = (int)at;
                i0[i] = lower * step;
                i1[i] = Math.Min(lower + 1, source - 1) * step;
                weight[i] = at - lower;
            }

            return (i0, i1, weight);
        }
    }
}
