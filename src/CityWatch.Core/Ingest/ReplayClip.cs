using CityWatch.Vision;

namespace CityWatch.Ingest;

/// <summary>
/// A video decoded once (with ffmpeg, through <see cref="FrameSource.ReadFileAsync"/>) and held in memory, so that
/// a simulated worker (<c>serve --role worker --replay FILE</c>) can feed hundreds of cameras from it without one
/// ffmpeg per camera: the cost it then measures is recognition's, not decoding's. The frames are shared by every
/// camera and must not be written to.
/// </summary>
public sealed class ReplayClip
{
    private ReplayClip(string path, IReadOnlyList<BgrImage> frames, double fps)
    {
        Path = path;
        Frames = frames;
        Fps = fps;
    }

    /// <summary>The decode rate: frames at this rate per second of the video.</summary>
    public const double DecodeFps = 10;

    public string Path { get; }

    public IReadOnlyList<BgrImage> Frames { get; }

    /// <summary>Frames per second of video in <see cref="Frames"/>.</summary>
    public double Fps { get; }

    /// <summary>The length of the video in <see cref="Frames"/>.</summary>
    public TimeSpan Duration => TimeSpan.FromSeconds(Frames.Count / Fps);

    /// <summary>Decodes <paramref name="path"/> at <see cref="DecodeFps"/> and <paramref name="width"/> pixels wide; a file that does not decode to at least one frame throws <see cref="IngestException"/>.</summary>
    public static async Task<ReplayClip> DecodeAsync(string path, int width, CancellationToken cancellationToken)
    {
        var frames = new List<BgrImage>();
        await foreach (var frame in FrameSource.ReadFileAsync(path, new IngestOptions { AnalysisFps = DecodeFps, Width = width }, cancellationToken: cancellationToken))
        {
            frames.Add(frame.Image);
        }

        return frames.Count == 0 ? throw new IngestException($"{path} decoded to no frames") : new ReplayClip(path, frames, DecodeFps);
    }

    /// <summary>The frame shown at <paramref name="at"/> of the video, looping.</summary>
    public BgrImage At(TimeSpan at) => Frames[(int)((long)(at.TotalSeconds * Fps) % Frames.Count)];
}
