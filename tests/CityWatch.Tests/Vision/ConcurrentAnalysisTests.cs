using CityWatch.Grants;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

/// <summary>
/// One pipeline used by several threads at once (a session per thread, <see cref="VisionOptions.AnalysisThreads"/>)
/// gives exactly what it gives one thread at a time.
/// </summary>
public sealed class ConcurrentAnalysisTests
{
    private const int Threads = 3;

    private static readonly string[] Photos = ["obama.jpg", "biden.jpg", "two_people.jpg", "lin-manuel-miranda.png", "obama2.jpg", "alex-lacamoire.png"];

    [Fact]
    public async Task Detect_and_embed_from_several_threads_give_the_sequential_results()
    {
        using var city = new TestCity();
        using var pipeline = new FacePipeline(VisionFixture.Options with { AnalysisThreads = Threads }, city.Time);
        var grant = await city.LiveGrantAsync();
        var images = Photos.Select(p => ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", p))).ToList();
        var sequential = images.Select(image => Analyse(pipeline, grant, image)).ToList();
        Assert.Equal(1, pipeline.DetectorSessions);
        Assert.Equal(1, pipeline.EmbedderSessions);
        Assert.True(sequential.Sum(r => r.Count) >= images.Count, "every photo has a face");

        // Each thread goes through every photo, starting at a different one, after all have started.
        var results = new List<(int Image, IReadOnlyList<EmbeddedFace> Faces)>[Threads * 2];
        using var start = new Barrier(results.Length);
        var threads = Enumerable.Range(0, results.Length).Select(t => new Thread(() =>
        {
            var mine = new List<(int, IReadOnlyList<EmbeddedFace>)>();
            start.SignalAndWait();
            for (var k = 0; k < images.Count * 2; k++)
            {
                var i = (t + k) % images.Count;
                mine.Add((i, Analyse(pipeline, grant, images[i])));
            }

            results[t] = mine;
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        foreach (var (i, faces) in results.SelectMany(r => r))
        {
            var expected = sequential[i];
            Assert.Equal(expected.Count, faces.Count);
            for (var f = 0; f < faces.Count; f++)
            {
                Assert.Equal(expected[f].Face, faces[f].Face, FaceEquality.Instance);
                Assert.Equal(expected[f].Embedding, faces[f].Embedding);
            }
        }

        Assert.InRange(pipeline.DetectorSessions, 1, Threads);
        Assert.InRange(pipeline.EmbedderSessions, 1, Threads);
        Assert.Equal(images.Count * (1 + (2L * results.Length)), pipeline.DetectorRuns);
    }

    [Fact]
    public void A_pool_makes_no_more_instances_than_its_capacity_and_reuses_returned_ones()
    {
        var made = 0;
        using var pool = new SessionPool<Instance>(new Instance(0), () => new Instance(Interlocked.Increment(ref made)), 2);

        var a = pool.Rent();
        var b = pool.Rent();
        Assert.Equal(2, pool.Count);
        Assert.NotSame(a.Value, b.Value);
        var returned = b.Value;
        b.Dispose();
        using (var c = pool.Rent())
        {
            Assert.Same(returned, c.Value);
        }

        a.Dispose();
        Assert.Equal(2, pool.Count);
        Assert.Equal(1, made);

        // Many threads at once never get one instance at the same time, nor more than two instances.
        var inUse = new int[2];
        var overlaps = 0;
        Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ =>
        {
            using var lease = pool.Rent();
            if (Interlocked.Increment(ref inUse[lease.Value.Id]) != 1)
            {
                Interlocked.Increment(ref overlaps);
            }

            Thread.SpinWait(50);
            Interlocked.Decrement(ref inUse[lease.Value.Id]);
        });
        Assert.Equal(0, overlaps);
        Assert.Equal(2, pool.Count);
    }

    [Fact]
    public void A_bad_thread_count_is_refused_with_its_name()
    {
        var error = Assert.Throws<InvalidRequestException>((VisionFixture.Options with { AnalysisThreads = 0 }).Validate);

        Assert.Contains("AnalysisThreads", error.Message, StringComparison.Ordinal);
    }

    private static IReadOnlyList<EmbeddedFace> Analyse(FacePipeline pipeline, ProcessingGrant grant, BgrImage image)
    {
        var faces = pipeline.Detect(grant, image);
        return faces.Select(f => new EmbeddedFace(f, pipeline.Embed(grant, image, f))).ToList();
    }

    private sealed class Instance(int id) : IDisposable
    {
        public int Id { get; } = id;

        public void Dispose()
        {
        }
    }

    // Box, score and landmarks, value by value (the record's landmark array compares by reference).
    private sealed class FaceEquality : IEqualityComparer<DetectedFace>
    {
        public static readonly FaceEquality Instance = new();

        public bool Equals(DetectedFace? x, DetectedFace? y) =>
            x is not null && y is not null && x.Box == y.Box && x.Score == y.Score && x.Landmarks.SequenceEqual(y.Landmarks);

        public int GetHashCode(DetectedFace obj) => obj.Box.GetHashCode();
    }
}
