using BenchmarkDotNet.Attributes;
using CityWatch.Evaluation;
using CityWatch.Grants;
using CityWatch.Vision;

namespace CityWatch.Bench.Vision;

/// <summary>
/// What small-face refinement (<see cref="VisionOptions.SmallFaceRefine"/>) costs, side by side with it off:
/// obama-720p.jpg degraded to a 160x90 frame (blur 0.7, JPEG 30; eyes about 10 px apart), one intra-op thread.
/// The difference between the two rows of a method is the cost per small face (one refined face here).
/// Run: dotnet run -c Release --project bench/CityWatch.Bench -- --filter '*SmallFaceBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class SmallFaceBenchmarks
{
    private EvaluationCity? city;
    private FacePipeline? pipeline;
    private ProcessingGrant? grant;
    private BgrImage? frame;

    /// <summary>0: off (the baseline); 24: faces with eyes closer than 24 px are refined.</summary>
    [Params(0f, 24f)]
    public float SmallFaceRefine { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var root = BenchPaths.RepositoryRoot();
        var models = Environment.GetEnvironmentVariable("CITYWATCH_MODELS") ?? ModelStore.DefaultModelsDirectory(root);
        var data = Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? ModelStore.DefaultAssetSource(root);
        var photo = ImageCodec.DecodeFile(Path.Combine(data, "faces", "ageitgey", "examples", "obama-720p.jpg"));
        frame = new Degradation(160, 0.7f, 30, 1).Apply(photo);

        var time = new FrozenTime(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));
        city = EvaluationCity.OpenAsync(time).GetAwaiter().GetResult();
        grant = city.GrantAsync().GetAwaiter().GetResult();
        pipeline = new FacePipeline(new VisionOptions { ModelDirectory = models, SmallFaceRefine = SmallFaceRefine }, time);
        var faces = pipeline.Detect(grant, frame);
        if (faces.Count != 1 || faces[0].InterEyeDistance >= 24)
        {
            throw new InvalidOperationException($"Expected one small face in the benchmark frame, found {faces.Count}.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        pipeline?.Dispose();
        city?.Dispose();
    }

    [Benchmark]
    public int Detect() => pipeline!.Detect(grant!, frame!).Count;

    [Benchmark]
    public int DetectAlignEmbed() => pipeline!.DetectAndEmbed(grant!, frame!).Count;
}
