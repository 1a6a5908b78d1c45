using BenchmarkDotNet.Attributes;

namespace CityWatch.Bench.Reference;

/// <summary>
/// The detect stage on 20 frames of the shared video at 1280x720, times per frame: OpenCV's
/// FaceDetectorYN (yunet_n_320_320.onnx, input 320x320; the baseline), ours (yunet_n_dynamic.onnx at
/// DetectionSize 320, i.e. 320x192, resize and decode included), and the floor: a bare ONNX Runtime run
/// of yunet_n_dynamic on a ready [1,3,192,320] tensor (no resize, no decode).
/// Run: dotnet run -c Release --project bench/CityWatch.Bench -- --filter '*Reference*' --job short
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class DetectStageBenchmarks
{
    private ReferenceSetup? setup;

    [GlobalSetup]
    public void Setup() => setup = new ReferenceSetup();

    [GlobalCleanup]
    public void Cleanup() => setup?.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = ReferenceSetup.Frames)]
    public int OpenCv()
    {
        var faces = 0;
        foreach (var frame in setup!.Mats)
        {
            faces += setup.DetectOpenCv(frame).Count;
        }

        return faces;
    }

    [Benchmark(OperationsPerInvoke = ReferenceSetup.Frames)]
    public int Ours()
    {
        var faces = 0;
        foreach (var frame in setup!.Images)
        {
            faces += setup.Pipeline.Detect(setup.Grant, frame).Count;
        }

        return faces;
    }

    [Benchmark(OperationsPerInvoke = ReferenceSetup.Frames)]
    public int BareOnnxRuntime()
    {
        var outputs = 0;
        for (var i = 0; i < ReferenceSetup.Frames; i++)
        {
            outputs += setup!.BareDetect();
        }

        return outputs;
    }
}
