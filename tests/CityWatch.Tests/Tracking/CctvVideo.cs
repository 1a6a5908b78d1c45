using System.Globalization;
using CityWatch.Grants;
using CityWatch.Ingest;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Tracking;

/// <summary>
/// A CCTV-quality video made with ffmpeg from the shared photos, written to a scratch folder: a 1280x720
/// picture of a grey, noisy street at 10 frames/s in which people's photos, each cut to the head and
/// shoulders and shown small (the face <see cref="Appearance.FaceWidth"/> pixels wide, scaled down by pixel
/// area), move across; then the whole picture is blurred (<see cref="BlurSigma"/>) and compressed with
/// H.264 at <see cref="BitrateKbps"/> kbit/s (blocky, smeared faces). Between appearances the street is empty. The layout is <see cref="Appearances"/>.
/// </summary>
internal static class CctvVideo
{
    public const int Width = 1280;
    public const int Height = 720;
    public const int Fps = 10;
    public const int BitrateKbps = 300;

    /// <summary>
    /// The Gaussian blur over the whole picture. At 0.4 the quality gate's default sharpness minimum (40) still
    /// passes most faces and turns a few of the smallest away; at 0.6 it turns away every face of the second
    /// appearance, and at 0.8 every face in the video.
    /// </summary>
    public const double BlurSigma = 0.4;

    /// <summary>How long the video runs.</summary>
    public static readonly TimeSpan Length = TimeSpan.FromSeconds(20);

    /// <summary>Barack Obama twice (from photos other than his enrolment photo), Joe Biden once in between, with gaps.</summary>
    public static readonly IReadOnlyList<Appearance> Appearances =
    [
        new("obama", ["ageitgey", "examples", "obama2.jpg"], TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4.5), 48, 200, 1000, 300),
        new("biden", ["ageitgey", "examples", "biden.jpg"], TimeSpan.FromSeconds(7.5), TimeSpan.FromSeconds(4.5), 52, 1050, 250, 260),
        new("obama", ["ageitgey", "tests", "test_images", "obama3.jpg"], TimeSpan.FromSeconds(14), TimeSpan.FromSeconds(4.5), 42, 1000, 300, 380),
    ];

    /// <summary>Writes the video to a new scratch folder; the photos' faces are found with <paramref name="vision"/> to cut and scale them.</summary>
    public static async Task<string> MakeAsync(FacePipeline vision, ProcessingGrant grant)
    {
        var folder = TestPaths.NewScratchDirectory();
        var path = Path.Combine(folder, "cctv-720p.mp4");
        var arguments = new List<string> { "-hide_banner", "-loglevel", "error", "-y" };
        arguments.AddRange(["-f", "lavfi", "-i", $"color=c=0x56606a:s={Width}x{Height}:r={Fps}:d={Seconds(Length)}"]);
        var filters = new List<string> { "[0:v]noise=alls=8:allf=t,format=yuv420p[bg0]" };
        for (var i = 0; i < Appearances.Count; i++)
        {
            var a = Appearances[i];
            var photo = TestPaths.Faces(a.Photo);
            var face = vision.Detect(grant, ImageCodec.DecodeFile(photo)).MaxBy(f => f.Box.Area)
                ?? throw new InvalidOperationException($"No face in {photo}.");
            // Head and shoulders: a square 2.2 face widths wide around the face, a little more below it.
            var side = (int)(face.Box.Width * 2.2f);
            var x = (int)(face.Box.Centre.X - (side / 2f));
            var y = (int)(face.Box.Centre.Y - (side * 0.42f));
            var size = Even(side * a.FaceWidth / face.Box.Width);
            arguments.AddRange(["-loop", "1", "-framerate", Invariant(Fps), "-t", Seconds(Length), "-i", photo]);
            filters.Add(
                $"[{i + 1}:v]crop={side}:{side}:{x}:{y}:exact=1,scale={size}:{size}:flags=area,format=yuv420p[p{i}]");
            var from = a.From.TotalSeconds;
            var until = (a.From + a.Duration).TotalSeconds;
            // Moving from StartX to EndX (the face's centre) at a steady pace while it is on.
            var move = $"{Invariant(a.StartX)}+({Invariant(a.EndX - a.StartX)})*(t-{Invariant(from)})/{Invariant(a.Duration.TotalSeconds)}-w/2";
            filters.Add(
                $"[bg{i}][p{i}]overlay=x='{move}':y={Invariant(a.Y)}-h/2:enable='between(t,{Invariant(from)},{Invariant(until)})'[bg{i + 1}]");
        }

        filters.Add($"[bg{Appearances.Count}]gblur=sigma={Invariant(BlurSigma)},format=yuv420p[v]");
        arguments.AddRange(["-filter_complex", string.Join(";", filters), "-map", "[v]", "-an"]);
        arguments.AddRange(["-c:v", "libx264", "-preset", "veryfast", "-b:v", $"{BitrateKbps}k", "-maxrate", $"{BitrateKbps}k", "-bufsize", $"{BitrateKbps * 2}k"]);
        arguments.AddRange(["-g", Invariant(Fps * 2), "-pix_fmt", "yuv420p", path]);
        var result = await ProcessRunner.RunAsync("ffmpeg", arguments);
        Assert.True(result.ExitCode == 0, $"ffmpeg could not make the CCTV video: {string.Join(" ", result.ErrorLines)}");
        return path;
    }

    private static int Even(float value) => Math.Max(2, (int)MathF.Round(value / 2) * 2);

    private static string Seconds(TimeSpan span) => Invariant(span.TotalSeconds);

    private static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>One person crossing the picture: from <see cref="From"/> for <see cref="Duration"/>, the face's centre from x StartX to EndX at height Y.</summary>
    public sealed record Appearance(string Identity, string[] Photo, TimeSpan From, TimeSpan Duration, int FaceWidth, int StartX, int EndX, int Y)
    {
        public TimeSpan Until => From + Duration;
    }
}
