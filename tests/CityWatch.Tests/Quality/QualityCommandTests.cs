using System.Text.Json;
using CityWatch.Cli.Evaluation;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Xunit.Abstractions;

namespace CityWatch.Tests.Quality;

public sealed class QualityCommandTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_gate_is_measured_on_the_shared_photos_and_video_under_an_evaluation_grant()
    {
        var report = await QualityCommand.RunAsync(
            [TestPaths.Faces("dlib_johns"), TestPaths.Faces("ageitgey", "identities.csv")],
            [TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4")],
            TestPaths.Models,
            new QualityOptions(),
            CancellationToken.None);
        output.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));

        Assert.Equal(["dlib_johns", "identities.csv", "short_hamilton_clip.mp4"], report.Shares.Select(s => s.Name));
        var johns = report.Separations.Single(s => s is { Name: "dlib_johns", Gate: "off" });
        Assert.Equal(55, johns.Images);
        Assert.True(johns.Genuine + johns.Impostor > 1000);
        Assert.True(johns.Auc > 0.99);
        var video = report.Shares[2];
        Assert.Equal(20, video.Images);
        Assert.True(video.Faces > video.Accepted && video.Accepted > 0);
        Assert.True(video.Rejected["Blurred"] > 0 && video.Rejected["TooSmall"] > 0);
        // Gating never loses the separation it had: the gated pairs are a subset.
        foreach (var gated in report.Separations.Where(s => s.Gate == "on" && s.Auc is not null))
        {
            var ungated = report.Separations.Single(s => s.Name == gated.Name && s.Gate == "off");
            Assert.True(gated.Genuine <= ungated.Genuine && gated.Impostor <= ungated.Impostor);
        }
    }

    [Fact]
    public void A_malformed_identity_csv_is_refused_naming_the_line()
    {
        var folder = TestPaths.NewScratchDirectory();
        var csv = Path.Combine(folder, "set.csv");
        File.WriteAllLines(csv, ["identity,path", "someone", "other,missing.jpg"]);

        var error = Assert.Throws<InvalidRequestException>(() => QualityCommand.LoadSet(csv));

        Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Auc_of_a_hand_computed_case()
    {
        // 3 genuine x 2 impostor = 6 pairs: 0.9 beats both, 0.5 beats 0.4 and ties 0.5, 0.3 beats neither -> 3.5 / 6.
        Assert.Equal(3.5 / 6, QualityCommand.Auc([0.9, 0.5, 0.3], [0.5, 0.4]), 10);
    }
}
