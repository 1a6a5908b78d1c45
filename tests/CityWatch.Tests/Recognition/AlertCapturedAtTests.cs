using CityWatch.Alerts;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Tests.Support;
using CityWatch.Tests.Vision;
using CityWatch.Vision;

namespace CityWatch.Tests.Recognition;

/// <summary>An alert from a camera frame records when that frame was captured, so the time to the operator can be read from it.</summary>
[Collection(VisionCollection.Name)]
public sealed class AlertCapturedAtTests
{
    [Fact]
    public async Task A_camera_alert_carries_the_capture_time_of_the_frame_that_raised_it()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("CAM-L");
        var watchlist = city.Watchlists.Create(new WatchlistInput("sought", "test"), "test");
        var basis = await city.ActiveBasisAsync([camera.Id], [watchlist.Id]);
        using var pipeline = new FacePipeline(VisionFixture.Options, city.Time);
        var photo = TestPaths.Faces("ageitgey", "examples", "obama.jpg");
        await new Enrolment(city.Watchlists, city.LegalBases, city.Policy, pipeline, city.Audit, city.Time).EnrolAsync(
            watchlist.Id, new EntryInput("obama", "test", "shared test photo"), [new EnrolmentPhoto("obama.jpg", await File.ReadAllBytesAsync(photo))], "test");
        await city.DeployAsync(basis.Id, [camera.Id], [watchlist.Id]);
        var alerts = new AlertStore(city.Database, Path.Combine(city.Directory, "evidence"));
        var analyzer = new FrameAnalyzer(
            city.Policy, pipeline, city.Watchlists, new WatchlistIndex(city.Watchlists, city.Time), alerts, new AlertStatistics(city.Database), city.Audit, city.Time, new RecognitionOptions());
        // Captured a little before the analysis ran, as ingest hands frames on.
        var captured = city.Time.GetUtcNow() - TimeSpan.FromMilliseconds(750);

        var outcome = await analyzer.AnalyzeAsync(new CameraRecognitionState(camera.Id), ImageCodec.DecodeFile(photo), captured, CancellationToken.None);

        var raised = Assert.Single(outcome.Alerts);
        Assert.Equal(captured, raised.CapturedAt);
        // Stored, not only handed back: the API reads it from the row.
        var stored = alerts.Get(raised.Id);
        Assert.Equal(captured, stored.CapturedAt);
        Assert.Equal(city.Time.GetUtcNow(), stored.At);
    }

    [Fact]
    public void An_alert_from_supplied_media_has_no_capture_time()
    {
        using var city = new TestCity();
        var alerts = new AlertStore(city.Database, Path.Combine(city.Directory, "evidence"));

        var alert = alerts.Add(new NewAlert(null, 1, 1, "someone", 1, Guid.NewGuid(), city.Time.GetUtcNow(), 0.6f, 0.5f, new FaceBox(1, 1, 10, 10), [1, 2, 3]));

        Assert.Null(alerts.Get(alert.Id).CapturedAt);
    }
}
