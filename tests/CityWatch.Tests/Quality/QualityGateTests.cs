using CityWatch.Vision;

namespace CityWatch.Tests.Quality;

public sealed class QualityGateTests
{
    private static readonly QualityOptions Options = new();

    [Fact]
    public void A_frontal_face_has_no_roll_yaw_or_pitch()
    {
        var (roll, yaw, pitch) = QualityGate.Pose(Face(60, 0).Landmarks);

        Assert.InRange(roll, -0.5f, 0.5f);
        Assert.InRange(yaw, -1f, 1f);
        Assert.InRange(pitch, -1f, 1f);
    }

    [Fact]
    public void Rotated_landmarks_give_their_roll_and_are_rejected_beyond_the_limit()
    {
        var image = Textured(400, 400, seed: 1);
        var tilted = Face(60, 50);
        var slight = Face(60, 10);

        var tiltedQuality = QualityGate.Measure(image, tilted, Options);
        var slightQuality = QualityGate.Measure(image, slight, Options);

        Assert.InRange(tiltedQuality.RollDegrees, 49.5f, 50.5f);
        Assert.Equal(QualityRejection.Roll, tiltedQuality.Rejection);
        Assert.InRange(slightQuality.RollDegrees, 9.5f, 10.5f);
        Assert.Equal(QualityRejection.None, slightQuality.Rejection);
        // Roll alone does not read as yaw or pitch.
        Assert.InRange(tiltedQuality.YawDegrees, -1f, 1f);
        Assert.InRange(tiltedQuality.PitchDegrees, -1f, 1f);
    }

    [Fact]
    public void A_nose_beside_an_eye_reads_as_a_turned_head_and_is_rejected()
    {
        var frontal = Face(60, 0);
        var nose = frontal.Nose;
        var turned = frontal with { Landmarks = [frontal.LeftEye, frontal.RightEye, nose with { X = frontal.RightEye.X + 30 }, frontal.LeftMouth, frontal.RightMouth] };
        var quarter = frontal with { Landmarks = [frontal.LeftEye, frontal.RightEye, nose with { X = nose.X + 8 }, frontal.LeftMouth, frontal.RightMouth] };

        var turnedQuality = QualityGate.Measure(Textured(400, 400, 2), turned, Options);
        var quarterQuality = QualityGate.Measure(Textured(400, 400, 2), quarter, Options);

        Assert.True(turnedQuality.YawDegrees > 60, $"yaw {turnedQuality.YawDegrees}");
        Assert.Equal(QualityRejection.Yaw, turnedQuality.Rejection);
        Assert.InRange(quarterQuality.YawDegrees, 10, 40);
        Assert.True(quarterQuality.Accepted);
        Assert.True(quarterQuality.Score < QualityGate.Measure(Textured(400, 400, 2), frontal, Options).Score);
    }

    [Fact]
    public void A_nose_down_at_the_mouth_reads_as_a_tipped_head_and_is_rejected()
    {
        var frontal = Face(60, 0);
        var mouthY = (frontal.LeftMouth.Y + frontal.RightMouth.Y) / 2;
        var tipped = frontal with { Landmarks = [frontal.LeftEye, frontal.RightEye, frontal.Nose with { Y = mouthY - 2 }, frontal.LeftMouth, frontal.RightMouth] };

        var quality = QualityGate.Measure(Textured(400, 400, 3), tipped, Options);

        Assert.True(quality.PitchDegrees > 40, $"pitch {quality.PitchDegrees}");
        Assert.Equal(QualityRejection.Pitch, quality.Rejection);
    }

    [Fact]
    public void The_default_size_bar_is_12_px_where_recognition_stops_holding_on_degraded_sets()
    {
        // docs/evaluation.md ("Small faces"): below 12 px between the eyes, degraded pairs separate poorly and
        // impostors pass the operating threshold; from 12 px they separate (AUC >= 0.99).
        Assert.Equal(12, new QualityOptions().MinInterEyeDistance);
        var image = Textured(400, 400, 5);

        var below = QualityGate.Measure(image, Face(11.5f, 0), Options);
        var at = QualityGate.Measure(image, Face(12.5f, 0), Options);

        Assert.Equal(QualityRejection.TooSmall, below.Rejection);
        Assert.NotEqual(QualityRejection.TooSmall, at.Rejection);
    }

    [Fact]
    public void A_tiny_face_is_rejected_as_too_small_before_anything_else_is_measured()
    {
        var tiny = Face(6, 0) with { Score = 0.1f };

        var quality = QualityGate.Measure(Textured(400, 400, 4), tiny, Options);

        Assert.Equal(QualityRejection.TooSmall, quality.Rejection);
        Assert.Null(quality.Sharpness);
    }

    [Fact]
    public void A_weak_detection_is_rejected_for_its_score()
    {
        var weak = Face(60, 0) with { Score = 0.5f };

        Assert.Equal(QualityRejection.LowDetectorScore, QualityGate.Measure(Textured(400, 400, 5), weak, Options with { MinDetectorScore = 0.7f }).Rejection);
    }

