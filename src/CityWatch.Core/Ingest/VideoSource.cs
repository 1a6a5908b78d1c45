using System.Text.RegularExpressions;

namespace CityWatch.Ingest;

/// <summary>What kind of input a source string names; decides the ffmpeg input options and whether it is live.</summary>
public enum SourceKind
{
    /// <summary>rtsp:// or rtsps://: a live camera, read over TCP.</summary>
    Rtsp,

    /// <summary>http:// or https:// (MJPEG, HLS, ...): a live stream.</summary>
    Http,

    /// <summary>Another URL scheme ffmpeg understands (udp, srt, rtmp, ...): treated as a live stream.</summary>
    OtherStream,

    /// <summary>A local file path or file:// URL.</summary>
    File,
}

/// <summary>A classified source: a camera URL or a local video file.</summary>
public sealed partial record VideoSource(SourceKind Kind, string Location)
{
    /// <summary>
    /// Classifies <paramref name="source"/>. Files are resolved to a full path; a file that does not
    /// exist, or an empty string, gives <see cref="InvalidRequestException"/>.
    /// </summary>
    public static VideoSource Parse(string source)
    {
        if (string.IsNullOrWhiteSpace(source))
        {
            throw new InvalidRequestException("The video source is empty.");
        }

        source = source.Trim();
        var scheme = SchemePattern().Match(source);
        if (scheme.Success && scheme.Groups[1].Value.Length > 1)
        {
            var name = scheme.Groups[1].Value.ToLowerInvariant();
            return name switch
            {
                "rtsp" or "rtsps" => new VideoSource(SourceKind.Rtsp, source),
                "http" or "https" => new VideoSource(SourceKind.Http, source),
                "file" => FromPath(Uri.TryCreate(source, UriKind.Absolute, out var uri) ? uri.LocalPath : source["file:".Length..]),
                _ => new VideoSource(SourceKind.OtherStream, source),
            };
        }

        return FromPath(source);
    }

    public bool IsFile => Kind == SourceKind.File;

    /// <summary>The location with any user:password in a URL replaced by ***, safe for logs and health.</summary>
    public string Redacted => Redact(Location);

    /// <summary>Replaces URL credentials (scheme://user:pass@host) in any text with scheme://***@host.</summary>
    public static string Redact(string text) => CredentialsPattern().Replace(text, "$1***@");

    public override string ToString() => Redacted;

    private static VideoSource FromPath(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new InvalidRequestException($"Video file not found: {full}");
        }

        return new VideoSource(SourceKind.File, full);
    }

    [GeneratedRegex(@"^([A-Za-z][A-Za-z0-9+.\-]*):")]
    private static partial Regex SchemePattern();

    [GeneratedRegex(@"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@")]
    private static partial Regex CredentialsPattern();
}
