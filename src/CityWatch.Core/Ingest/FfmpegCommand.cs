using System.Globalization;

namespace CityWatch.Ingest;

/// <summary>
/// Builds the ffmpeg and ffprobe argument lists for a source. Pure: no process is started here.
/// The decode command reads one video stream, keeps only <see cref="IngestOptions.AnalysisFps"/>
/// frames per second, scales them in ffmpeg to the analysis size and writes raw BGR24 frames to
/// standard output, each exactly <see cref="FrameSize.ByteCount"/> bytes.
/// </summary>
public static class FfmpegCommand
{
    /// <summary>Arguments for ffmpeg decoding <paramref name="source"/> to raw frames of exactly <paramref name="size"/>.</summary>
    /// <param name="pad">
    /// False: the picture is scaled to <paramref name="size"/> (the caller computed it from the source's aspect ratio).
    /// True: the picture is scaled to fit inside <paramref name="size"/> and padded with black, whatever its aspect ratio.
    /// </param>
    /// <param name="keyFramesFit">
    /// With <see cref="DecodeMode.Auto"/>: the probe found key frames at least AnalysisFps a second, so only key
    /// frames are decoded (-skip_frame nokey) and the fps filter keeps its grid. Ignored by the other modes.
    /// </param>
    public static IReadOnlyList<string> Decode(VideoSource source, FrameSize size, bool pad, IngestOptions options, bool keyFramesFit = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);

        var eachKeyFrame = options.Decode == DecodeMode.KeyFrames;
        var args = new List<string> { "-nostdin", "-hide_banner", "-loglevel", "error" };
        AddInputOptions(args, source, options);
        if (eachKeyFrame || (options.Decode == DecodeMode.Auto && keyFramesFit))
        {
            args.AddRange(["-skip_frame", "nokey"]);
        }

        if (options.DecoderThreads > 0)
        {
            args.AddRange(["-threads", options.DecoderThreads.ToString(CultureInfo.InvariantCulture)]);
        }

        args.AddRange(["-i", InputName(source)]);
        args.AddRange(["-map", "0:v:0", "-an", "-sn", "-dn"]);
        args.AddRange(["-vf", VideoFilter(size, pad, options.AnalysisFps, eachKeyFrame)]);
        if (eachKeyFrame)
        {
            // Without this the rawvideo muxer would repeat frames to fill the stream's nominal rate.
            args.AddRange(["-fps_mode", "passthrough"]);
        }

        args.AddRange(["-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]);
        return args;
    }

    /// <summary>Arguments for ffprobe describing the first video stream of <paramref name="source"/> as JSON.</summary>
    /// <param name="packetWindow">
    /// Also list the stream's packets (time and flags, no decoding) over this much of its start, so that
    /// <see cref="FfmpegOutput.ParseProbe"/> can tell the key-frame interval. Null: the stream only.
    /// </param>
    public static IReadOnlyList<string> Probe(VideoSource source, IngestOptions options, TimeSpan? packetWindow = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);

        var args = new List<string> { "-hide_banner", "-loglevel", "error" };
        if (source.Kind is SourceKind.Rtsp or SourceKind.Http)
        {
            AddNetworkOptions(args, source, options);
        }

        args.AddRange(["-select_streams", "v:0", "-show_streams"]);
        if (packetWindow is { } window)
        {
            args.AddRange(["-show_entries", "packet=pts_time,flags", "-read_intervals", "%+" + window.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)]);
        }

        args.AddRange(["-print_format", "json", InputName(source)]);
        return args;
    }

    /// <summary>
    /// The -vf chain: sample first (so dropped frames are never scaled), then scale (and pad).
    /// Sampling is the fps filter: a constant rate, repeating a frame if the source is slower. With
    /// <paramref name="keyFramesOnly"/> it is a select that keeps at most <paramref name="fps"/> of the
    /// key frames per second and never repeats one (the fps filter would fill the gaps between key frames).
    /// </summary>
    public static string VideoFilter(FrameSize size, bool pad, double fps, bool keyFramesOnly = false)
    {
        var rate = fps.ToString("0.######", CultureInfo.InvariantCulture);
        var interval = (1 / fps).ToString("0.######", CultureInfo.InvariantCulture);
        var sample = keyFramesOnly ? $"select='isnan(prev_selected_t)+gte(t-prev_selected_t,{interval})'" : $"fps={rate}";
        var (w, h) = (size.Width.ToString(CultureInfo.InvariantCulture), size.Height.ToString(CultureInfo.InvariantCulture));
        return pad
            ? $"{sample},scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1"
            : $"{sample},scale={w}:{h},setsar=1";
    }

    private static void AddInputOptions(List<string> args, VideoSource source, IngestOptions options)
    {
        switch (source.Kind)
        {
            case SourceKind.Rtsp:
            case SourceKind.Http:
                AddNetworkOptions(args, source, options);
                break;
            case SourceKind.File:
                if (options.RealTime)
                {
                    args.Add("-re");
                }

                if (options.Loop)
                {
                    args.AddRange(["-stream_loop", "-1"]);
                }

                break;
            case SourceKind.OtherStream:
                break;
        }
    }

    private static void AddNetworkOptions(List<string> args, VideoSource source, IngestOptions options)
    {
        // Microseconds: for RTSP the socket timeout (connect and read), for HTTP the read/write timeout.
        var timeout = ((long)options.ConnectTimeout.TotalMicroseconds).ToString(CultureInfo.InvariantCulture);
        if (source.Kind == SourceKind.Rtsp)
        {
            args.AddRange(["-rtsp_transport", "tcp", "-timeout", timeout]);
        }
        else
        {
            // FrameSource reconnects with its own backoff and health; ffmpeg must not hide outages.
            args.AddRange(["-reconnect", "0", "-reconnect_at_eof", "0", "-reconnect_streamed", "0", "-timeout", timeout]);
        }
    }

    /// <summary>Files are passed as file: URLs so that a name with a colon or a leading dash is never read as something else.</summary>
    private static string InputName(VideoSource source) => source.IsFile ? "file:" + source.Location : source.Location;
}
