using CityWatch.Alerts;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Tracking;

public sealed class AlertUpdateTests : IDisposable
{
    private readonly TestCity city = new();
    private readonly AlertStore alerts;

    public AlertUpdateTests() => alerts = new AlertStore(city.Database, Path.Combine(city.Directory, "evidence"));

    public void Dispose() => city.Dispose();

    [Fact]
    public void A_new_tracked_alert_records_its_track_frames_and_last_seen()
    {
        var track = Guid.NewGuid();

        var alert = alerts.Add(New(0.5f, [1, 2, 3], track, frames: 4));

        Assert.Equal(track.ToString("N"), alert.TrackId);
        Assert.Equal(4, alert.Frames);
        Assert.Equal(alert.At, alert.LastSeen);
    }

    [Fact]
    public void Touching_an_alert_moves_last_seen_and_frames_forward_never_back()
    {
        var alert = alerts.Add(New(0.5f, [1]));

        alerts.Touch(alert.Id, alert.At.AddSeconds(30), 60);
        alerts.Touch(alert.Id, alert.At.AddSeconds(10), 20);

        var touched = alerts.Get(alert.Id);
        Assert.Equal(alert.At.AddSeconds(30), touched.LastSeen);
        Assert.Equal(60, touched.Frames);
    }

    [Fact]
    public void Improving_an_alert_replaces_score_box_and_crop_together_and_leaves_one_crop_file()
    {
        var alert = alerts.Add(New(0.5f, [1, 1, 1]));
        var box = new FaceBox(50, 60, 70, 80);

        var improved = alerts.Improve(alert.Id, new AlertImprovement(0.7f, box, [9, 9, 9], alert.At.AddSeconds(5), 10));
        var again = alerts.Improve(alert.Id, new AlertImprovement(0.8f, box, [7, 7], alert.At.AddSeconds(6), 12));

        Assert.Equal(0.7f, improved.Score);
        Assert.Equal(box, improved.Box);
        Assert.Equal(0.8f, again.Score);
        Assert.Equal(12, again.Frames);
        Assert.Equal(alert.At.AddSeconds(6), again.LastSeen);
        Assert.Equal(alert.At, again.At);
        Assert.Equal([7, 7], alerts.Crop(alert.Id));
        Assert.Single(Directory.GetFiles(alerts.EvidenceDirectory));
    }

    [Fact]
    public void Improving_a_missing_alert_is_not_found_and_leaves_no_file()
    {
        Assert.Throws<NotFoundException>(() => alerts.Improve(999, new AlertImprovement(0.9f, new FaceBox(0, 0, 1, 1), [1], city.Time.GetUtcNow(), 1)));
        Assert.Throws<NotFoundException>(() => alerts.Touch(999, city.Time.GetUtcNow(), 1));

        Assert.Empty(Directory.GetFiles(alerts.EvidenceDirectory));
    }

    private NewAlert New(float score, byte[] crop, Guid? track = null, int frames = 1) =>
        new(1, 1, 1, "someone", 1, Guid.NewGuid(), city.Time.GetUtcNow(), score, 0.45f, new FaceBox(10, 10, 40, 40), crop, track, frames);
}
