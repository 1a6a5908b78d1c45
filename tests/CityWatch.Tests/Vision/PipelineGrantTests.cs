using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

public sealed class PipelineGrantTests
{
    [Fact]
    public async Task An_expired_grant_stops_processing_before_any_model_runs()
    {
        using var city = new TestCity();
        using var pipeline = new FacePipeline(VisionFixture.Options, city.Time);
        var grant = await city.LiveGrantAsync();
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama-480p.jpg"));
        var face = Assert.Single(pipeline.Detect(grant, image));
        Assert.Equal(1, pipeline.DetectorRuns);

        city.Time.Advance(PolicyEngine.GrantLifetime + TimeSpan.FromSeconds(1));

        Assert.Throws<GrantExpiredException>(() => pipeline.Detect(grant, image));
        Assert.Throws<GrantExpiredException>(() => pipeline.Embed(grant, image, face));
        Assert.Throws<GrantExpiredException>(() => pipeline.DetectAndEmbed(grant, image));
        Assert.Equal(1, pipeline.DetectorRuns);
        Assert.Equal(0, pipeline.EmbedderRuns);
    }

    [Fact]
    public async Task A_fresh_grant_lets_processing_go_on()
    {
        using var city = new TestCity();
        using var pipeline = new FacePipeline(VisionFixture.Options, city.Time);
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama-480p.jpg"));
        var first = await city.LiveGrantAsync();
        city.Time.Advance(PolicyEngine.GrantLifetime + TimeSpan.FromSeconds(1));
        Assert.Throws<GrantExpiredException>(() => pipeline.Detect(first, image));

        var renewed = await city.Policy.RequireAsync(new PolicyRequest("test", ProcessingPurpose.Live, 1, [1]));

        var embedded = Assert.Single(pipeline.DetectAndEmbed(renewed, image));
        Assert.Equal(512, embedded.Embedding.Length);
    }

    [Fact]
    public void Bad_options_are_refused_with_the_setting_named()
    {
        var error = Assert.Throws<InvalidRequestException>(() => new FacePipeline(VisionFixture.Options with { ScoreThreshold = 1.5f }, TimeProvider.System));
        Assert.Contains("ScoreThreshold", error.Message, StringComparison.Ordinal);
    }
}
