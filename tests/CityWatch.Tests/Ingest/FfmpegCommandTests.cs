using CityWatch.Ingest;

namespace CityWatch.Tests.Ingest;

public class FfmpegCommandTests
{
    private static readonly IngestOptions Options = new() { AnalysisFps = 2, Width = 320, ConnectTimeout = TimeSpan.FromSeconds(5) };
    private static readonly FrameSize Size = new(320, 180);

    [Fact]
    public void Rtsp_source_is_read_over_tcp_with_a_socket_timeout()
    {
        var args = FfmpegCommand.Decode(VideoSource.Parse("rtsp://127.0.0.1:8554/camera"), Size, pad: false, Options);

        AssertInputOption(args, "-rtsp_transport", "tcp");
        AssertInputOption(args, "-timeout", "5000000");
        AssertSequence(args, "-i", "rtsp://127.0.0.1:8554/camera");
        Assert.DoesNotContain("-re", args);
    }

    [Fact]
    public void Http_source_leaves_reconnecting_to_the_frame_source()
    {
        var args = FfmpegCommand.Decode(VideoSource.Parse("https://camera.example/stream.mjpg"), Size, pad: false, Options);

        AssertInputOption(args, "-reconnect", "0");
        AssertInputOption(args, "-reconnect_at_eof", "0");
        AssertInputOption(args, "-reconnect_streamed", "0");
        AssertInputOption(args, "-timeout", "5000000");
        Assert.DoesNotContain("-rtsp_transport", args);
    }

    [Fact]
    public void File_source_decodes_as_fast_as_possible_by_default()
    {
        var args = FfmpegCommand.Decode(VideoSource.Parse(IngestTestData.Clip), Size, pad: false, Options);

        AssertSequence(args, "-i", "file:" + Path.GetFullPath(IngestTestData.Clip));
        Assert.DoesNotContain("-re", args);
        Assert.DoesNotContain("-stream_loop", args);
        Assert.DoesNotContain("-timeout", args);
    }

    [Fact]
    public void File_source_can_play_in_real_time_and_loop_like_a_camera()
    {
        var args = FfmpegCommand.Decode(VideoSource.Parse(IngestTestData.Clip), Size, pad: false, Options with { RealTime = true, Loop = true });

        Assert.True(args.ToList().IndexOf("-re") < args.ToList().IndexOf("-i"));
        AssertInputOption(args, "-stream_loop", "-1");
    }

    [Fact]
    public void Output_is_raw_bgr24_on_stdout_sampled_then_scaled_without_audio_or_console_input()
    {
        var args = FfmpegCommand.Decode(VideoSource.Parse("rtsp://127.0.0.1/x"), Size, pad: false, Options);

        Assert.Equal("-nostdin", args[0]);
        AssertSequence(args, "-loglevel", "error");
        AssertSequence(args, "-map", "0:v:0", "-an", "-sn", "-dn");
        AssertSequence(args, "-vf", "fps=2,scale=320:180,setsar=1");
        Assert.Equal(["-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"], args.TakeLast(5));
    }

    [Fact]
    public void Fixed_size_scales_to_fit_and_pads_with_black()
    {
        Assert.Equal(
            "fps=0.5,scale=320:320:force_original_aspect_ratio=decrease,pad=320:320:(ow-iw)/2:(oh-ih)/2,setsar=1",
            FfmpegCommand.VideoFilter(new FrameSize(320, 320), pad: true, fps: 0.5));
    }

    [Fact]
    public void Key_frames_only_and_thread_count_are_decoder_options()
    {
        var args = FfmpegCommand.Decode(VideoSource.Parse("rtsp://127.0.0.1/x"), Size, pad: false, Options with { Decode = DecodeMode.KeyFrames, DecoderThreads = 1 });

        AssertInputOption(args, "-skip_frame", "nokey");
        AssertInputOption(args, "-threads", "1");
        AssertSequence(args, "-vf", "select='isnan(prev_selected_t)+gte(t-prev_selected_t,0.5)',scale=320:180,setsar=1", "-fps_mode", "passthrough");
    }

    [Fact]
    public void Auto_decodes_key_frames_on_the_fps_grid_only_when_they_fit()
    {
        var fits = FfmpegCommand.Decode(VideoSource.Parse("rtsp://127.0.0.1/x"), Size, pad: false, Options, keyFramesFit: true);
        var doesNot = FfmpegCommand.Decode(VideoSource.Parse("rtsp://127.0.0.1/x"), Size, pad: false, Options, keyFramesFit: false);
        var all = FfmpegCommand.Decode(VideoSource.Parse("rtsp://127.0.0.1/x"), Size, pad: false, Options with { Decode = DecodeMode.All }, keyFramesFit: true);

        Assert.Equal(DecodeMode.Auto, Options.Decode);
        AssertInputOption(fits, "-skip_frame", "nokey");
        AssertSequence(fits, "-vf", "fps=2,scale=320:180,setsar=1");
        Assert.DoesNotContain("-fps_mode", fits);
        Assert.DoesNotContain("-skip_frame", doesNot);
        Assert.DoesNotContain("-skip_frame", all);
    }

