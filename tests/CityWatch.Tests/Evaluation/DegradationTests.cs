using System.Text.Json;
using CityWatch.Evaluation;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Evaluation;

/// <summary>`--degrade width=W,blur=S,jpeg=Q[,upscale=F]`: the same CCTV-like damage to every image, every time.</summary>
public sealed class DegradationTests
{
    private static BgrImage Photo() => ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama.jpg"));

    [Fact]
    public void The_same_image_degraded_twice_gives_the_same_pixels()
    {
        var photo = Photo();
        var degradation = Degradation.Parse("width=200,blur=0.7,jpeg=30,upscale=2");

        var first = degradation.Apply(photo);
        var second = degradation.Apply(Photo());

        Assert.Equal(first.Width, second.Width);
        Assert.Equal(first.Height, second.Height);
        Assert.Equal(first.Pixels, second.Pixels);
    }

    [Fact]
    public void Degradation_downscales_to_the_width_keeping_the_aspect_and_upscales_by_the_factor()
    {
        var photo = Photo();
        Assert.True(photo.Width > 200, "the test photo must be wider than the degraded width");

        var small = Degradation.Parse("width=128,blur=1,jpeg=40").Apply(photo);
        var zoomed = Degradation.Parse("width=128,blur=1,jpeg=40,upscale=2").Apply(photo);

        Assert.Equal(128, small.Width);
        Assert.Equal((int)Math.Round(photo.Height * 128.0 / photo.Width), small.Height);
        Assert.Equal(256, zoomed.Width);
        Assert.Equal(small.Height * 2, zoomed.Height);
    }

    [Fact]
    public void An_image_narrower_than_the_width_is_not_enlarged()
    {
        var chip = ImageCodec.DecodeFile(Directory.GetFiles(Directory.GetDirectories(TestPaths.Faces("dlib_johns")).Order(StringComparer.Ordinal).First(), "*.jpg").Order(StringComparer.Ordinal).First());

        var degraded = Degradation.Parse("width=200,blur=0,jpeg=90").Apply(chip);

        Assert.Equal(chip.Width, degraded.Width);
        Assert.Equal(chip.Height, degraded.Height);
    }

    [Fact]
    public void More_blur_removes_detail_and_lower_jpeg_quality_moves_further_from_the_uncompressed_pixels()
    {
        var photo = Photo();
        var reference = Degradation.Parse("width=200,blur=0,jpeg=100").Apply(photo);

        var sharp = Degradation.Parse("width=200,blur=0,jpeg=95").Apply(photo);
        var blurred = Degradation.Parse("width=200,blur=2,jpeg=95").Apply(photo);
        var coarse = Degradation.Parse("width=200,blur=0,jpeg=10").Apply(photo);

        Assert.True(Detail(blurred) < 0.7 * Detail(sharp), $"detail blurred {Detail(blurred):F2} vs sharp {Detail(sharp):F2}");
        Assert.True(Difference(coarse, reference) > 2 * Difference(sharp, reference), $"q10 {Difference(coarse, reference):F2} vs q95 {Difference(sharp, reference):F2}");
    }

    [Theory]
    [InlineData("")]
    [InlineData("width=200,blur=1")]
    [InlineData("width=200,blur=1,jpeg=0")]
    [InlineData("width=200,blur=1,jpeg=101")]
    [InlineData("width=abc,blur=1,jpeg=40")]
    [InlineData("width=200,blur=-1,jpeg=40")]
    [InlineData("width=200,blur=1,jpeg=40,upscale=0.5")]
    [InlineData("width=200,blur=1,jpeg=40,sharpen=2")]
    [InlineData("width=200,width=100,blur=1,jpeg=40")]
    [InlineData("200,1,40")]
    public void A_bad_spec_is_refused_in_one_line_naming_the_format(string spec)
    {
        var error = Assert.Throws<InvalidRequestException>(() => Degradation.Parse(spec));

        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains("width=W,blur=S,jpeg=Q", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_spec_reads_back_in_canonical_form()
    {
        var degradation = Degradation.Parse("jpeg=30, upscale=2, width=200, blur=0.7");

        Assert.Equal(new Degradation(200, 0.7f, 30, 2), degradation);
        Assert.Equal("width=200,blur=0.7,jpeg=30,upscale=2", degradation.Spec);
        Assert.Equal("w200-b0.7-q30-x2", degradation.FileTag);
    }

    [Fact]
    public async Task Eval_with_a_bad_degrade_spec_says_so_in_one_line_and_exits_non_zero()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "eval", "verify", "--set", TestPaths.Faces("ageitgey", "identities.csv"), "--models", TestPaths.Models, "--degrade", "width=200,blur=1,jpeg=400");

        Assert.NotEqual(0, exit);
        Assert.Equal("", output);
        var error = Assert.Single(errors);
        Assert.StartsWith("error: --degrade", error, StringComparison.Ordinal);
        Assert.Contains("jpeg", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Degraded_eval_names_the_degradation_in_the_report_and_the_chart_files()
    {
        var charts = TestPaths.NewScratchDirectory();
        try
        {
            var (exit, output, errors) = await CliRunner.RunAsync(
                "eval", "verify", "--set", TestPaths.Faces("ageitgey", "identities.csv"), "--models", TestPaths.Models,
                "--degrade", "width=200,blur=0.7,jpeg=30,upscale=2", "--json", "--out", charts);

            Assert.True(exit == 0, string.Join("\n", errors));
            var root = JsonDocument.Parse(output).RootElement;
            Assert.Equal("width=200,blur=0.7,jpeg=30,upscale=2", root.GetProperty("degrade").GetString());
            Assert.Contains("200 px wide", root.GetProperty("degradation").GetString(), StringComparison.Ordinal);
            Assert.Equal(105, root.GetProperty("pairs").GetInt32() + root.GetProperty("pairs_skipped").GetInt32());
            Assert.Equal(3, root.GetProperty("charts").GetArrayLength());
            Assert.All(root.GetProperty("charts").EnumerateArray(), c =>
            {
                Assert.Contains("-w200-b0.7-q30-x2-", Path.GetFileName(c.GetString()), StringComparison.Ordinal);
                Assert.True(new FileInfo(c.GetString()!).Length > 1000);
            });
        }
        finally
        {
            Directory.Delete(charts, recursive: true);
        }
    }

    // Mean absolute difference between horizontal neighbours: what a blur takes away.
    private static double Detail(BgrImage image)
    {
        long sum = 0;
        var p = image.Pixels;
        for (var y = 0; y < image.Height; y++)
        {
            for (var x = 3; x < image.Stride; x++)
            {
                var i = (y * image.Stride) + x;
                sum += Math.Abs(p[i] - p[i - 3]);
            }
        }

        return sum / (double)(image.Height * (image.Stride - 3));
    }

    private static double Difference(BgrImage a, BgrImage b)
    {
        Assert.Equal(a.Pixels.Length, b.Pixels.Length);
        long sum = 0;
        for (var i = 0; i < a.Pixels.Length; i++)
        {
            sum += Math.Abs(a.Pixels[i] - b.Pixels[i]);
        }

        return sum / (double)a.Pixels.Length;
    }
}
