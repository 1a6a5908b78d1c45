using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Ingest;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Recognition.Tracking;
using CityWatch.Tests.Support;
using CityWatch.Tests.Vision;
using CityWatch.Vision;

namespace CityWatch.Tests.Tracking;

/// <summary>
/// Tracking on the shared video (short_hamilton_clip.mp4, 10 s) decoded as a camera would see it: 2 frames/s,
/// 640 px wide. Lin-Manuel Miranda is on stage for about 4.5 s; Barack Obama is in the audience in the last
/// 2 s, after a cut.
/// </summary>
[Collection(VisionCollection.Name)]
public sealed class TrackingVideoTests(VisionFixture vision)
{
    private static readonly string Clip = TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4");
    private static readonly IngestOptions CameraLike = new() { AnalysisFps = 2, Width = 640 };

    [Fact]
    public async Task The_tracker_follows_each_person_of_interest_in_the_clip_with_one_track()
    {
        var lin = vision.LargestFace(ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png")))!.Embedding;
        var obama = vision.LargestFace(ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama.jpg")))!.Embedding;
        var options = new TrackingOptions();
        var tracker = new FaceTracker(options);
        var scene = new SceneChange(options.SceneCutDistance);
        var linFrames = new Dictionary<Guid, int>();
        var obamaFrames = new Dictionary<Guid, int>();
        var frames = 0;

        await foreach (var frame in FrameSource.ReadFileAsync(Clip, CameraLike))
        {
            frames++;
            var faces = vision.Pipeline.Detect(vision.Grant, frame.Image);
            var step = tracker.Update(faces.Select(f => f.Box).ToList(), scene.IsCut(frame.Image));
            for (var i = 0; i < faces.Count; i++)
            {
                if (faces[i].InterEyeDistance < 12)
                {
                    continue;
                }

                var embedding = vision.Pipeline.Embed(vision.Grant, frame.Image, faces[i]);
                var id = step.Assigned[i].Id;
                if (FacePipeline.Similarity(embedding, lin) >= 0.45f)
                {
                    linFrames[id] = linFrames.GetValueOrDefault(id) + 1;
                }

                if (FacePipeline.Similarity(embedding, obama) >= 0.40f)
                {
                    obamaFrames[id] = obamaFrames.GetValueOrDefault(id) + 1;
                }
            }
        }

        Assert.Equal(20, frames);
        // One track carries Lin-Manuel Miranda through his shot (9 frames), one carries Obama (4 frames),
        // and no track holds both.
        var linTrack = Assert.Single(linFrames);
        var obamaTrack = Assert.Single(obamaFrames);
        Assert.True(linTrack.Value >= 8, $"Lin-Manuel Miranda's track matched in {linTrack.Value} frames");
        Assert.True(obamaTrack.Value >= 3, $"Obama's track matched in {obamaTrack.Value} frames");
        Assert.NotEqual(linTrack.Key, obamaTrack.Key);
        Assert.InRange(tracker.Created, 4, 15);
    }

    [Fact]
    public async Task A_watchlisted_person_in_the_clip_gives_one_alert_that_is_updated_not_one_per_frame()
    {
        using var city = new TestCity();
        var (analyzer, state, alerts, watchlistId, pipeline) = await CameraAsync(city, "lin-manuel-miranda.png", "lin_manuel_miranda");
        using var _ = pipeline;
        var raised = 0;
        var improved = 0;
        var embedded = 0;
        var searched = 0;
        var faces = 0;

        await foreach (var frame in FrameSource.ReadFileAsync(Clip, CameraLike))
        {
            city.Time.Advance(TimeSpan.FromSeconds(0.5));
            var outcome = await analyzer.AnalyzeAsync(state, frame.Image, CancellationToken.None);
            Assert.True(outcome.Analysed, outcome.Refusal);
            raised += outcome.Alerts.Count;
            improved += outcome.Improved.Count;
            embedded += outcome.Embedded;
            searched += outcome.Searched;
            faces += outcome.Faces;
        }

        analyzer.EndTracks(state);

        var alert = Assert.Single(alerts.List(0, 100).Items);
        Assert.Equal(1, raised);
        Assert.Equal("lin_manuel_miranda", alert.Label);
        Assert.Equal(watchlistId, alert.WatchlistId);
        Assert.NotNull(alert.TrackId);
        Assert.True(alert.Frames >= 8, $"frames {alert.Frames}");
        Assert.True(alert.LastSeen >= alert.At + TimeSpan.FromSeconds(3), $"raised {alert.At:O}, last seen {alert.LastSeen:O}");
        Assert.True(alert.Score >= 0.6f, $"best score {alert.Score}, improved {improved} times");
        // Each improvement replaced the crop: one crop file, the one the row names.
        Assert.Single(Directory.GetFiles(alerts.EvidenceDirectory));
        Assert.NotEmpty(alerts.Crop(alert.Id));
        // A tracked face is embedded when it gets better, not in every frame.
        Assert.True(embedded < faces, $"{embedded} embeddings for {faces} faces");
        // The score is the fused template's; it is matched once per improvement of a track's template, never more
        // often than faces are embedded.
        Assert.InRange(alert.FusedFrames ?? 0, 1, new RecognitionOptions().Tracking.TemplateFrames);
        Assert.InRange(searched, 1, embedded);
        var logged = city.Audit.Read(0, 1000, AuditActions.Alert);
        Assert.Single(logged, r => r.Outcome == "candidate");
        Assert.Equal(improved, logged.Count(r => r.Outcome == "improved"));
        Assert.True(analyzer.Quality.Stats().RejectedTotal > 0);
    }

    [Fact]
    public async Task Tracks_that_match_nothing_leave_no_trace_and_drop_their_embeddings_when_they_end()
    {
        using var city = new TestCity();
        var (analyzer, state, alerts, _, pipeline) = await CameraAsync(city, "biden.jpg", "biden");
        using var _ = pipeline;

        await foreach (var frame in FrameSource.ReadFileAsync(Clip, CameraLike))
        {
            city.Time.Advance(TimeSpan.FromSeconds(0.5));
            await analyzer.AnalyzeAsync(state, frame.Image, CancellationToken.None);
        }

        var alive = state.Tracker!.Active.ToList();
        Assert.Contains(alive, t => t.Template.Fused is not null);
        analyzer.EndTracks(state);

        Assert.Equal(0, alerts.List(0, 10).Total);
        Assert.False(Directory.Exists(alerts.EvidenceDirectory) && Directory.EnumerateFileSystemEntries(alerts.EvidenceDirectory).Any());
        Assert.Empty(state.Tracker.Active);
        Assert.All(alive, t => Assert.True(t.Template.Fused is null && t.Template.Count == 0));
        var stats = analyzer.Quality.Stats();
        Assert.True(stats.Rejected[QualityRejection.Blurred] > 0 && stats.Rejected[QualityRejection.TooSmall] > 0 && stats.Rejected[QualityRejection.Yaw] > 0);
    }

    // A camera in the register, a watchlist with one person, a basis covering both, and the analyzer built from Core's services.
    private static async Task<(FrameAnalyzer Analyzer, CameraRecognitionState State, AlertStore Alerts, long WatchlistId, FacePipeline Pipeline)> CameraAsync(
        TestCity city, string photo, string label)
    {
        var camera = city.AddCamera("CAM-T");
        var watchlists = city.Watchlists;
        var watchlist = watchlists.Create(new WatchlistInput("sought", "test"), "test");
        var basis = await city.ActiveBasisAsync([camera.Id], [watchlist.Id]);
        var pipeline = new FacePipeline(VisionFixture.Options, city.Time);
        var path = TestPaths.Faces("ageitgey", "examples", photo);
        await new Enrolment(watchlists, city.LegalBases, city.Policy, pipeline, city.Audit, city.Time).EnrolAsync(
            watchlist.Id, new EntryInput(label, "test", "shared test photo"), [new EnrolmentPhoto(photo, await File.ReadAllBytesAsync(path))], "test");
        // The enrolment changed the list: it is approved again and deployed as it now stands.
        await city.DeployAsync(basis.Id, [camera.Id], [watchlist.Id]);
        var alerts = new AlertStore(city.Database, Path.Combine(city.Directory, "evidence"));
        // No cooldown: one alert must come from tracking alone.
        var options = new RecognitionOptions { AlertCooldown = TimeSpan.Zero };
        var analyzer = new FrameAnalyzer(city.Policy, pipeline, watchlists, new WatchlistIndex(watchlists, city.Time), alerts, new AlertStatistics(city.Database), city.Audit, city.Time, options);
        return (analyzer, new CameraRecognitionState(camera.Id), alerts, watchlist.Id, pipeline);
    }
}
