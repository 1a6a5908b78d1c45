using CityWatch.Ingest;
using CityWatch.Vision;

namespace CityWatch.Tests.Ingest;

public class MotionGateTests
{
    private static readonly TimeSpan Half = TimeSpan.FromSeconds(0.5);

    [Fact]
    public void Identical_frames_are_gated_after_the_first()
    {
        var gate = new MotionGate(threshold: 1.5, maxSkip: TimeSpan.FromSeconds(10));
        var frame = Noise(640, 360, seed: 1);

        Assert.True(gate.ShouldAnalyse(frame, TimeSpan.Zero));
        Assert.False(gate.ShouldAnalyse(frame, Half));
        Assert.False(gate.ShouldAnalyse(Copy(frame), 2 * Half));
        Assert.Equal((1L, 2L, 0.0), (gate.Passed, gate.Skipped, gate.LastDifference));
    }

    [Fact]
    public void Sensor_noise_below_the_threshold_is_gated()
    {
        var gate = new MotionGate(threshold: 1.5, maxSkip: TimeSpan.FromSeconds(10));
        var frame = Noise(640, 360, seed: 1);
        var noisy = Copy(frame);
        var random = new Random(2);
        for (var i = 0; i < noisy.Pixels.Length; i++)
        {
            noisy.Pixels[i] = (byte)Math.Clamp(noisy.Pixels[i] + random.Next(-3, 4), 0, 255);
        }

        gate.ShouldAnalyse(frame, TimeSpan.Zero);

        Assert.False(gate.ShouldAnalyse(noisy, Half));
        Assert.InRange(gate.LastDifference, 0, 1.5);
    }

    [Fact]
    public void A_changed_frame_passes_and_becomes_the_reference()
    {
        var gate = new MotionGate(threshold: 1.5, maxSkip: TimeSpan.FromSeconds(10));
        var frame = Noise(640, 360, seed: 1);
        var moved = Copy(frame);
        // Someone walks in: a bright block over a sixth of the picture.
        for (var y = 100; y < 260; y++)
        {
            moved.Pixels.AsSpan((y * moved.Stride) + (200 * 3), 200 * 3).Fill(250);
        }

        gate.ShouldAnalyse(frame, TimeSpan.Zero);

        Assert.True(gate.ShouldAnalyse(moved, Half));
        Assert.True(gate.LastDifference > 1.5, $"difference {gate.LastDifference}");
        // The next frame is compared with the changed one, not the first.
        Assert.False(gate.ShouldAnalyse(Copy(moved), 2 * Half));
        Assert.True(gate.ShouldAnalyse(frame, 3 * Half));
    }

    [Fact]
    public void A_small_person_walking_through_a_wide_view_passes()
    {
        var gate = new MotionGate(threshold: 1.5, maxSkip: TimeSpan.FromSeconds(10));
        var frame = Noise(640, 360, seed: 1);
        var walker = Copy(frame);
        // A distant figure 24 x 60 pixels (under 1 % of the picture), much darker than the scene behind it.
        for (var y = 200; y < 260; y++)
        {
            walker.Pixels.AsSpan((y * walker.Stride) + (300 * 3), 24 * 3).Fill(5);
        }

        gate.ShouldAnalyse(frame, TimeSpan.Zero);

        Assert.True(gate.ShouldAnalyse(walker, Half));
        Assert.True(gate.LastDifference < 1.5, $"the mean alone would have gated it: {gate.LastDifference}");
    }

    [Fact]
    public void A_still_scene_is_analysed_again_once_the_longest_skip_has_gone_by()
    {
        var gate = new MotionGate(threshold: 1.5, maxSkip: TimeSpan.FromSeconds(2));
        var frame = Noise(320, 180, seed: 3);

        // 2 frames a second for 10 s of a picture that never changes.
        var analysedAt = Enumerable.Range(0, 21).Where(i => gate.ShouldAnalyse(frame, i * Half)).Select(i => i * Half.TotalSeconds).ToList();

        Assert.Equal([0.0, 2.0, 4.0, 6.0, 8.0, 10.0], analysedAt);
        Assert.Equal((6L, 15L), (gate.Passed, gate.Skipped));
    }

    [Fact]
    public void Threshold_zero_lets_every_frame_through()
    {
        var gate = new MotionGate(threshold: 0, maxSkip: TimeSpan.FromSeconds(2));
        var frame = Noise(64, 36, seed: 4);

        Assert.All(Enumerable.Range(0, 5), i => Assert.True(gate.ShouldAnalyse(frame, i * Half)));
        Assert.Equal(0, gate.Skipped);
    }

    [Fact]
    public void Defaults_come_from_the_ingest_options()
    {
        var gate = new MotionGate(new IngestOptions());
        var frame = Noise(160, 90, seed: 5);

        Assert.True(gate.ShouldAnalyse(frame, TimeSpan.Zero));
        Assert.False(gate.ShouldAnalyse(frame, Half));
        Assert.True(gate.ShouldAnalyse(frame, new IngestOptions().MotionMaxSkip));
    }

    [Fact]
    public void Bad_gate_options_are_refused()
    {
        Assert.Throws<InvalidRequestException>(() => new IngestOptions { MotionThreshold = -1 }.Validate());
        Assert.Throws<InvalidRequestException>(() => new IngestOptions { MotionMaxSkip = TimeSpan.FromSeconds(-1) }.Validate());
        Assert.Throws<InvalidRequestException>(() => new IngestOptions { Decode = (DecodeMode)7 }.Validate());
    }

    /// <summary>A picture with texture at every scale: smooth gradients plus per-pixel noise.</summary>
    private static BgrImage Noise(int width, int height, int seed)
    {
        var random = new Random(seed);
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = ((y * width) + x) * 3;
                pixels[i] = (byte)((x * 255 / width) ^ random.Next(32));
                pixels[i + 1] = (byte)((y * 255 / height) ^ random.Next(32));
                pixels[i + 2] = (byte)random.Next(256);
            }
        }

        return new BgrImage(width, height, pixels);
    }

    private static BgrImage Copy(BgrImage image) => new(image.Width, image.Height, image.Pixels.ToArray());
}
