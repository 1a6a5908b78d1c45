using CityWatch.Audit;
using CityWatch.Tests.Ingest;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Recognition;

/// <summary>
/// The whole frame path on the real server: a real RTSP camera on 127.0.0.1 streaming the shared video,
/// ffmpeg ingest, the policy engine, YuNet and fr_feature, matching, alerts in SQLite.
/// </summary>
public sealed class CameraRecognitionTests
{
    private static readonly string Clip = TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4");
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_watchlisted_person_on_a_live_rtsp_camera_raises_an_alert_with_score_threshold_and_crop()
    {
        using var rtsp = await RtspTestServer.StartAsync(Clip);
        await using var server = await RunningServer.StartAsync(runCameras: true);
        var camera = await WatchedCameraAsync(server, rtsp.Url, "lin_manuel_miranda", "lin-manuel-miranda.png");

        await AssertAlertWithCropAsync(server, camera.Id, "lin_manuel_miranda", Deadline);
        Assert.NotEmpty(server.Services.GetRequiredService<AuditTrail>().Read(0, 1000, AuditActions.Alert));
    }

    [Fact]
    public async Task Faces_that_match_nothing_leave_no_trace_in_the_database_or_the_data_folder()
    {
        using var rtsp = await RtspTestServer.StartAsync(Clip);
        await using var server = await RunningServer.StartAsync(runCameras: true);
        // Someone who is not in the video.
        var camera = await WatchedCameraAsync(server, rtsp.Url, "biden", "biden.jpg");

        await RunningServer.WaitUntilAsync(async () => (await server.HealthAsync(camera.Id))?.FacesDetected > 20, Deadline, "faces to be analysed");

        Assert.Equal(0, (await server.AlertsAsync()).Total);
        // The data folder holds the database, its journal, the erasure-key file (the enrolment sealed a photo and a
        // template) and the log key, and nothing else: no crops, no embeddings.
        var files = Directory.EnumerateFiles(server.Options.DataDirectory, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetFileName(f))
            .Where(f => !f.StartsWith("citywatch.db", StringComparison.Ordinal) && !f.StartsWith("citywatch" + CityWatch.Data.CityWatchDatabase.ErasureKeysSuffix, StringComparison.Ordinal) && f != "audit-log.key")
            .ToList();
        Assert.Empty(files);
        // The only biometric data in the database is the one enrolled entry: its template and its enrolment photo, both sealed.
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={server.Options.DatabasePath};Mode=ReadOnly");
        connection.Open();
        foreach (var table in connection.Query<string>("SELECT name FROM sqlite_master WHERE type = 'table'"))
        {
            var blobs = connection.ExecuteScalar<long>(BlobCountSql(connection, table));
            var expected = table switch
            {
                "watchlist_entries" => 3, // its (sealed) template, its label salt and its (sealed) enrolment photo
                "evidence_keys" => 2, // the template's and the enrolment photo's own keys, wrapped by the evidence master key
                _ => 0,
            };
            // identity_salt: the key that hashes people's identity references (not biometric).
            // wrapped_keys: the log's signing key and the evidence master key, wrapped by the KEK; no biometric data.
            Assert.True(
                blobs == expected || table.StartsWith("audit_", StringComparison.Ordinal) || table is "identity_salt" or "wrapped_keys",
                $"table {table} holds {blobs} blobs");
        }

        Assert.Equal(1, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM watchlist_entries"));
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM alerts"));
    }

    [Fact]
    public async Task Without_a_legal_basis_a_streaming_camera_is_not_analysed_and_the_refusal_is_logged()
    {
        using var rtsp = await RtspTestServer.StartAsync(Clip);
        await using var server = await RunningServer.StartAsync(runCameras: true);
        await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", rtsp.Url);

        await RunningServer.WaitUntilAsync(async () => (await server.HealthAsync(camera.Id))?.FramesDecoded > 4, Deadline, "frames to arrive");

        var health = (await server.HealthAsync(camera.Id))!;
        Assert.Equal(0, health.FramesAnalysed);
        Assert.Equal(0, health.FacesDetected);
        Assert.Equal("no legal basis is in force", health.PolicyRefusal);
        var refusal = server.Services.GetRequiredService<AuditTrail>().Read(0, 1000, AuditActions.PolicyRefusal);
        Assert.Contains(refusal, r => r.Actor == "camera-pipeline");
    }

    [Fact]
    public async Task A_camera_with_a_dead_url_shows_offline_and_does_not_stop_the_others()
    {
        using var rtsp = await RtspTestServer.StartAsync(Clip);
        await using var server = await RunningServer.StartAsync(runCameras: true);
        var dead = await server.AddCameraAsync("CAM-DEAD", $"rtsp://127.0.0.1:{FreePort()}/nothing", faceRecognition: false);
        var live = await server.AddCameraAsync("CAM-LIVE", rtsp.Url, faceRecognition: false);

        await RunningServer.WaitUntilAsync(
            async () => (await server.HealthAsync(dead.Id))?.Reconnects >= 1 && (await server.HealthAsync(live.Id))?.FramesDecoded > 4,
            Deadline,
            "the dead camera to retry while the live one streams");

        var deadHealth = (await server.HealthAsync(dead.Id))!;
        Assert.Equal("offline", deadHealth.State);
        Assert.False(string.IsNullOrEmpty(deadHealth.LastError));
        Assert.Equal("online", (await server.HealthAsync(live.Id))!.State);
    }

    /// <summary>Waits for the first alert and checks it: on that camera, for that person, scored above its threshold, with a JPEG crop the API opens from the vault.</summary>
    internal static async Task AssertAlertWithCropAsync(RunningServer server, long cameraId, string label, TimeSpan deadline)
    {
        await RunningServer.WaitUntilAsync(async () => (await server.AlertsAsync()).Total > 0, deadline, "an alert");

        var alert = (await server.AlertsAsync()).Items[0];
        Assert.Equal(cameraId, alert.CameraId);
        Assert.Equal(label, alert.Label);
        Assert.True(alert.Score >= alert.Threshold);
        using var crop = await server.Operator.GetAsync($"/api/alerts/{alert.Id}/crop");
        crop.EnsureSuccessStatusCode();
        Assert.Equal("image/jpeg", crop.Content.Headers.ContentType?.MediaType);
        Assert.True((await crop.Content.ReadAsByteArrayAsync()).Length > 100);
    }

    // A camera on the stream, a watchlist with one person enrolled from a shared photo, and a basis
    // (with its deployment) covering both.
    internal static async Task<CityWatch.Cameras.Camera> WatchedCameraAsync(RunningServer server, string streamUrl, string label, string photo)
    {
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", streamUrl);
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        (await server.EnrolAsync(watchlist.Id, label, TestPaths.Faces("ageitgey", "examples", photo))).EnsureSuccessStatusCode();
        return camera;
    }

    private static string BlobCountSql(Microsoft.Data.Sqlite.SqliteConnection connection, string table)
    {
        var columns = connection.Query<string>($"SELECT name FROM pragma_table_info('{table}')").ToList();
        return $"SELECT {string.Join(" + ", columns.Select(c => $"(SELECT COUNT(*) FROM \"{table}\" WHERE typeof(\"{c}\") = 'blob')"))}";
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
