using BenchmarkDotNet.Attributes;

namespace CityWatch.Bench.Reference;

/// <summary>
/// Detect + align + embed on the 20 frames (1280x720), times per frame: OpenCV end to end
/// (FaceDetectorYN at 320x320, alignment, DNN; the baseline), ours (FacePipeline.DetectAndEmbed at
/// DetectionSize 320), and the floor: bare ONNX Runtime runs of the two models (one detector run per
/// frame, one embedder run per face our detector finds).
/// Run: dotnet run -c Release --project bench/CityWatch.Bench -- --filter '*Reference*' --job short
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class FullPipelineBenchmarks
{
    private ReferenceSetup? setup;

    [GlobalSetup]
    public void Setup() => setup = new ReferenceSetup();

    [GlobalCleanup]
    public void Cleanup() => setup?.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = ReferenceSetup.Frames)]
    public int OpenCv()
    {
        var embedded = 0;
        foreach (var frame in setup!.Mats)
        {
            foreach (var face in setup.DetectOpenCv(frame))
            {
                embedded += setup.EmbedOpenCv(frame, face).Length > 0 ? 1 : 0;
            }
        }

        return embedded;
    }

    [Benchmark(OperationsPerInvoke = ReferenceSetup.Frames)]
    public int Ours()
    {
        var embedded = 0;
        foreach (var frame in setup!.Images)
        {
            embedded += setup.Pipeline.DetectAndEmbed(setup.Grant, frame).Count;
        }

        return embedded;
    }

    [Benchmark(OperationsPerInvoke = ReferenceSetup.Frames)]
    public int BareOnnxRuntime()
    {
        var runs = 0;
        foreach (var faces in setup!.FacesPerFrame)
        {
            runs += setup.BareDetect();
            for (var f = 0; f < faces; f++)
            {
                runs += setup.BareEmbed();
            }
        }

        return runs;
    }
}
