using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

/// <summary>Score fusion of two embedders (<see cref="VisionOptions.FuseWith"/>, <see cref="ScoreFusion"/>).</summary>
[Collection(VisionCollection.Name)]
public sealed class ScoreFusionTests(VisionFixture vision)
{
    [Fact]
    public void Fused_cosine_is_the_weighted_sum_of_the_two_embedders_cosines_and_ranks_the_same_person_above_another()
    {
        using var fused = new FacePipeline(VisionFixture.Options with { FuseWith = FaceResEmbedder.ModelName }, vision.City.Time);
        using var faceres = new FacePipeline(VisionFixture.Options with { Embedder = FaceResEmbedder.ModelName }, vision.City.Time);
        var photos = new[] { "obama.jpg", "obama2.jpg", "biden.jpg" }
            .Select(name => ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", name)))
            .Select(image => (Image: image, Face: vision.Pipeline.Detect(vision.Grant, image).MaxBy(f => f.Box.Area)!))
            .ToList();
        Assert.All(photos, p => Assert.NotNull(p.Face));

        var runsBefore = fused.EmbedderRuns;
        var both = photos.Select(p => fused.Embed(vision.Grant, p.Image, p.Face)).ToList();
        var plain = photos.Select(p => vision.Pipeline.Embed(vision.Grant, p.Image, p.Face)).ToList();
        var second = photos.Select(p => faceres.Embed(vision.Grant, p.Image, p.Face)).ToList();

        Assert.Equal(2 * photos.Count, fused.EmbedderRuns - runsBefore);
        Assert.Equal("fr_feature+faceres", fused.EmbedderName);
        Assert.Equal(512 + 1024, fused.EmbeddingDimensions);
        var fusion = fused.Fusion!;
        foreach (var (i, j) in new[] { (0, 1), (0, 2), (1, 2) })
        {
            Assert.Equal(1.0, Math.Sqrt(both[i].Sum(v => (double)v * v)), 4);
            var expected = fusion.Score(FacePipeline.Similarity(plain[i], plain[j]), FacePipeline.Similarity(second[i], second[j]));
            Assert.Equal(expected, FacePipeline.Similarity(both[i], both[j]), 4);
        }

        // obama.jpg and obama2.jpg are one person, biden.jpg another.
        var same = FacePipeline.Similarity(both[0], both[1]);
        Assert.True(same > FacePipeline.Similarity(both[0], both[2]), $"same {same}");
        Assert.True(same > FacePipeline.Similarity(both[1], both[2]), $"same {same}");
    }

    [Fact]
    public void Fused_batch_gives_what_single_faces_give()
    {
        using var fused = new FacePipeline(VisionFixture.Options with { FuseWith = FaceResEmbedder.ModelName }, vision.City.Time);
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "two_people.jpg"));
        var faces = fused.Detect(vision.Grant, image);
        Assert.True(faces.Count >= 2, $"{faces.Count} faces");

        var batch = fused.EmbedBatch(vision.Grant, faces.Select(f => (image, f)).ToList());

        for (var i = 0; i < faces.Count; i++)
        {
            Assert.Equal(1.0f, FacePipeline.Similarity(batch[i], fused.Embed(vision.Grant, image, faces[i])), 4);
        }
    }

    [Fact]
    public void Fused_score_is_the_z_score_mean_mapped_by_one_positive_affine_function()
    {
        var fusion = new ScoreFusion(FrFeatureEmbedder.ModelName, FaceResEmbedder.ModelName);
        var (a, b) = (1 / fusion.Primary.StandardDeviation, 1 / fusion.Secondary.StandardDeviation);
        var scale = 2 / (a + b);
        var shift = ((fusion.Primary.Mean * a) + (fusion.Secondary.Mean * b)) / (a + b);

        Assert.Equal(1.0f, fusion.PrimaryWeight + fusion.SecondaryWeight, 6);
        Assert.Equal(a / (a + b), fusion.PrimaryWeight, 6);
        foreach (var (s1, s2) in new[] { (0.3f, 0.6f), (-0.1f, 0.45f), (0.9f, 0.95f), (0.0f, 0.0f) })
        {
            Assert.Equal((fusion.PrimaryWeight * s1) + (fusion.SecondaryWeight * s2), fusion.Score(s1, s2), 6);
            Assert.Equal((scale * fusion.ZMean(s1, s2)) + shift, fusion.Score(s1, s2), 5);
        }

        // The impostor means map to z 0, and one standard deviation above both to z 1.
        Assert.Equal(0, fusion.ZMean(fusion.Primary.Mean, fusion.Secondary.Mean), 5);
        Assert.Equal(1, fusion.ZMean(fusion.Primary.Mean + fusion.Primary.StandardDeviation, fusion.Secondary.Mean + fusion.Secondary.StandardDeviation), 5);
    }

    [Theory]
    [InlineData("fr_feature")]
    [InlineData("arcface")]
    public void Fusing_an_embedder_with_itself_or_an_unknown_one_is_refused_before_any_model_loads(string fuseWith)
    {
        var options = VisionFixture.Options with { FuseWith = fuseWith };

        var error = Assert.Throws<InvalidRequestException>(options.Validate);

        Assert.Contains("Vision:FuseWith", error.Message, StringComparison.Ordinal);
    }
}
