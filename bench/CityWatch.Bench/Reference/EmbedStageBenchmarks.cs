using BenchmarkDotNet.Attributes;
using CityWatch.Vision;

namespace CityWatch.Bench.Reference;

/// <summary>
/// Alignment and embedding of every face our detector finds in the 20 frames (1280x720), times per
/// frame: OpenCV (similarity by estimateAffinePartial2D, warpAffine to 112x112, DNN on fr_feature.onnx;
/// the baseline), ours (Umeyama, bilinear warp, ONNX Runtime), and the floor: bare ONNX Runtime runs of
/// fr_feature on a ready tensor, one per face.
/// Run: dotnet run -c Release --project bench/CityWatch.Bench -- --filter '*Reference*' --job short
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class EmbedStageBenchmarks
{
    private ReferenceSetup? setup;
    private List<(int Frame, DetectedFace Face, float[] Row)> faces = [];

    [GlobalSetup]
    public void Setup()
    {
        setup = new ReferenceSetup();
        faces = setup.Images
            .SelectMany((image, i) => setup.Pipeline.Detect(setup.Grant, image).Select(f => (i, f, Row(f))))
            .ToList();
    }

    [GlobalCleanup]
    public void Cleanup() => setup?.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = ReferenceSetup.Frames)]
    public float OpenCv()
    {
        var sum = 0f;
        foreach (var (frame, _, row) in faces)
        {
            sum += setup!.EmbedOpenCv(setup.Mats[frame], row)[0];
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = ReferenceSetup.Frames)]
    public float Ours()
    {
        var sum = 0f;
        foreach (var (frame, face, _) in faces)
        {
            sum += setup!.Pipeline.Embed(setup.Grant, setup.Images[frame], face)[0];
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = ReferenceSetup.Frames)]
    public int BareOnnxRuntime()
    {
        var outputs = 0;
        for (var i = 0; i < faces.Count; i++)
        {
            outputs += setup!.BareEmbed();
        }

        return outputs;
    }

    // Our detection as an OpenCV face row: x, y, w, h, 5 landmarks, score.
    private static float[] Row(DetectedFace face) =>
        [face.Box.X, face.Box.Y, face.Box.Width, face.Box.Height, .. face.Landmarks.SelectMany(p => new[] { p.X, p.Y }), face.Score];
}
