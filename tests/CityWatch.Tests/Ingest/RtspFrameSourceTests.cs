using System.Net;
using System.Net.Sockets;
using CityWatch.Ingest;

namespace CityWatch.Tests.Ingest;

/// <summary>Live ingest against a real RTSP server on 127.0.0.1 (scripts/rtsp-serve.py) and real ffmpeg.</summary>
public class RtspFrameSourceTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Short backoff and timeouts, so that outages are noticed and retried quickly.</summary>
    private static readonly IngestOptions Fast = new()
    {
        AnalysisFps = 4,
        Width = 320,
        BackoffMin = TimeSpan.FromMilliseconds(100),
        BackoffMax = TimeSpan.FromMilliseconds(400),
        StallTimeout = TimeSpan.FromSeconds(5),
        ConnectTimeout = TimeSpan.FromSeconds(3),
    };

    [Fact]
    public async Task Camera_goes_offline_when_the_server_stops_and_online_again_when_it_returns()
    {
        var server = await RtspTestServer.StartAsync(IngestTestData.Clip);
        try
        {
            await using var source = new FrameSource("cam-1", server.Url, Fast);
            var consumer = Drain(source);
            source.Start();

            await WaitFor(source, h => h.State == CameraState.Online && h.FramesDecoded >= 3, "frames from the RTSP server");
            Assert.Equal((320, 180), consumer.LastSize);
            Assert.Null(source.Health.Snapshot().LastError);

            server.Dispose();
            await WaitFor(source, h => h.State == CameraState.Offline && h.LastError is not null, "offline after the server stopped");
            var reconnects = source.Health.Snapshot().Reconnects;
            await WaitFor(source, h => h.Reconnects >= reconnects + 2 && h.State == CameraState.Offline, "more reconnect attempts while the server is down");
            Assert.True(source.Health.Snapshot().ConsecutiveFailures >= 2);

            var framesBefore = source.Health.Snapshot().FramesDecoded;
            server = await RtspTestServer.StartAsync(IngestTestData.Clip, server.Port);
            await WaitFor(source, h => h.State == CameraState.Online && h.FramesDecoded >= framesBefore + 3, "frames again after the server returned");
            Assert.Equal(0, source.Health.Snapshot().ConsecutiveFailures);
            Assert.True(consumer.SequencesIncrease);

            await source.StopAsync();
            Assert.Equal(CameraState.Stopped, source.Health.State);
        }
        finally
        {
            server.Dispose();
        }
    }

    [Fact]
    public async Task Dead_camera_retries_with_an_error_while_another_camera_keeps_streaming()
    {
        using var server = await RtspTestServer.StartAsync(IngestTestData.Clip);
        await using var live = new FrameSource("alive", server.Url, Fast);
        await using var dead = new FrameSource("dead", $"rtsp://127.0.0.1:{ClosedPort()}/camera", Fast);
        _ = Drain(live);
        _ = Drain(dead);
        live.Start();
        dead.Start();

        await WaitFor(dead, h => h.State == CameraState.Offline && h.Reconnects >= 3, "the dead camera to fail and retry");
        var error = dead.Health.Snapshot().LastError!;
        Assert.Contains("Connection refused", error);
        Assert.DoesNotContain('\n', error);
        Assert.Equal(0, dead.Health.Snapshot().FramesDecoded);

        await WaitFor(live, h => h.State == CameraState.Online && h.FramesDecoded >= 5, "the live camera to stream");
        var framesSoFar = live.Health.Snapshot().FramesDecoded;
        var deadAttempts = dead.Health.Snapshot().Reconnects;
        await WaitFor(dead, h => h.Reconnects > deadAttempts, "the dead camera to keep retrying");
        await WaitFor(live, h => h.FramesDecoded > framesSoFar + 3 && h.State == CameraState.Online, "the live camera to keep streaming");
        Assert.Equal(0, live.Health.Snapshot().Reconnects);
    }

    [Fact]
    public async Task Stalled_stream_is_restarted_after_the_stall_timeout()
    {
        using var server = await RtspTestServer.StartAsync(IngestTestData.Clip);
        // A long network timeout, so that only the stall watchdog can notice the hung server.
        var options = Fast with { StallTimeout = TimeSpan.FromSeconds(2), ConnectTimeout = TimeSpan.FromSeconds(60) };
        await using var source = new FrameSource("hung", server.Url, options);
        _ = Drain(source);
        source.Start();
        await WaitFor(source, h => h.State == CameraState.Online && h.FramesDecoded >= 3, "frames from the RTSP server");

        await server.FreezeAsync();
        await WaitFor(source, h => h.State == CameraState.Offline, "offline after the server froze");
        Assert.Equal("no frame for 2 s; ffmpeg restarted", source.Health.Snapshot().LastError);

        var framesBefore = source.Health.Snapshot().FramesDecoded;
        await server.ThawAsync();
        await WaitFor(source, h => h.State == CameraState.Online && h.FramesDecoded >= framesBefore + 3, "frames again after the server thawed");
    }

    private static async Task WaitFor(FrameSource source, Func<CameraHealthSnapshot, bool> condition, string what) =>
        await IngestTestData.WaitUntilAsync(() => condition(source.Health.Snapshot()), Deadline, () => $"{what}; health: {source.Health.Snapshot()}");

    /// <summary>A port on 127.0.0.1 that nothing listens on.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static Consumer Drain(FrameSource source) => new(source);

    /// <summary>Reads frames as a camera worker would, remembering what it saw; ends when the source stops.</summary>
    private sealed class Consumer
    {
        private long _lastSequence = -1;

        public Consumer(FrameSource source) => _ = Task.Run(async () =>
        {
            await foreach (var frame in source.Frames.ReadAllAsync())
            {
                SequencesIncrease &= frame.Sequence > _lastSequence;
                _lastSequence = frame.Sequence;
                LastSize = (frame.Image.Width, frame.Image.Height);
                source.Health.FrameAnalysed();
            }
        });

        public (int Width, int Height) LastSize { get; private set; }

        public bool SequencesIncrease { get; private set; } = true;
    }
}