    [Fact]
    public void Probe_for_auto_decode_lists_packets_over_a_window()
    {
        var args = FfmpegCommand.Probe(VideoSource.Parse("rtsp://127.0.0.1/x"), Options, TimeSpan.FromSeconds(1.5));

        AssertSequence(args, "-show_streams", "-show_entries", "packet=pts_time,flags", "-read_intervals", "%+1.5", "-print_format", "json");
    }

    [Fact]
    public void Probe_asks_for_the_first_video_stream_as_json()
    {
        var args = FfmpegCommand.Probe(VideoSource.Parse("rtsp://127.0.0.1/x"), Options);

        AssertSequence(args, "-select_streams", "v:0", "-show_streams", "-print_format", "json", "rtsp://127.0.0.1/x");
        AssertSequence(args, "-rtsp_transport", "tcp");
    }

    [Theory]
    [InlineData("rtsp://10.0.0.5/stream", "Rtsp")]
    [InlineData("RTSPS://10.0.0.5/stream", "Rtsp")]
    [InlineData("http://10.0.0.5/video.mjpg", "Http")]
    [InlineData("https://10.0.0.5/live.m3u8", "Http")]
    [InlineData("srt://10.0.0.5:9000", "OtherStream")]
    public void Urls_are_classified_by_scheme(string url, string kind) =>
        Assert.Equal(Enum.Parse<SourceKind>(kind), VideoSource.Parse(url).Kind);

    [Fact]
    public void File_paths_and_file_urls_resolve_to_the_same_full_path()
    {
        var full = Path.GetFullPath(IngestTestData.Clip);

        Assert.Equal(new VideoSource(SourceKind.File, full), VideoSource.Parse(IngestTestData.Clip));
        Assert.Equal(new VideoSource(SourceKind.File, full), VideoSource.Parse(new Uri(full).AbsoluteUri));
    }

    [Fact]
    public void Missing_file_gives_a_clear_error()
    {
        var e = Assert.Throws<InvalidRequestException>(() => VideoSource.Parse("/no/such/clip.mp4"));
        Assert.Equal("Video file not found: /no/such/clip.mp4", e.Message);
    }

    [Fact]
    public void Credentials_in_urls_never_reach_health_or_logs()
    {
        Assert.Equal("rtsp://***@10.0.0.5:554/h264", VideoSource.Parse("rtsp://admin:s3cret@10.0.0.5:554/h264").Redacted);
        Assert.Equal(
            "rtsp://***@10.0.0.5/x: 401 Unauthorized",
            FfmpegOutput.DescribeFailure(["rtsp://admin:s3cret@10.0.0.5/x: 401 Unauthorized"], 1));
    }

    [Theory]
    [InlineData(640, 360, 320, 320, 180)]
    [InlineData(1920, 1080, 640, 640, 360)]
    [InlineData(1280, 720, 500, 500, 282)]
    [InlineData(360, 640, 640, 360, 640)]
    [InlineData(321, 241, 640, 320, 240)]
    public void Analysis_size_keeps_aspect_is_even_and_never_upscales(int sourceWidth, int sourceHeight, int width, int expectedWidth, int expectedHeight) =>
        Assert.Equal(new FrameSize(expectedWidth, expectedHeight), FrameSize.KeepingAspect(sourceWidth, sourceHeight, width));

    [Fact]
    public void Options_out_of_range_give_a_one_line_error()
    {
        Assert.Contains("Loop needs RealTime", Assert.Throws<InvalidRequestException>(() => new IngestOptions { Loop = true }.Validate()).Message);
        Assert.Contains("Width must be an even number", Assert.Throws<InvalidRequestException>(() => new IngestOptions { Width = 321 }.Validate()).Message);
        Assert.Contains("BackoffMin", Assert.Throws<InvalidRequestException>(() => new IngestOptions { BackoffMax = TimeSpan.FromMilliseconds(1) }.Validate()).Message);
        Assert.Contains("StallTimeout", Assert.Throws<InvalidRequestException>(() => new IngestOptions { AnalysisFps = 0.1, StallTimeout = TimeSpan.FromSeconds(5) }.Validate()).Message);
    }

    /// <summary>The option and its value appear together, before -i (ffmpeg input options).</summary>
    private static void AssertInputOption(IReadOnlyList<string> args, string option, string value)
    {
        var list = args.ToList();
        var at = list.IndexOf(option);
        Assert.True(at >= 0, $"{option} missing from: {string.Join(' ', args)}");
        Assert.Equal(value, list[at + 1]);
        Assert.True(at < list.IndexOf("-i"), $"{option} must come before -i: {string.Join(' ', args)}");
    }

    private static void AssertSequence(IReadOnlyList<string> args, params string[] sequence)
    {
        for (var i = 0; i + sequence.Length <= args.Count; i++)
        {
            if (args.Skip(i).Take(sequence.Length).SequenceEqual(sequence))
            {
                return;
            }
        }

        Assert.Fail($"'{string.Join(' ', sequence)}' not found in: {string.Join(' ', args)}");
    }
}
