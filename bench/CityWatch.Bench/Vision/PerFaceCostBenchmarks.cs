using BenchmarkDotNet.Attributes;
using CityWatch.Evaluation;
using CityWatch.Grants;
using CityWatch.Recognition.Tracking;
using CityWatch.Vision;

namespace CityWatch.Bench.Vision;

/// <summary>
/// Issue 14's cost budget, side by side in one run: what one detected face costs on the camera path, on the one
/// face of obama-720p.jpg (1280x720), one intra-op thread, one session per model.
/// <list type="bullet">
/// <item><see cref="Baseline"/>: the per-face path at issue 14's start: align + embed with fr_feature, no extras
/// (the options spelt out, so later defaults do not move it).</item>
/// <item><see cref="Default"/>: what the live path does per face now with <c>new VisionOptions()</c> and
/// <c>new QualityOptions()</c>, whatever they switch on: the quality gate, align + embed, and the face entering
/// its track's template of <see cref="TrackingOptions.TemplateFrames"/> frames (the worst case: every face
/// enters, so the fused template is recomputed each time).</item>
/// <item><see cref="Flip"/>, <see cref="Fused"/>: align + embed with flip TTA, and with score fusion
/// (fr_feature + faceres), each on its own.</item>
/// </list>
/// Detection is per frame, not per face, and left out (small-face refinement, the only per-face detection cost,
/// is off by default; its cost is <see cref="SmallFaceBenchmarks"/>).
/// Run: dotnet run -c Release --project bench/CityWatch.Bench -- --filter '*PerFaceCostBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class PerFaceCostBenchmarks
{
    private readonly List<FacePipeline> pipelines = [];
    private EvaluationCity? city;
    private FacePipeline? baseline;
    private FacePipeline? current;
    private FacePipeline? flip;
    private FacePipeline? fused;
    private QualityGate? gate;
    private TrackTemplate? template;
    private ProcessingGrant? grant;
    private BgrImage? frame;
    private DetectedFace? face;
    private float quality;

    [GlobalSetup]
    public void Setup()
    {
        var root = BenchPaths.RepositoryRoot();
        var models = Environment.GetEnvironmentVariable("CITYWATCH_MODELS") ?? ModelStore.DefaultModelsDirectory(root);
        var data = Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? ModelStore.DefaultAssetSource(root);
        frame = ImageCodec.DecodeFile(Path.Combine(data, "faces", "ageitgey", "examples", "obama-720p.jpg"));

        var time = new FrozenTime(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));
        city = EvaluationCity.OpenAsync(time).GetAwaiter().GetResult();
        grant = city.GrantAsync().GetAwaiter().GetResult();

        FacePipeline Pipeline(VisionOptions options)
        {
            var pipeline = new FacePipeline(options with { ModelDirectory = models, AnalysisThreads = 1 }, time);
            pipelines.Add(pipeline);
            return pipeline;
        }

        baseline = Pipeline(new VisionOptions { Embedder = FrFeatureEmbedder.ModelName, FlipAugmentation = false, SmallFaceRefine = 0, FuseWith = null });
        current = Pipeline(new VisionOptions());
        flip = Pipeline(new VisionOptions { FlipAugmentation = true });
        fused = Pipeline(new VisionOptions { FuseWith = FaceResEmbedder.ModelName });
        gate = new QualityGate(new QualityOptions());
        var faces = current.Detect(grant, frame);
        if (faces.Count != 1 || !gate.Assess(frame, faces[0]).Accepted)
        {
            throw new InvalidOperationException($"Expected one face the gate accepts in the benchmark frame, found {faces.Count}.");
        }

        face = faces[0];
        template = new TrackTemplate(new TrackingOptions().TemplateFrames);
        for (var i = 0; i < template.Capacity; i++)
        {
            Default();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var pipeline in pipelines)
        {
            pipeline.Dispose();
        }

        city?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public float Baseline() => baseline!.Embed(grant!, frame!, face!)[0];

    [Benchmark]
    public bool Default()
    {
        var assessed = gate!.Assess(frame!, face!);
        var embedding = current!.Embed(grant!, frame!, face!);
        // A rising quality, so every face enters the template and the fused template is recomputed.
        quality += 1e-3f;
        return assessed.Accepted && template!.Add(embedding, assessed.Score + quality);
    }

    [Benchmark]
    public float Flip() => flip!.Embed(grant!, frame!, face!)[0];

    [Benchmark]
    public float Fused() => fused!.Embed(grant!, frame!, face!)[0];
}
