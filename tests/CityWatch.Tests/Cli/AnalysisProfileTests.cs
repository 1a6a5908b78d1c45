using CityWatch.Cli.Bench;

namespace CityWatch.Tests.Cli;

/// <summary>The cost model behind `bench analysis`'s chart: cameras per core from the measured CPU cost of each stage.</summary>
public sealed class AnalysisProfileTests
{
    private static readonly StageProfile Costs = new(
        DecodeCpuMsPerCameraSecond: 10, Detect: new(30, 20), Align: new(2, 1), Embed: new(40, 15), Match: new(5, 4), GalleryEntries: 1000);

    [Fact]
    public void A_frame_without_faces_costs_decode_and_detection_only()
    {
        // 1000 ms over (10 ms of decode + 2 frames x 20 ms of detection).
        Assert.Equal(20, Costs.CamerasPerCore(0), precision: 9);
    }

    [Fact]
    public void Every_face_adds_its_align_embed_and_match_cpu_per_analysed_frame()
    {
        // 1000 / (10 + 2 x (20 + 3 x (1 + 15 + 4))) = 1000 / 170; wall-clock figures play no part.
        Assert.Equal(1000.0 / 170, Costs.CamerasPerCore(3), precision: 9);
        Assert.Equal(1000.0 / 90, Costs.CamerasPerCore(3, fps: 1), precision: 9);
    }

    [Fact]
    public void The_chart_points_fall_with_every_face_and_start_at_zero_faces()
    {
        var points = AnalysisChart.Points(Costs);

        Assert.Equal(Enumerable.Range(0, AnalysisChart.MaxFaces + 1), points.Select(p => p.Faces));
        Assert.All(points.Zip(points.Skip(1)), p => Assert.True(p.Second.CamerasPerCore < p.First.CamerasPerCore));
    }

    [Fact]
    public void Negative_faces_or_no_frames_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Costs.CamerasPerCore(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Costs.CamerasPerCore(1, fps: 0));
    }
}
