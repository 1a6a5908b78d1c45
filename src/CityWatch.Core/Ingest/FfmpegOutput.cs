using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CityWatch.Ingest;

/// <summary>The first video stream of a source as ffprobe describes it.</summary>
/// <param name="Width">Stored width in pixels.</param>
/// <param name="Height">Stored height in pixels.</param>
/// <param name="Rotation">Display rotation in degrees (0, 90, 180, 270); ffmpeg applies it when decoding.</param>
public sealed record VideoStreamInfo(int Width, int Height, string? Codec, double? FrameRate, int Rotation)
{
    /// <summary>Width of the decoded picture, after ffmpeg's automatic rotation.</summary>
    public int DisplayWidth => Rotation is 90 or 270 ? Height : Width;

    /// <summary>Height of the decoded picture, after ffmpeg's automatic rotation.</summary>
    public int DisplayHeight => Rotation is 90 or 270 ? Width : Height;

    /// <summary>
    /// When the probe listed packets: the longest gap in seconds between two consecutive key frames seen. Null
    /// when fewer than two key frames were seen (or no packets were listed): the interval is unknown, or longer
    /// than the probed window.
    /// </summary>
    public double? KeyFrameInterval { get; init; }
}

/// <summary>ffprobe's output could not be understood, or it names no usable video stream.</summary>
public sealed class ProbeFormatException(string message) : Exception(message);

/// <summary>
/// Parsing of what ffprobe and ffmpeg print, kept apart from process I/O so that it is tested on
/// recorded output (testdata/ next to the tests).
/// </summary>
public static partial class FfmpegOutput
{
    /// <summary>Reads the first video stream from `ffprobe -show_streams -print_format json` output.</summary>
    /// <exception cref="ProbeFormatException">Not JSON, no video stream, or no usable size.</exception>
    public static VideoStreamInfo ParseProbe(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ProbeFormatException($"ffprobe output is not JSON: {e.Message}");
        }

        using (document)
        {
            if (!document.RootElement.TryGetProperty("streams", out var streams) || streams.ValueKind != JsonValueKind.Array)
            {
                throw new ProbeFormatException("ffprobe found no streams.");
            }

            foreach (var stream in streams.EnumerateArray())
            {
                if (String(stream, "codec_type") is not "video")
                {
                    continue;
                }

                var width = Int(stream, "width");
                var height = Int(stream, "height");
                if (width is not > 0 || height is not > 0)
                {
                    throw new ProbeFormatException("ffprobe reports a video stream without a size (the stream may not have started).");
                }

                return new VideoStreamInfo(width.Value, height.Value, String(stream, "codec_name"), FrameRate(stream), Rotation(stream))
                {
                    KeyFrameInterval = KeyFrameInterval(document.RootElement),
                };
            }

            throw new ProbeFormatException("ffprobe found no video stream.");
        }
    }

    /// <summary>
    /// One line saying why ffmpeg or ffprobe failed, from its last standard-error lines (-loglevel error):
    /// the last line that is not a component's debug prefix only, with the "[tcp @ 0x...]" context
    /// removed and URL credentials redacted. Falls back to the exit code.
    /// </summary>
    public static string DescribeFailure(IReadOnlyList<string> errorLines, int? exitCode)
    {
        ArgumentNullException.ThrowIfNull(errorLines);
        for (var i = errorLines.Count - 1; i >= 0; i--)
        {
            var line = ContextPrefix().Replace(errorLines[i], string.Empty).Trim();
            if (line.Length > 0)
            {
                line = VideoSource.Redact(line);
                return line.Length <= 300 ? line : line[..300] + "...";
            }
        }

        return exitCode is { } code ? $"exited with code {code.ToString(CultureInfo.InvariantCulture)}" : "ended";
    }

    /// <summary>The longest gap between consecutive key packets ("flags" starting with K) by pts_time; null with fewer than two.</summary>
    private static double? KeyFrameInterval(JsonElement root)
    {
        if (!root.TryGetProperty("packets", out var packets) || packets.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var times = new List<double>();
        foreach (var packet in packets.EnumerateArray())
        {
            if (String(packet, "flags") is { } flags && flags.StartsWith('K')
                && String(packet, "pts_time") is { } text
                && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var time))
            {
                times.Add(time);
            }
        }

        if (times.Count < 2)
        {
            return null;
        }

        times.Sort();
        var longest = 0.0;
        for (var i = 1; i < times.Count; i++)
        {
            longest = Math.Max(longest, times[i] - times[i - 1]);
        }

        return longest;
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static int? Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) ? n : null;

    /// <summary>avg_frame_rate, else r_frame_rate, as "num/den"; null when unknown (0/0).</summary>
    private static double? FrameRate(JsonElement stream)
    {
        foreach (var name in (ReadOnlySpan<string>)["avg_frame_rate", "r_frame_rate"])
        {
            if (String(stream, name) is { } text && text.Split('/') is [var num, var den]
                && double.TryParse(num, NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
                && double.TryParse(den, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                && n > 0 && d > 0)
            {
                return n / d;
            }
        }

        return null;
    }

    /// <summary>The display-matrix rotation (side_data_list) or the older "rotate" tag, normalised to 0..359.</summary>
    private static int Rotation(JsonElement stream)
    {
        double? degrees = null;
        if (stream.TryGetProperty("side_data_list", out var sideData) && sideData.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in sideData.EnumerateArray())
            {
                if (item.TryGetProperty("rotation", out var rotation) && rotation.ValueKind == JsonValueKind.Number)
                {
                    degrees = rotation.GetDouble();
                    break;
                }
            }
        }

        if (degrees is null && stream.TryGetProperty("tags", out var tags) && String(tags, "rotate") is { } tag
            && double.TryParse(tag, NumberStyles.Float, CultureInfo.InvariantCulture, out var tagged))
        {
            degrees = tagged;
        }

        var normalised = (int)Math.Round(degrees ?? 0) % 360;
        return normalised < 0 ? normalised + 360 : normalised;
    }

    [GeneratedRegex(@"^\s*\[[^\]]*@ 0x[0-9a-fA-F]+\]\s*")]
    private static partial Regex ContextPrefix();
}
