using BenchmarkDotNet.Attributes;
using CityWatch.Audit;
using CityWatch.Evaluation;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Vision;

namespace CityWatch.Bench.Vision;

/// <summary>
/// The per-frame face path on a 1280x720 frame (obama-720p.jpg, one face), one intra-op thread:
/// detection alone, alignment + embedding of one face, and the whole path. The grant comes from a real policy engine on a
/// temporary SQLite database, under a frozen clock so it stays valid for the whole run.
/// Run: dotnet run -c Release --project bench/CityWatch.Bench -- --filter '*PipelineBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class PipelineBenchmarks
{
    private EvaluationCity? city;
    private FacePipeline? pipeline;
    private ProcessingGrant? grant;
    private BgrImage? frame;
    private DetectedFace? face;

    /// <summary>Long side the detector sees (the frame is scaled down to it).</summary>
    [Params(640, 320)]
    public int DetectionSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var root = BenchPaths.RepositoryRoot();
        var models = Environment.GetEnvironmentVariable("CITYWATCH_MODELS") ?? ModelStore.DefaultModelsDirectory(root);
        var data = Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? ModelStore.DefaultAssetSource(root);
        frame = ImageCodec.DecodeFile(Path.Combine(data, "faces", "ageitgey", "examples", "obama-720p.jpg"));

        var time = new FrozenTime(new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));
        // Detection and embedding alone, as in an accuracy measurement: a scratch city's evaluation basis.
        city = EvaluationCity.OpenAsync(time).GetAwaiter().GetResult();
        grant = city.GrantAsync().GetAwaiter().GetResult();

        pipeline = new FacePipeline(new VisionOptions { ModelDirectory = models, DetectionSize = DetectionSize }, time);
        var faces = pipeline.Detect(grant, frame);
        if (faces.Count != 1)
        {
            throw new InvalidOperationException($"Expected one face in the benchmark frame, found {faces.Count}.");
        }

        face = faces[0];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        pipeline?.Dispose();
        city?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public int Detect() => pipeline!.Detect(grant!, frame!).Count;

    /// <summary>Alignment and embedding of the one face (what each extra face in a frame costs).</summary>
    [Benchmark]
    public float AlignEmbed() => pipeline!.Embed(grant!, frame!, face!)[0];

    [Benchmark]
    public int DetectAlignEmbed() => pipeline!.DetectAndEmbed(grant!, frame!).Count;


}
