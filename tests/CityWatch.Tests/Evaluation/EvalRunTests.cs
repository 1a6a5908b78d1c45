using CityWatch.Audit;
using CityWatch.Evaluation;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Microsoft.Extensions.Time.Testing;
using CityWatch.Keys;

namespace CityWatch.Tests.Evaluation;

/// <summary>Evaluation through the real pipeline, under a grant from the real policy engine.</summary>
public sealed class EvalRunTests
{
    private static readonly double[] Fars = [1e-2, 1e-3];

    [Fact]
    public async Task Fr_feature_separates_the_dlib_johns_with_auc_above_0_99()
    {
        using var city = await EvaluationCity.OpenAsync(TimeProvider.System);
        using var pipeline = new FacePipeline(new VisionOptions { ModelDirectory = TestPaths.Models }, TimeProvider.System);

        var report = await EvaluationRun.VerifyAsync(pipeline, city.GrantAsync, VerificationSet.Load(TestPaths.Faces("dlib_johns")), Fars);

        Assert.Empty(report.NoFace);
        Assert.Equal(275, report.Figures.Genuine);
        Assert.Equal(1210, report.Figures.Impostor);
        Assert.True(report.Figures.Auc > 0.99, $"AUC {report.Figures.Auc}");
        Assert.NotNull(report.Figures.TarAtFar[1e-3]);
        var grants = city.Audit.Read(0, 100, AuditActions.PolicyGrant);
        Assert.NotEmpty(grants);
        Assert.All(grants, g => Assert.Equal(EvaluationCity.Actor, g.Actor));
    }

    [Theory]
    [InlineData("fr_feature", 512)]
    [InlineData("faceres", 1024)]
    [InlineData("mobileface", 256)]
    public async Task Every_embedder_runs_on_the_ageitgey_photos_and_ranks_same_above_different(string embedder, int dimensions)
    {
        using var city = await EvaluationCity.OpenAsync(TimeProvider.System);
        using var pipeline = new FacePipeline(new VisionOptions { ModelDirectory = TestPaths.Models, Embedder = embedder }, TimeProvider.System);
        Assert.Equal(dimensions, pipeline.EmbeddingDimensions);

        var report = await EvaluationRun.VerifyAsync(pipeline, city.GrantAsync, VerificationSet.Load(TestPaths.Faces("ageitgey", "identities.csv")), Fars);

        Assert.Equal(embedder, report.Embedder);
        Assert.Equal(14, report.Figures.Genuine);
        Assert.Equal(91, report.Figures.Impostor);
        Assert.True(report.Figures.Auc > 0.95, $"{embedder} AUC {report.Figures.Auc}");
        // 91 impostor pairs cannot resolve a FAR of 1e-2.
        Assert.Null(report.Figures.TarAtFar[1e-2]);
    }

    [Theory]
    [InlineData("yunet")]
    [InlineData("ultraface")]
    public async Task Both_detectors_find_every_hand_labelled_dlib_face(string detector)
    {
        using var city = await EvaluationCity.OpenAsync(TimeProvider.System);
        using var pipeline = new FacePipeline(new VisionOptions { ModelDirectory = TestPaths.Models, Detector = detector, ScoreThreshold = 0.3f }, TimeProvider.System);

        var report = await EvaluationRun.DetectAsync(pipeline, city.GrantAsync, DetectionSet.Load(TestPaths.Faces("dlib_faces")), 0.6f);

        Assert.Equal(43, report.Faces);
        var loose = report.ByIoU.Single(f => f.IoU == 0.3);
        Assert.Equal(1.0, loose.Recall);
        Assert.True(loose.Precision > 0.8, $"precision {loose.Precision}");
        Assert.NotEmpty(loose.Curve);
    }

    [Fact]
    public void UltraFace_landmarks_are_the_arcface_template_placed_in_the_box()
    {
        var box = new FaceBox(100, 50, 224, 224);
        var points = UltraFaceDetector.EstimatedLandmarks(box);
        Assert.Equal(5, points.Length);
        Assert.Equal(100 + (38.2946f * 2), points[0].X, 3);
        Assert.Equal(50 + (51.6963f * 2), points[0].Y, 3);
        Assert.True(points[0].X < points[1].X && points[2].Y > points[0].Y && points[3].Y > points[2].Y);
        Assert.All(points, p => Assert.True(p.X > box.X && p.X < box.Right && p.Y > box.Y && p.Y < box.Bottom));
    }

    [Fact]
    public async Task The_evaluation_grant_is_renewed_before_it_expires()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));
        using var city = await EvaluationCity.OpenAsync(time);
        var first = await city.GrantAsync();
        Assert.Equal(ProcessingPurpose.Evaluation, first.Purpose);
        Assert.Empty(first.WatchlistIds);
        Assert.Same(first, await city.GrantAsync());

        // Renewed once less than half its life is left, so a renewal slowed by a loaded box still lands in time.
        time.Advance((PolicyEngine.GrantLifetime / 2) - TimeSpan.FromSeconds(1));
        Assert.Same(first, await city.GrantAsync());
        time.Advance(TimeSpan.FromSeconds(2));
        var second = await city.GrantAsync();
        Assert.NotSame(first, second);
        Assert.True(second.ExpiresAt > first.ExpiresAt);
    }

    [Fact]
    public async Task Every_evaluation_gets_a_new_scratch_folder_with_only_its_own_basis_and_removes_it()
    {
        var folders = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var city = await EvaluationCity.OpenAsync(TimeProvider.System);
            folders.Add(city.Directory);
            Assert.True(Directory.Exists(city.Directory));
            var basis = Assert.Single(city.LegalBases.List());
            Assert.Equal(EvaluationCity.BasisTitle, basis.Title);
        }

        Assert.NotEqual(folders[0], folders[1]);
        Assert.All(folders, f => Assert.False(Directory.Exists(f)));
    }
}
