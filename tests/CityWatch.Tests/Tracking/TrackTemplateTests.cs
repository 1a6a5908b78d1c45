using CityWatch.Recognition.Tracking;
using CityWatch.Vision;

namespace CityWatch.Tests.Tracking;

public sealed class TrackTemplateTests
{
    [Fact]
    public void The_fused_template_is_the_quality_weighted_mean_of_the_unit_vectors_made_unit_again()
    {
        var template = new TrackTemplate(5);

        Assert.True(template.Add([2, 0, 0], 0.75f)); // not unit: counted as (1, 0, 0)
        Assert.True(template.Add([0, 1, 0], 0.25f));

        // 0.75 (1, 0, 0) + 0.25 (0, 1, 0), normalised.
        var expected = new[] { 0.75f, 0.25f, 0 };
        var norm = MathF.Sqrt((0.75f * 0.75f) + (0.25f * 0.25f));
        Assert.Equal(2, template.Count);
        Assert.Equal(0.75f, template.BestQuality);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(expected[i] / norm, template.Fused![i], 1e-3f);
        }

        Assert.Equal(1f, MathF.Sqrt(template.Fused!.Sum(v => v * v)), 1e-5f);
    }

    [Fact]
    public void It_keeps_only_the_best_frames_and_a_face_no_better_than_any_of_them_changes_nothing()
    {
        var template = new TrackTemplate(2);
        template.Add([1, 0], 0.5f);
        template.Add([0, 1], 0.6f);
        var fused = template.Fused;

        Assert.False(template.Admits(0.4f));
        Assert.False(template.Add([-1, 0], 0.4f));
        Assert.Same(fused, template.Fused);

        // A better face pushes out the worst one (0.5, (1, 0)): what is left is the mix of (0.6, 0.8) and (0, 1).
        Assert.True(template.Add([0.6f, 0.8f], 0.9f));
        Assert.Equal(2, template.Count);
        Assert.Equal(0.9f, template.BestQuality);
        Assert.True(template.Fused![0] > 0 && template.Fused[1] > 0.8f, string.Join(", ", template.Fused));
        Assert.True(FacePipeline.Similarity(template.Fused, [1, 0]) < 0.6f);
    }

    [Fact]
    public void Clear_drops_every_embedding()
    {
        var template = new TrackTemplate(3);
        template.Add([1, 0], 0.5f);

        template.Clear();

        Assert.Equal(0, template.Count);
        Assert.Null(template.Fused);
        Assert.Equal(-1, template.BestQuality);
        Assert.True(template.Admits(0));
    }

    [Fact]
    public void A_track_embeds_a_face_only_when_it_would_improve_its_template()
    {
        var options = new TrackingOptions { TemplateFrames = 2, QualityImprovement = 0.05f, ReembedEveryFrames = 4 };
        var tracker = new FaceTracker(options);
        var track = tracker.Update([new FaceBox(0, 0, 40, 40)]).Assigned[0];

        Assert.True(track.WantsEmbedding(0.1f, options)); // nothing yet
        track.Template.Add([1, 0], 0.5f);
        Assert.False(track.WantsEmbedding(0.51f, options)); // not 5 % better, and only one frame since
        Assert.True(track.WantsEmbedding(0.53f, options)); // 5 % better
        track.FramesSinceEmbedding = 3;
        Assert.True(track.WantsEmbedding(0.3f, options)); // the 4th frame, and there is room for a second face
        track.Template.Add([0, 1], 0.4f);
        Assert.False(track.WantsEmbedding(0.3f, options)); // the 4th frame, but worse than both kept faces
        Assert.True(track.WantsEmbedding(0.45f, options)); // ... better than the worst kept one

        track.Forget();
        Assert.Equal(0, track.Template.Count);
    }

    [Fact]
    public void The_template_size_is_validated()
    {
        var bad = Assert.Throws<InvalidRequestException>(() => new TrackingOptions { TemplateFrames = 0 }.Validate());
        Assert.Contains("Tracking:TemplateFrames", bad.Message, StringComparison.Ordinal);
    }
}