    [Fact]
    public void A_blurred_face_is_less_sharp_than_the_same_face_sharp_and_is_rejected()
    {
        var sharp = Textured(400, 400, seed: 6);
        var blurred = BoxBlur(BoxBlur(BoxBlur(sharp, 3), 3), 3);
        var face = Face(60, 0);

        var sharpQuality = QualityGate.Measure(sharp, face, Options);
        var blurredQuality = QualityGate.Measure(blurred, face, Options);

        Assert.True(sharpQuality.Accepted, $"sharpness {sharpQuality.Sharpness}");
        Assert.Equal(QualityRejection.Blurred, blurredQuality.Rejection);
        Assert.True(blurredQuality.Sharpness < sharpQuality.Sharpness / 10, $"{blurredQuality.Sharpness} vs {sharpQuality.Sharpness}");
        Assert.True(blurredQuality.Score < sharpQuality.Score);
    }

    [Fact]
    public void A_flat_grey_chip_has_zero_sharpness()
    {
        var chip = BgrImage.Blank(112, 112);
        Array.Fill(chip.Pixels, (byte)128);

        Assert.Equal(0, QualityGate.Sharpness(chip), 3);
    }

    [Fact]
    public void Rejections_are_counted_by_reason_from_many_threads()
    {
        var gate = new QualityGate(Options);
        var image = Textured(400, 400, seed: 7);
        var good = Face(60, 0);
        var tiny = Face(6, 0);
        var tilted = Face(60, 60);

        Parallel.For(0, 300, i => gate.Assess(image, (i % 3) switch { 0 => good, 1 => tiny, _ => tilted }));

        var stats = gate.Stats();
        Assert.Equal(300, stats.Assessed);
        Assert.Equal(100, stats.Accepted);
        Assert.Equal(100, stats.Rejected[QualityRejection.TooSmall]);
        Assert.Equal(100, stats.Rejected[QualityRejection.Roll]);
        Assert.Equal(0, stats.Rejected[QualityRejection.Blurred]);
        Assert.Equal(200, stats.RejectedTotal);
    }

    [Fact]
    public void A_bad_threshold_is_refused_with_the_setting_named()
    {
        var error = Assert.Throws<InvalidRequestException>(() => new QualityGate(Options with { MaxYawDegrees = 120 }));

        Assert.Contains("MaxYawDegrees", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_gate_switched_off_lets_every_face_through()
    {
        var image = BoxBlur(Textured(400, 400, 8), 5);
        foreach (var face in new[] { Face(3, 0), Face(60, 80) with { Score = 0.1f } })
        {
            Assert.True(QualityGate.Measure(image, face, QualityOptions.Off).Accepted);
        }
    }

    // The ArcFace template scaled to eyes `eyes` pixels apart, turned by `rollDegrees` about the image centre (200, 200).
    private static DetectedFace Face(float eyes, float rollDegrees)
    {
        var template = FaceAligner.ArcFaceTemplate;
        var scale = eyes / template[0].DistanceTo(template[1]);
        var angle = rollDegrees * MathF.PI / 180;
        var points = template.Select(p =>
        {
            var x = (p.X - 56) * scale;
            var y = (p.Y - 72) * scale;
            return new Point2(200 + (x * MathF.Cos(angle)) - (y * MathF.Sin(angle)), 200 + (x * MathF.Sin(angle)) + (y * MathF.Cos(angle)));
        }).ToArray();
        var half = 56 * scale;
        return new DetectedFace(new FaceBox(200 - half, 200 - half, 2 * half, 2 * half), 0.9f, points);
    }

    // Random blobs of 2x2 pixels: plenty of fine detail.
    private static BgrImage Textured(int width, int height, int seed)
    {
        var random = new Random(seed);
        var image = BgrImage.Blank(width, height);
        for (var y = 0; y < height; y += 2)
        {
            for (var x = 0; x < width; x += 2)
            {
                var value = (byte)random.Next(256);
                for (var dy = 0; dy < 2; dy++)
                {
                    for (var dx = 0; dx < 2; dx++)
                    {
                        var p = (((y + dy) * width) + x + dx) * 3;
                        image.Pixels[p] = image.Pixels[p + 1] = image.Pixels[p + 2] = value;
                    }
                }
            }
        }

        return image;
    }

    private static BgrImage BoxBlur(BgrImage image, int radius)
    {
        var output = BgrImage.Blank(image.Width, image.Height);
        for (var y = 0; y < image.Height; y++)
        {
            for (var x = 0; x < image.Width; x++)
            {
                for (var c = 0; c < 3; c++)
                {
                    int sum = 0, n = 0;
                    for (var dy = -radius; dy <= radius; dy++)
                    {
                        for (var dx = -radius; dx <= radius; dx++)
                        {
                            var xx = Math.Clamp(x + dx, 0, image.Width - 1);
                            var yy = Math.Clamp(y + dy, 0, image.Height - 1);
                            sum += image.Pixels[(((yy * image.Width) + xx) * 3) + c];
                            n++;
                        }
                    }

                    output.Pixels[(((y * image.Width) + x) * 3) + c] = (byte)(sum / n);
                }
            }
        }

        return output;
    }
}
