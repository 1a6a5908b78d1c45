using CityWatch.Ingest;

namespace CityWatch.Tests.Ingest;

/// <summary>The parsers, on output recorded from ffprobe 5.1 / ffmpeg 5.1 (testdata/).</summary>
public class FfmpegOutputTests
{
    [Fact]
    public void Probe_of_a_file_gives_its_video_size_codec_and_rate()
    {
        var info = FfmpegOutput.ParseProbe(IngestTestData.Recorded("ffprobe-file.json"));

        Assert.Equal((640, 360, "h264", 0), (info.Width, info.Height, info.Codec, info.Rotation));
        Assert.Equal(29.97, info.FrameRate!.Value, precision: 2);
    }

    [Fact]
    public void Probe_of_an_rtsp_stream_gives_its_video_size()
    {
        var info = FfmpegOutput.ParseProbe(IngestTestData.Recorded("ffprobe-rtsp.json"));

        Assert.Equal((640, 360), (info.DisplayWidth, info.DisplayHeight));
    }

    [Fact]
    public void Rotated_video_reports_the_size_ffmpeg_will_decode_to()
    {
        var info = FfmpegOutput.ParseProbe(IngestTestData.Recorded("ffprobe-rotated.json"));

        Assert.Equal(90, info.Rotation);
        Assert.Equal((360, 640), (info.DisplayWidth, info.DisplayHeight));
    }

    [Fact]
    public void Probe_with_packets_gives_the_longest_key_frame_interval()
    {
        // 1.5 s of a 1280x720 source encoded with a key frame every 15 frames (0.5 s at 29.97 fps).
        var info = FfmpegOutput.ParseProbe(IngestTestData.Recorded("ffprobe-packets-gop-0.5s.json"));

        Assert.Equal(1280, info.Width);
        Assert.Equal(0.5005, info.KeyFrameInterval!.Value, tolerance: 0.0001);
    }

    [Fact]
    public void Probe_that_saw_one_key_frame_has_no_interval()
    {
        // 1.5 s of the shared clip, whose key frames are about 2 s apart: one key frame in the window.
        Assert.Null(FfmpegOutput.ParseProbe(IngestTestData.Recorded("ffprobe-packets-gop-2s.json")).KeyFrameInterval);
        Assert.Null(FfmpegOutput.ParseProbe(IngestTestData.Recorded("ffprobe-file.json")).KeyFrameInterval);
    }

    [Fact]
    public void Probe_without_streams_is_a_clear_error()
    {
        // What ffprobe prints on stdout when the input cannot be opened.
        Assert.Equal("ffprobe found no streams.", Assert.Throws<ProbeFormatException>(() => FfmpegOutput.ParseProbe("{\n\n}\n")).Message);
        Assert.StartsWith("ffprobe output is not JSON", Assert.Throws<ProbeFormatException>(() => FfmpegOutput.ParseProbe("Input #0, rtsp")).Message);
        Assert.Equal("ffprobe found no video stream.", Assert.Throws<ProbeFormatException>(() =>
            FfmpegOutput.ParseProbe("""{"streams":[{"codec_type":"audio","sample_rate":"44100"}]}""")).Message);
    }

    [Theory]
    [InlineData("ffmpeg-stderr-refused.txt", "rtsp://127.0.0.1:1/camera: Connection refused")]
    [InlineData("ffmpeg-stderr-404.txt", "rtsp://127.0.0.1:18556/nothing: Server returned 404 Not Found")]
    [InlineData("ffmpeg-stderr-missing-file.txt", "/nonexist.mp4: No such file or directory")]
    [InlineData("ffprobe-not-video.stderr.txt", "/work/wt-ingest/CityWatch.slnx: Invalid data found when processing input")]
    public void Failure_is_described_by_the_last_error_line(string recorded, string expected) =>
        Assert.Equal(expected, FfmpegOutput.DescribeFailure(IngestTestData.RecordedLines(recorded), 1));

    [Fact]
    public void Failure_keeps_the_message_without_the_component_context()
    {
        Assert.Equal(
            "Connection to tcp://127.0.0.1:1?timeout=5000000 failed: Connection refused",
            FfmpegOutput.DescribeFailure(["[tcp @ 0x5647b0215840] Connection to tcp://127.0.0.1:1?timeout=5000000 failed: Connection refused"], 1));
    }

    [Fact]
    public void Failure_without_output_falls_back_to_the_exit_code()
    {
        Assert.Equal("exited with code 234", FfmpegOutput.DescribeFailure(["", "  "], 234));
        Assert.Equal("ended", FfmpegOutput.DescribeFailure([], null));
    }
}
