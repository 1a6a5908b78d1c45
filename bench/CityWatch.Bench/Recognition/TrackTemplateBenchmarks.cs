using BenchmarkDotNet.Attributes;
using CityWatch.Evaluation;
using CityWatch.Grants;
using CityWatch.Ingest;
using CityWatch.Recognition.Tracking;
using CityWatch.Vision;

namespace CityWatch.Bench.Recognition;

/// <summary>
/// Cost per face of the camera path with track templates against the path before them, side by side in one
/// run on the same frames: the shared video decoded at <see cref="Fps"/> frames/s, 640 px wide, one intra-op
/// thread. Both run detection, scene-cut check, tracker and quality gate on every frame; then
/// <list type="bullet">
/// <item><see cref="SingleBestFace"/> (the baseline, FrameAnalyzer before track templates): a face is embedded
/// when its track has no embedding, or it beats the track's best quality by 5 %, or 4 frames have passed; the
/// track keeps its best embedding; every embedding is searched;</item>
/// <item><see cref="FusedTrack"/> (now): the same schedule, but only faces that would enter the track's best
/// 5 (<see cref="Track.WantsEmbedding"/>); each one that enters updates the quality-weighted fused template,
/// which is what is searched.</item>
/// </list>
/// The watchlist search itself is left out of both (the grant covers no watchlist; its cost on real galleries
/// is in docs/performance.md); the searches each path would make are counted and printed. Each operation is
/// the whole clip, so the ratio of the means is the ratio of the cost per face (the faces are the same).
/// Run: dotnet run -c Release --project bench/CityWatch.Bench -- --filter '*TrackTemplateBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class TrackTemplateBenchmarks
{
    private static readonly TrackingOptions Tracking = new();
    private static readonly QualityOptions Quality = new();

    private readonly List<BgrImage> frames = [];
    private EvaluationCity? city;
    private FacePipeline? pipeline;
    private ProcessingGrant? grant;

    [Params(2.0, 5.0)]
    public double Fps { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var root = BenchPaths.RepositoryRoot();
        var models = Environment.GetEnvironmentVariable("CITYWATCH_MODELS") ?? ModelStore.DefaultModelsDirectory(root);
        var data = Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? ModelStore.DefaultAssetSource(root);
        var clip = Path.Combine(data, "faces", "ageitgey", "examples", "short_hamilton_clip.mp4");
        Task.Run(async () =>
        {
            await foreach (var frame in FrameSource.ReadFileAsync(clip, new IngestOptions { AnalysisFps = Fps, Width = 640 }))
            {
                frames.Add(frame.Image);
            }
        }).GetAwaiter().GetResult();

        var time = new FrozenTime(new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));
        city = EvaluationCity.OpenAsync(time).GetAwaiter().GetResult();
        grant = city.GrantAsync().GetAwaiter().GetResult();
        pipeline = new FacePipeline(new VisionOptions { ModelDirectory = models }, time);
        var before = SingleBestFace();
        var now = FusedTrack();
        Console.WriteLine(
            $"// {frames.Count} frames at {Fps} fps, {before.Faces} faces; embeddings: single best face {before.Embedded}, fused track {now.Embedded}; " +
            $"searches: {before.Searched} and {now.Searched}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        pipeline?.Dispose();
        city?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Counts SingleBestFace()
    {
        var counts = new Counts();
        var best = new Dictionary<Guid, (float Quality, float[]? Embedding)>();
        Run(counts, (track, frame, face, quality) =>
        {
            var kept = best.GetValueOrDefault(track.Id, (-1f, null));
            if (kept.Embedding is not null
                && quality <= kept.Quality * (1 + Tracking.QualityImprovement)
                && track.FramesSinceEmbedding + 1 < Tracking.ReembedEveryFrames)
            {
                track.FramesSinceEmbedding++;
                return;
            }

            var embedding = pipeline!.Embed(grant!, frame, face);
            counts.Embedded++;
            track.FramesSinceEmbedding = 0;
            if (quality > kept.Quality)
            {
                best[track.Id] = (quality, embedding);
            }

            counts.Searched++;
        });
        return counts;
    }

    [Benchmark]
    public Counts FusedTrack()
    {
        var counts = new Counts();
        Run(counts, (track, frame, face, quality) =>
        {
            if (!track.WantsEmbedding(quality, Tracking))
            {
                track.FramesSinceEmbedding++;
                return;
            }

            var embedding = pipeline!.Embed(grant!, frame, face);
            counts.Embedded++;
            track.FramesSinceEmbedding = 0;
            if (track.Template.Add(embedding, quality))
            {
                counts.Searched++;
            }
        });
        return counts;
    }

    // What both paths share: detection, scene cut, tracker and quality gate on every frame.
    private void Run(Counts counts, Action<Track, BgrImage, DetectedFace, float> embed)
    {
        var tracker = new FaceTracker(Tracking);
        var scene = new SceneChange(Tracking.SceneCutDistance);
        var gate = new QualityGate(Quality);
        foreach (var frame in frames)
        {
            var faces = pipeline!.Detect(grant!, frame);
            var step = tracker.Update(faces.Select(f => f.Box).ToList(), scene.IsCut(frame));
            counts.Faces += faces.Count;
            for (var i = 0; i < faces.Count; i++)
            {
                var quality = gate.Assess(frame, faces[i]);
                if (!quality.Accepted)
                {
                    step.Assigned[i].FramesSinceEmbedding++;
                    continue;
                }

                embed(step.Assigned[i], frame, faces[i], quality.Score);
            }
        }

        foreach (var track in tracker.EndAll())
        {
            track.Forget();
        }
    }

    public sealed class Counts
    {
        public int Faces { get; set; }

        public int Embedded { get; set; }

        public int Searched { get; set; }

        public override string ToString() => $"{Faces} faces, {Embedded} embedded, {Searched} searched";
    }
}
