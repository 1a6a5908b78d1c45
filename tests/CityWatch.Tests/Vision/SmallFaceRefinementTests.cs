using CityWatch.Evaluation;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Xunit.Abstractions;

namespace CityWatch.Tests.Vision;

/// <summary>
/// Small-face refinement (<see cref="VisionOptions.SmallFaceRefine"/>): real photos shrunk to CCTV size, whose
/// full-resolution landmarks serve as the truth.
/// </summary>
public sealed class SmallFaceRefinementTests(ITestOutputHelper output) : IDisposable
{
    private const float Refine = 24;

    private readonly YuNetDetector plain = Detector(0);
    private readonly YuNetDetector refining = Detector(Refine);

    [Fact]
    public void Refined_landmarks_of_shrunk_faces_are_closer_to_the_full_resolution_ones()
    {
        double plainError = 0, refinedError = 0;
        var faces = 0;
        foreach (var name in new[] { "obama.jpg", "biden.jpg", "lin-manuel-miranda.png", "obama2.jpg" })
        {
            var original = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", name));
            var truth = plain.Detect(original).MaxBy(f => f.Box.Area);
            Assert.NotNull(truth);
            // Shrunk so that the eyes are about 8 px apart, blurred and compressed as a city camera would.
            var width = (int)MathF.Round(original.Width * 8 / truth.InterEyeDistance);
            var small = new Degradation(width, 0.7f, 30, 1).Apply(original);
            var before = plain.Detect(small).MaxBy(f => f.Box.Area);
            var runs = refining.Runs;
            var refinements = refining.Refinements;
            var after = refining.Detect(small).MaxBy(f => f.Box.Area);
            Assert.NotNull(before);
            Assert.NotNull(after);
            Assert.Equal(1, refining.Refinements - refinements);
            Assert.Equal(2, refining.Runs - runs);
            Assert.Equal(before.Box, after.Box);

            var e0 = Error(truth, before, original, small);
            var e1 = Error(truth, after, original, small);
            output.WriteLine($"{name}: {width} px wide, eyes {before.InterEyeDistance:0.0} px; landmark error (share of the eye distance) {e0:0.000} plain, {e1:0.000} refined");
            plainError += e0;
            refinedError += e1;
            faces++;
        }

        output.WriteLine($"mean: {plainError / faces:0.000} plain, {refinedError / faces:0.000} refined");
        Assert.True(refinedError < plainError, $"refined {refinedError / faces:0.000} vs plain {plainError / faces:0.000}");
    }

    [Fact]
    public void A_large_face_is_not_refined_and_keeps_its_landmarks()
    {
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama-480p.jpg"));
        var runs = refining.Runs;

        var refined = Assert.Single(refining.Detect(image));
        var unrefined = Assert.Single(plain.Detect(image));

        Assert.True(refined.InterEyeDistance > Refine);
        Assert.Equal(1, refining.Runs - runs);
        Assert.Equal(0, refining.Refinements);
        Assert.Equal(unrefined.Landmarks, refined.Landmarks);
    }

    [Fact]
    public void A_bad_refinement_setting_is_refused_with_its_name()
    {
        var bad = VisionFixture.Options with { SmallFaceRefine = -1 };

        var error = Assert.Throws<InvalidRequestException>(bad.Validate);

        Assert.Contains("SmallFaceRefine", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        plain.Dispose();
        refining.Dispose();
    }

    // Mean distance of the five landmarks from the truth, in the original's pixels (the small image's
    // pixel centres mapped back), as a share of the true eye distance.
    private static double Error(DetectedFace truth, DetectedFace found, BgrImage original, BgrImage small)
    {
        var kx = original.Width / (float)small.Width;
        var ky = original.Height / (float)small.Height;
        double sum = 0;
        for (var i = 0; i < 5; i++)
        {
            var p = new Point2(((found.Landmarks[i].X + 0.5f) * kx) - 0.5f, ((found.Landmarks[i].Y + 0.5f) * ky) - 0.5f);
            sum += p.DistanceTo(truth.Landmarks[i]);
        }

        return sum / 5 / truth.InterEyeDistance;
    }

    private static YuNetDetector Detector(float refine) => new(
        ModelStore.Verified(TestPaths.Models, ModelCatalog.YuNetDynamic),
        VisionFixture.Options with { SmallFaceRefine = refine });
}

public sealed class SmallFaceCropTests
{
    [Fact]
    public void A_crop_reaching_past_the_frame_is_black_there_and_the_frames_pixels_elsewhere()
    {
        var frame = new BgrImage(4, 3, Enumerable.Range(0, 36).Select(i => (byte)(i + 1)).ToArray());

        var crop = YuNetDetector.Crop(frame, new PixelRect(-1, 1, 3, 3));

        Assert.Equal((3, 3), (crop.Width, crop.Height));
        // Row 0 of the crop is frame row 1 from x = -1: black, then frame pixels (0,1) and (1,1).
        Assert.Equal(new byte[] { 0, 0, 0, 13, 14, 15, 16, 17, 18 }, crop.Pixels[..9]);
        Assert.Equal(new byte[] { 0, 0, 0, 25, 26, 27, 28, 29, 30 }, crop.Pixels[9..18]);
        // Row 2 of the crop is frame row 3, past the bottom: all black.
        Assert.All(crop.Pixels[18..], b => Assert.Equal(0, b));
    }
}
