using CityWatch.Cameras;
using CityWatch.Recognition;
using CityWatch.Tests.Ingest;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Recognition;

/// <summary>The monitor's once-a-minute sample, against a real RTSP camera on 127.0.0.1 and a dead one.</summary>
public sealed class CameraUptimeSamplingTests
{
    private static readonly string Clip = TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4");

    [Fact]
    public async Task A_sample_records_a_streaming_camera_as_up_and_an_unreachable_one_as_down()
    {
        using var rtsp = await RtspTestServer.StartAsync(Clip);
        await using var server = await RunningServer.StartAsync(runCameras: true);
        var live = await server.AddCameraAsync("LIVE-1", rtsp.Url, faceRecognition: false);
        var dead = await server.AddCameraAsync("DEAD-1", "rtsp://127.0.0.1:9/nothing", faceRecognition: false);
        await RunningServer.WaitUntilAsync(async () => (await server.HealthAsync(live.Id))?.State == "online", TimeSpan.FromSeconds(60), "the live camera online");
        await RunningServer.WaitUntilAsync(async () => (await server.HealthAsync(dead.Id)) is not null, TimeSpan.FromSeconds(60), "the dead camera's worker");

        server.Services.GetRequiredService<CameraMonitor>().Sample();

        var shares = server.Services.GetRequiredService<CameraUptime>().Shares();
        Assert.Equal(1.0, shares[live.Id]);
        Assert.Equal(0.0, shares[dead.Id]);
    }
}
