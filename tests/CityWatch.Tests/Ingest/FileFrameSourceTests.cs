using CityWatch.Ingest;

namespace CityWatch.Tests.Ingest;

/// <summary>Decoding the shared clip (640x360, about 9.2 s of video) through real ffmpeg.</summary>
public class FileFrameSourceTests
{
    [Fact]
    public async Task File_decodes_to_frames_of_the_analysis_size_at_the_analysis_rate()
    {
        var frames = new List<VideoFrame>();
        await foreach (var frame in FrameSource.ReadFileAsync(IngestTestData.Clip, new IngestOptions { AnalysisFps = 2, Width = 320 }))
        {
            frames.Add(frame);
        }

        // 9.2 s at 2 fps: about 18 frames.
        Assert.InRange(frames.Count, 16, 21);
        Assert.All(frames, f => Assert.Equal((320, 180), (f.Image.Width, f.Image.Height)));
        Assert.Equal(Enumerable.Range(0, frames.Count).Select(i => (long)i), frames.Select(f => f.Sequence));
        Assert.Equal(TimeSpan.FromSeconds(2.5), frames[5].Position);
        Assert.All(frames, f => Assert.Equal("short_hamilton_clip.mp4", f.CameraId));
        // Real pictures, not blank buffers: the middle frame has many distinct byte values.
        Assert.True(frames[frames.Count / 2].Image.Pixels.Distinct().Count() > 100);
    }

