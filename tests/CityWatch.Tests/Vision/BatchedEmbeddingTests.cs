using CityWatch.Grants;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

/// <summary>
/// <see cref="FacePipeline.EmbedBatch"/>: several aligned faces in one embedder run (the shipped fr_feature graph
/// is fixed at a batch of one; <see cref="BatchGraph"/> makes the batch dimension free) give what one at a time gives.
/// </summary>
public sealed class BatchedEmbeddingTests
{
    private const float Tolerance = 1e-5f;

    private static readonly string[] Photos = ["two_people.jpg", "obama.jpg", "biden.jpg", "lin-manuel-miranda.png", "obama2.jpg", "alex-lacamoire.png"];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_batch_gives_each_face_the_embedding_it_gets_alone(bool flip)
    {
        using var city = new TestCity();
        using var pipeline = new FacePipeline(VisionFixture.Options with { EmbedBatchSize = 4, FlipAugmentation = flip }, city.Time);
        var grant = await city.LiveGrantAsync();
        var faces = Faces(pipeline, grant);
        Assert.True(faces.Count > 4, $"{faces.Count} faces: the batch should need more than one run");
        Assert.Equal(4, pipeline.EmbedBatchLimit);

        var alone = faces.Select(f => pipeline.Embed(grant, f.Frame, f.Face)).ToList();
        var runs = pipeline.EmbedderRuns;
        var together = pipeline.EmbedBatch(grant, faces);

        var facesPerRun = flip ? 2 : 4;
        Assert.Equal((faces.Count + facesPerRun - 1) / facesPerRun, pipeline.EmbedderRuns - runs);
        Assert.Equal(faces.Count, together.Count);
        for (var i = 0; i < faces.Count; i++)
        {
            Assert.Equal(alone[i].Length, together[i].Length);
            Assert.All(alone[i].Zip(together[i]), p => Assert.InRange(p.Second - p.First, -Tolerance, Tolerance));
        }
    }

    [Fact]
    public async Task The_batch_free_graph_embeds_one_face_as_the_shipped_graph_does()
    {
        using var city = new TestCity();
        using var shipped = new FacePipeline(VisionFixture.Options with { EmbedBatchSize = 1 }, city.Time);
        using var batching = new FacePipeline(VisionFixture.Options with { EmbedBatchSize = 8 }, city.Time);
        var grant = await city.LiveGrantAsync();
        Assert.Equal(1, shipped.EmbedBatchLimit);
        Assert.Equal(8, batching.EmbedBatchLimit);

        foreach (var (frame, face) in Faces(shipped, grant))
        {
            var expected = shipped.Embed(grant, frame, face);
            var actual = batching.Embed(grant, frame, face);
            Assert.All(expected.Zip(actual), p => Assert.InRange(p.Second - p.First, -Tolerance, Tolerance));
        }
    }

    [Fact]
    public async Task One_face_always_runs_on_the_shipped_graph_even_where_batching_is_on()
    {
        using var city = new TestCity();
        using var pipeline = new FacePipeline(VisionFixture.Options with { EmbedBatchSize = 4 }, city.Time);
        var grant = await city.LiveGrantAsync();
        var faces = Faces(pipeline, grant).Take(5).ToList();
        Assert.Equal(5, faces.Count);
        Assert.Equal(4, pipeline.EmbedBatchLimit);

        var runs = pipeline.EmbedderRuns;
        pipeline.Embed(grant, faces[0].Frame, faces[0].Face);
        pipeline.EmbedBatch(grant, [faces[0]]);
        Assert.Equal(runs + 2, pipeline.EmbedderRuns);
        Assert.Equal(0, pipeline.EmbedderBatchedRuns);

        // Five faces at four a run: one run of four on the rewritten graph, the fifth alone on the shipped one.
        pipeline.EmbedBatch(grant, faces);
        Assert.Equal(runs + 4, pipeline.EmbedderRuns);
        Assert.Equal(1, pipeline.EmbedderBatchedRuns);
    }

    [Fact]
    public async Task Without_batching_a_batch_is_embedded_one_run_per_face_with_the_same_results()
    {
        using var city = new TestCity();
        using var pipeline = new FacePipeline(VisionFixture.Options with { EmbedBatchSize = 1 }, city.Time);
        var grant = await city.LiveGrantAsync();
        var faces = Faces(pipeline, grant);
        var alone = faces.Select(f => pipeline.Embed(grant, f.Frame, f.Face)).ToList();
        var runs = pipeline.EmbedderRuns;

        var together = pipeline.EmbedBatch(grant, faces);

        Assert.Equal(faces.Count, pipeline.EmbedderRuns - runs);
        Assert.Equal(alone, together);
        Assert.Empty(pipeline.EmbedBatch(grant, []));
    }

    [Fact]
    public void Bytes_that_are_not_an_onnx_model_are_not_rewritten()
    {
        Assert.Null(BatchGraph.TryRewrite("not a model"u8.ToArray()));
        Assert.Null(BatchGraph.TryRewrite([]));
    }

    [Fact]
    public void A_bad_batch_size_is_refused_with_its_name()
    {
        var error = Assert.Throws<InvalidRequestException>((VisionFixture.Options with { EmbedBatchSize = 0 }).Validate);

        Assert.Contains("EmbedBatchSize", error.Message, StringComparison.Ordinal);
    }

    private static List<(BgrImage Frame, DetectedFace Face)> Faces(FacePipeline pipeline, ProcessingGrant grant) =>
        Photos.Select(p => ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", p)))
            .SelectMany(image => pipeline.Detect(grant, image).Select(face => (image, face)))
            .ToList();
}
