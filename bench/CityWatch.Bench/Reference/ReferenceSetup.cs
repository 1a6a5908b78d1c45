using CityWatch.Evaluation;
using System.Runtime.InteropServices;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Ingest;
using CityWatch.Policy;
using CityWatch.Vision;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using OpenCvSharp.Dnn;

namespace CityWatch.Bench.Reference;

/// <summary>
/// What the reference benchmarks share: the same 20 frames for every contender (the shared video at 2
/// frames/s, scaled to 1280x720), our pipeline at DetectionSize 320 under a real grant, OpenCV's
/// FaceDetectorYN on yunet_n_320_320.onnx (input 320x320: the frame scaled to 320x180 and padded, the
/// same pixels our detector sees at 320x180 padded to 320x192), OpenCV DNN on fr_feature.onnx, and bare
/// ONNX Runtime sessions of the same models. Every contender runs on one thread.
/// </summary>
internal sealed class ReferenceSetup : IDisposable
{
    public const int Frames = 20;
    public const int DetectionSize = 320;
    private static readonly Point2f[] Template = FaceAligner.ArcFaceTemplate.Select(p => new Point2f(p.X, p.Y)).ToArray();

    private readonly RunOptions runOptions = new();
    private readonly EvaluationCity city;
    private readonly string models;

    public ReferenceSetup()
    {
        var root = BenchPaths.RepositoryRoot();
        models = Environment.GetEnvironmentVariable("CITYWATCH_MODELS") ?? ModelStore.DefaultModelsDirectory(root);
        var data = Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? ModelStore.DefaultAssetSource(root);
        Cv2.SetNumThreads(1);

        var time = new FrozenTime(new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));
        city = EvaluationCity.OpenAsync(time).GetAwaiter().GetResult();
        Grant = city.GrantAsync().GetAwaiter().GetResult();
        Pipeline = new FacePipeline(new VisionOptions { ModelDirectory = models, DetectionSize = DetectionSize }, time);

        var clip = Path.Combine(data, "faces", "ageitgey", "examples", "short_hamilton_clip.mp4");
        foreach (var frame in Decode(clip))
        {
            using var small = Mat.FromPixelData(frame.Height, frame.Width, MatType.CV_8UC3, frame.Pixels);
            var large = new Mat();
            Cv2.Resize(small, large, new Size(1280, 720), 0, 0, InterpolationFlags.Linear);
            var pixels = new byte[1280 * 720 * 3];
            Marshal.Copy(large.Data, pixels, 0, pixels.Length);
            Mats.Add(large);
            Images.Add(new BgrImage(1280, 720, pixels));
        }

        OpenCvDetector = FaceDetectorYN.Create(
            ModelStore.Verified(models, ModelCatalog.YuNet320), "", new Size(DetectionSize, DetectionSize), 0.6f, 0.3f, 5000, Backend.OPENCV, Target.CPU);
        OpenCvEmbedder = CvDnn.ReadNetFromOnnx(ModelStore.Verified(models, ModelCatalog.FrFeature))
            ?? throw new InvalidOperationException("OpenCV could not read fr_feature.onnx.");
        OpenCvEmbedder.SetPreferableBackend(Backend.OPENCV);
        OpenCvEmbedder.SetPreferableTarget(Target.CPU);

        using var options = new VisionOptions { ModelDirectory = models }.CreateSessionOptions();
        BareDetector = new InferenceSession(ModelStore.Verified(models, ModelCatalog.YuNetDynamic), options);
        BareEmbedder = new InferenceSession(ModelStore.Verified(models, ModelCatalog.FrFeature), options);
        DetectorInput = OrtValue.CreateTensorValueFromMemory(new float[3 * 192 * 320], [1, 3, 192, 320]);
        EmbedderInput = OrtValue.CreateTensorValueFromMemory(new float[3 * 112 * 112], [1, 3, 112, 112]);
        DetectorOutputs = [.. BareDetector.OutputNames];