    [Fact]
    public async Task Key_frames_only_gives_each_key_frame_once()
    {
        var frames = new List<VideoFrame>();
        await foreach (var frame in FrameSource.ReadFileAsync(IngestTestData.Clip, new IngestOptions { AnalysisFps = 2, Width = 320, Decode = DecodeMode.KeyFrames }))
        {
            frames.Add(frame);
        }

        // The clip has 6 key frames, about 2 s apart (recorded with ffprobe -show_entries packet=flags).
        Assert.Equal(6, frames.Count);
        Assert.All(frames, f => Assert.Null(f.Position));
        Assert.Equal(frames.Count, frames.Select(f => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(f.Image.Pixels))).Distinct().Count());
    }

    [Fact]
    public async Task Auto_decodes_key_frames_only_where_they_fit_the_analysis_rate()
    {
        // The clip re-encoded with a key frame every 15 frames (0.5 s), like a camera set to a short GOP.
        var path = Path.Combine(Support.TestPaths.NewScratchDirectory(), "gop-0.5s.mp4");
        var encode = await ProcessRunner.RunAsync("ffmpeg", [
            "-nostdin", "-hide_banner", "-loglevel", "error", "-i", IngestTestData.Clip, "-t", "4", "-an", "-c:v", "libx264", "-preset", "ultrafast",
            "-g", "15", "-keyint_min", "15", "-sc_threshold", "0", "-y", path]);
        Assert.True(encode.ExitCode == 0, string.Join('\n', encode.ErrorLines));

        var (shortGop, shortFrames) = await DecodeAsync(path);
        var (clipGop, clipFrames) = await DecodeAsync(IngestTestData.Clip);

        Assert.True(shortGop);
        // 4 s at 2 frames/s, on the fps filter's grid like a full decode.
        Assert.InRange(shortFrames.Count, 7, 9);
        Assert.Equal(TimeSpan.FromSeconds(1.5), shortFrames[3].Position);
        // The clip's key frames are 2 s apart: every frame is decoded.
        Assert.False(clipGop);
        Assert.InRange(clipFrames.Count, 16, 21);

        static async Task<(bool? KeyFramesOnly, List<VideoFrame> Frames)> DecodeAsync(string path)
        {
            await using var source = new FrameSource("clip", path, new IngestOptions { AnalysisFps = 2, Width = 160 });
            source.Start();
            var frames = new List<VideoFrame>();
            await foreach (var frame in source.Frames.ReadAllAsync())
            {
                frames.Add(frame);
            }

            await source.Completion;
            return (source.KeyFramesOnly, frames);
        }
    }

    [Fact]
    public async Task Returned_frame_buffers_are_reused()
    {
        await using var source = new FrameSource("clip", IngestTestData.Clip, new IngestOptions { AnalysisFps = 2, Width = 160, QueueCapacity = 1 });
        source.Start();
        var seen = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
        var frames = 0;
        await foreach (var frame in source.Frames.ReadAllAsync())
        {
            frames++;
            seen.Add(frame.Image.Pixels);
            source.Return(frame);
        }

        await source.Completion;
        Assert.InRange(frames, 16, 21);
        // One buffer in the queue, one being filled, one with the consumer: a handful, not one per frame.
        Assert.InRange(seen.Count, 1, 5);
    }

    [Fact]
    public async Task Fixed_size_letterboxes_the_picture()
    {
        var options = new IngestOptions { AnalysisFps = 1, Width = 320, Height = 320 };
        VideoFrame? first = null;
        await foreach (var frame in FrameSource.ReadFileAsync(IngestTestData.Clip, options))
        {
            first ??= frame;
        }

        Assert.NotNull(first);
        Assert.Equal((320, 320), (first.Image.Width, first.Image.Height));
        // A 16:9 picture 320 wide is 180 high: 70 black rows above it, 70 below.
        Assert.All(Row(first, 0), b => Assert.True(b < 20));
        Assert.All(Row(first, 319), b => Assert.True(b < 20));
        Assert.True(Row(first, 160).Distinct().Count() > 20);
    }

    [Fact]
    public async Task Slow_consumer_of_a_file_loses_no_frames()
    {
        var options = new IngestOptions { AnalysisFps = 2, Width = 160, QueueCapacity = 1 };
        await using var source = new FrameSource("clip", IngestTestData.Clip, options);
        source.Start();
        var count = 0;
        await foreach (var frame in source.Frames.ReadAllAsync())
        {
            await Task.Delay(30);
            count++;
            source.Health.FrameAnalysed();
        }

        await source.Completion;
        var health = source.Health.Snapshot();
        Assert.InRange(count, 16, 21);
        Assert.Equal((CameraState.Stopped, count, count, 0L), (health.State, health.FramesDecoded, health.FramesAnalysed, health.FramesDropped));
    }

    [Fact]
    public async Task File_that_is_not_a_video_fails_with_a_clear_error()
    {
        var path = Path.Combine(Support.TestPaths.NewScratchDirectory(), "notes.mp4");
        await File.WriteAllTextAsync(path, "not a video");

        var e = await Assert.ThrowsAsync<IngestException>(async () =>
        {
            await foreach (var frame in FrameSource.ReadFileAsync(path, new IngestOptions()))
            {
            }
        });

        Assert.StartsWith($"Decoding {path} failed: ffprobe: ", e.Message);
        Assert.Contains("Invalid data found when processing input", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Missing_file_is_refused_at_once() =>
        Assert.Throws<InvalidRequestException>(() => new FrameSource("cam", "/no/such/clip.mp4", new IngestOptions()));

    [Fact]
    public async Task Looping_real_time_file_acts_as_a_live_camera()
    {
        var options = new IngestOptions { AnalysisFps = 4, Width = 160, RealTime = true, Loop = true };
        await using var source = new FrameSource("demo", IngestTestData.Clip, options);
        source.Start();

        Assert.True(source.IsLive);
        await IngestTestData.WaitUntilAsync(() => source.Health.Snapshot().FramesDecoded >= 3, TimeSpan.FromSeconds(30), () => $"{source.Health.Snapshot()}");
        Assert.Equal(CameraState.Online, source.Health.State);

        await source.StopAsync();
        Assert.Equal(CameraState.Stopped, source.Health.State);
        while (source.Frames.TryRead(out _))
        {
        }

        await source.Frames.Completion.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static byte[] Row(VideoFrame frame, int y) => frame.Image.Pixels.AsSpan(y * frame.Image.Stride, frame.Image.Stride).ToArray();
}
