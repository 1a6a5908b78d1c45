using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Policy;
using CityWatch.Tests.Governance;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Cameras;

/// <summary>
/// Issue 9, item 7: a camera under recognition cannot be quietly repointed. A change of stream, site or
/// face-recognition flag is recorded (a hash of the stream, never its URL) and stops every running
/// deployment the camera is in, in the same transaction; stream credentials never leave the API.
/// </summary>
public sealed class CameraGovernanceTests
{
    private const string Password = "s3cret-pa55";
    private const string Stream = $"rtsp://viewer:{Password}@127.0.0.1:8554/square";

    [Fact]
    public async Task Repointing_a_camera_in_a_running_deployment_stops_it_and_live_grants_are_refused_until_a_new_deployment()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("CAM-1", Stream);
        var watchlist = await server.AddWatchlistAsync("sought");
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        var deployment = Assert.Single(await DeploymentsAsync(server));
        Assert.True((await server.CameraPathAsync(camera.Id)).IsGranted);
        (await server.Admin.PostAsJsonAsync("/api/sites", new SiteInput("ELSEWHERE", "Another place", 44.9, 20.5, "Test city"), ApiCalls.Json)).EnsureSuccessStatusCode();

        // The administrator points the camera at another stream on another site.
        var repointed = await ApiCalls.ReadAsync<CameraView>(await server.Admin.PutAsJsonAsync(
            $"/api/cameras/{camera.Id}",
            Input(camera, "ELSEWHERE", $"rtsp://viewer:{Password}@10.9.9.9:554/private-yard"),
            ApiCalls.Json));

        var stopped = Assert.Single(await DeploymentsAsync(server));
        Assert.Equal(deployment.Id, stopped.Id);
        Assert.False(stopped.Running);
        Assert.Equal($"stopped: camera {camera.Id} changed", stopped.StopReason);
        var live = await server.CameraPathAsync(camera.Id);
        Assert.False(live.IsGranted);
        Assert.Contains($"no deployment is running on camera {camera.Id}", live.RefusalReason, StringComparison.Ordinal);
        Assert.Contains(server.Logged(AuditActions.PolicyRefusal), r => r.Outcome == live.RefusalReason);

        // The change is in the log: old and new site, old and new stream hash; neither URL nor password.
        var change = server.Logged(AuditActions.CameraChange).Single(c => c.Outcome == "changed");
        Assert.Equal("admin", change.Actor);
        Assert.Contains($"\"oldSite\":\"{camera.SiteId}\"", change.Body, StringComparison.Ordinal);
        Assert.Contains($"\"newSite\":\"{repointed.SiteId}\"", change.Body, StringComparison.Ordinal);
        Assert.Contains($"\"oldStream\":\"{StreamCredentials.Fingerprint(Stream)}\"", change.Body, StringComparison.Ordinal);
        Assert.Contains($"\"newStream\":\"{StreamCredentials.Fingerprint("rtsp://10.9.9.9:554/private-yard")}\"", change.Body, StringComparison.Ordinal);
        foreach (var secret in new[] { Password, "viewer", "10.9.9.9", "private-yard", "127.0.0.1" })
        {
            Assert.DoesNotContain(secret, change.Body, StringComparison.Ordinal);
        }

        // The stop is recorded right behind the change: the same transaction staged both.
        var stop = Assert.Single(server.Logged(GovernanceActions.DeploymentStop));
        Assert.Equal(change.Index + 1, stop.Index);
        Assert.Equal($"stopped: camera {camera.Id} changed", stop.Outcome);
        Assert.Equal(basis.Id, stop.LegalBasisId);

        // Recognition resumes only under a new deployment of the camera as it now is.
        await server.DeployAsync(basis.Id, [camera.Id], [watchlist.Id]);
        Assert.True((await server.CameraPathAsync(camera.Id)).IsGranted);
    }