        FacesPerFrame = Images.Select(i => Pipeline.Detect(Grant, i).Count).ToArray();
        OpenCvFacesPerFrame = Mats.Select(m => DetectOpenCv(m).Count).ToArray();
        var index = Array.FindIndex(FacesPerFrame, n => n > 0);
        var face = Pipeline.Detect(Grant, Images[index])[0];
        float[] row = [face.Box.X, face.Box.Y, face.Box.Width, face.Box.Height, .. face.Landmarks.SelectMany(p => new[] { p.X, p.Y }), face.Score];
        var agreement = FacePipeline.Similarity(Pipeline.Embed(Grant, Images[index], face), EmbedOpenCv(Mats[index], row));
        Console.WriteLine($"// cosine between our and OpenCV's embedding of the same face: {agreement:0.0000}");
        Console.WriteLine(
            $"// reference frames: {Images.Count} at 1280x720; faces found by ours: {FacesPerFrame.Sum()}, by OpenCV FaceDetectorYN: {OpenCvFacesPerFrame.Sum()}");
    }

    public ProcessingGrant Grant { get; }

    public FacePipeline Pipeline { get; }

    public List<BgrImage> Images { get; } = [];

    public List<Mat> Mats { get; } = [];

    public FaceDetectorYN OpenCvDetector { get; }

    public Net OpenCvEmbedder { get; }

    public InferenceSession BareDetector { get; }

    public InferenceSession BareEmbedder { get; }

    public OrtValue DetectorInput { get; }

    public OrtValue EmbedderInput { get; }

    public string[] DetectorOutputs { get; }

    /// <summary>Faces our detector finds in each frame (what the bare floor embeds).</summary>
    public int[] FacesPerFrame { get; }

    public int[] OpenCvFacesPerFrame { get; }

    /// <summary>OpenCV's detector on one 1280x720 frame: scaled to 320x180, padded to 320x320, detected; rows of x, y, w, h, 5 landmarks, score at frame scale.</summary>
    public List<float[]> DetectOpenCv(Mat frame)
    {
        using var small = new Mat();
        Cv2.Resize(frame, small, new Size(DetectionSize, DetectionSize * frame.Rows / frame.Cols), 0, 0, InterpolationFlags.Linear);
        using var padded = new Mat();
        Cv2.CopyMakeBorder(small, padded, 0, DetectionSize - small.Rows, 0, 0, BorderTypes.Constant, Scalar.All(0));
        using var faces = new Mat();
        OpenCvDetector.Detect(padded, faces);
        var scale = (float)frame.Cols / DetectionSize;
        var count = faces.Empty() ? 0 : faces.Rows;
        var values = new float[count * 15];
        if (count > 0)
        {
            Marshal.Copy(faces.Data, values, 0, values.Length);
        }

        var rows = new List<float[]>(count);
        for (var r = 0; r < count; r++)
        {
            var row = values.AsSpan(r * 15, 15).ToArray();
            for (var c = 0; c < 14; c++)
            {
                row[c] *= scale;
            }

            rows.Add(row);
        }

        return rows;
    }

    /// <summary>OpenCV's alignment (similarity from the 5 landmarks, warpAffine to 112x112) and DNN embedding of one face.</summary>
    public float[] EmbedOpenCv(Mat frame, float[] face)
    {
        using var from = InputArray.Create(Enumerable.Range(0, 5).Select(k => new Point2f(face[4 + (2 * k)], face[5 + (2 * k)])).ToArray());
        using var to = InputArray.Create(Template);
        using var transform = Cv2.EstimateAffinePartial2D(from, to, null, RobustEstimationAlgorithms.LMEDS)
            ?? throw new InvalidOperationException("OpenCV found no similarity for the landmarks.");
        using var chip = new Mat();
        Cv2.WarpAffine(frame, chip, transform, new Size(112, 112), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(0));
        using var blob = CvDnn.BlobFromImage(chip, 1 / 128.0, new Size(112, 112), Scalar.All(127), swapRB: false, crop: false);
        OpenCvEmbedder.SetInput(blob);
        using var output = OpenCvEmbedder.Forward();
        var embedding = new float[512];
        Marshal.Copy(output.Data, embedding, 0, embedding.Length);
        var norm = MathF.Sqrt(embedding.Sum(v => v * v));
        for (var i = 0; i < embedding.Length; i++)
        {
            embedding[i] /= norm;
        }

        return embedding;
    }

    public int BareDetect()
    {
        using var outputs = BareDetector.Run(runOptions, [BareDetector.InputNames[0]], [DetectorInput], DetectorOutputs);
        return outputs.Count;
    }

    public int BareEmbed()
    {
        using var outputs = BareEmbedder.Run(runOptions, [BareEmbedder.InputNames[0]], [EmbedderInput], [BareEmbedder.OutputNames[0]]);
        return outputs.Count;
    }

    public void Dispose()
    {
        Pipeline.Dispose();
        OpenCvDetector.Dispose();
        OpenCvEmbedder.Dispose();
        BareDetector.Dispose();
        BareEmbedder.Dispose();
        DetectorInput.Dispose();
        runOptions.Dispose();
        EmbedderInput.Dispose();
        foreach (var mat in Mats)
        {
            mat.Dispose();
        }

        city.Dispose();
    }

    private static List<BgrImage> Decode(string clip)
    {
        var frames = new List<BgrImage>();
        Task.Run(async () =>
        {
            await foreach (var frame in CityWatch.Ingest.FrameSource.ReadFileAsync(clip, new IngestOptions { AnalysisFps = 2, Width = 640 }))
            {
                frames.Add(frame.Image);
            }
        }).GetAwaiter().GetResult();
        return frames.Count == Frames ? frames : throw new InvalidOperationException($"Expected {Frames} frames of the clip, got {frames.Count}.");
    }


}