    [Fact]
    public async Task An_import_that_turns_face_recognition_off_and_on_again_stops_the_deployment_in_the_same_transaction()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("CAM-1", Stream);
        var watchlist = await server.AddWatchlistAsync("sought");
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);

        using var csv = new StringContent(
            "site_code,site_name,latitude,longitude,camera_code,camera_name,owner,purpose,stream_url,face_recognition_allowed\n" +
            "S-CAM-1,Test square,44.8,20.4,CAM-1,Camera CAM-1,Test city,test,rtsp://127.0.0.1:8554/square,false\n",
            System.Text.Encoding.UTF8,
            "text/csv");
        using var imported = await server.Admin.PostAsync("/api/cameras/import", csv);
        var body = await imported.Content.ReadAsStringAsync();

        imported.EnsureSuccessStatusCode();
        Assert.DoesNotContain(Password, body, StringComparison.Ordinal);
        Assert.False(Assert.Single(await DeploymentsAsync(server)).Running);
        Assert.False((await server.CameraPathAsync(camera.Id)).IsGranted);
        var changes = server.Logged(AuditActions.CameraChange);
        Assert.Contains(changes, c => c.Outcome == "imported" && c.Body.Contains("\"camerasUpdated\":\"1\"", StringComparison.Ordinal));
        var change = changes.Single(c => c.Outcome == "changed");
        Assert.Contains("\"oldFaceRecognition\":\"true\"", change.Body, StringComparison.Ordinal);
        Assert.Contains("\"newFaceRecognition\":\"false\"", change.Body, StringComparison.Ordinal);
        Assert.Equal(change.Index + 1, Assert.Single(server.Logged(GovernanceActions.DeploymentStop)).Index);
    }

    [Fact]
    public async Task Deleting_a_deployed_camera_stops_its_deployment_and_is_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("CAM-1", Stream);
        var watchlist = await server.AddWatchlistAsync("sought");
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);

        (await server.Admin.DeleteAsync($"/api/cameras/{camera.Id}")).EnsureSuccessStatusCode();

        Assert.False(Assert.Single(await DeploymentsAsync(server)).Running);
        Assert.Contains(server.Logged(AuditActions.CameraChange), c => c.Outcome == "deleted" && c.Body.Contains($"\"camera\":\"{camera.Id}\"", StringComparison.Ordinal));
        Assert.Contains(server.Logged(GovernanceActions.DeploymentStop), s => s.Outcome == $"stopped: camera {camera.Id} changed");
    }

    [Fact]
    public async Task Stream_credentials_are_write_only_and_writing_back_what_was_read_keeps_them()
    {
        await using var server = await RunningServer.StartAsync();
        using var site = await server.Admin.PostAsJsonAsync("/api/sites", new SiteInput("S1", "Square", 44.8, 20.4, "City"), ApiCalls.Json);
        using var created = await server.Admin.PostAsJsonAsync("/api/cameras", new CameraInput("C1", "S1", "North", "City", "order", Stream, true), ApiCalls.Json);
        var createdBody = await created.Content.ReadAsStringAsync();
        created.EnsureSuccessStatusCode();
        var view = await ApiCalls.ReadAsync<CameraView>(await server.Operator.GetAsync("/api/cameras/1"));
        var watchlist = await server.AddWatchlistAsync("sought");
        await server.AddActiveBasisAsync([view.Id], [watchlist.Id]);

        // What a client read, written back with only the name changed: the credentials stay, nothing is stopped.
        using var renamed = await server.Admin.PutAsJsonAsync(
            $"/api/cameras/{view.Id}", new CameraInput(view.Code, "S1", "North gate", view.Owner, view.Purpose, view.StreamUrl, true), ApiCalls.Json);
        var renamedBody = await renamed.Content.ReadAsStringAsync();
        renamed.EnsureSuccessStatusCode();

        Assert.Equal("rtsp://127.0.0.1:8554/square", view.StreamUrl);
        Assert.True(view.HasCredentials);
        // Stored sealed (SecretsAtRestTests scans for it), opened only for ingest.
        var cameras = server.Services.GetRequiredService<CameraStore>();
        Assert.True(StreamCredentials.IsSealed(cameras.Get(view.Id).StreamUrl));
        Assert.Equal(Stream, cameras.IngestUrl(cameras.Get(view.Id)));
        Assert.True(Assert.Single(await DeploymentsAsync(server)).Running);
        Assert.Contains(server.Logged(AuditActions.CameraChange), c => c.Outcome == "edited");
        var responses = new[]
        {
            createdBody,
            renamedBody,
            await server.Operator.GetStringAsync("/api/cameras"),
            await server.Operator.GetStringAsync($"/api/cameras/{view.Id}"),
            await server.Admin.GetStringAsync("/api/cameras?limit=500"),
        };
        foreach (var response in responses)
        {
            Assert.DoesNotContain(Password, response, StringComparison.Ordinal);
            Assert.DoesNotContain("viewer", response, StringComparison.Ordinal);
            Assert.Contains("\"hasCredentials\":true", response, StringComparison.Ordinal);
        }

        Assert.All(server.Services.GetRequiredService<AuditTrail>().Read(0, 10_000), e => Assert.DoesNotContain(Password, e.Body, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("rtsp://u:p@host:554/a?x=1", "rtsp://host:554/a?x=1", "u:p")]
    [InlineData("rtsp://host:554/a@b", "rtsp://host:554/a@b", null)]
    [InlineData("http://user@cam.local/mjpeg", "http://cam.local/mjpeg", "user")]
    [InlineData("rtsp://a:b@c@host", "rtsp://host", "a:b@c")]
    [InlineData("file:///videos/clip.mp4", "file:///videos/clip.mp4", null)]
    public void Credentials_are_the_user_information_of_the_url(string url, string stripped, string? userInfo)
    {
        Assert.Equal(stripped, StreamCredentials.Strip(url));
        Assert.Equal(userInfo, StreamCredentials.UserInfo(url));
        Assert.Equal(userInfo is not null, StreamCredentials.HasCredentials(url));
        Assert.Equal("ffmpeg: rtsp://host/a: 401", StreamCredentials.Scrub("ffmpeg: rtsp://u:p@host/a: 401", "rtsp://u:p@host/a"));
    }

    private static CameraInput Input(Camera camera, string site, string stream) =>
        new(camera.Code, site, camera.Name, camera.Owner, camera.Purpose, stream, camera.FaceRecognitionAllowed, camera.AnalysisFps, camera.AnalysisWidth, camera.RetentionDays, camera.Enabled);

    private static async Task<List<Deployment>> DeploymentsAsync(RunningServer server) =>
        (await server.Operator.GetFromJsonAsync<List<Deployment>>("/api/deployments", ApiCalls.Json))!;

    /// <summary>What the API shows of a camera (the server's view type is internal).</summary>
    private sealed record CameraView(long Id, string Code, long SiteId, string Name, string Owner, string Purpose, string? StreamUrl, bool HasCredentials, bool FaceRecognitionAllowed);
}
