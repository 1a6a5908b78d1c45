namespace CityWatch.Ingest;

/// <summary>The size of the raw BGR24 frames ffmpeg writes; each frame is exactly <see cref="ByteCount"/> bytes.</summary>
public readonly record struct FrameSize(int Width, int Height)
{
    public int ByteCount => checked(Width * Height * 3);

    /// <summary>
    /// The analysis size for a source displayed at <paramref name="sourceWidth"/> x <paramref name="sourceHeight"/>:
    /// <paramref name="width"/> wide (or the source's own width if narrower: no upscaling), the height
    /// following the aspect ratio, both rounded to even numbers.
    /// </summary>
    public static FrameSize KeepingAspect(int sourceWidth, int sourceHeight, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sourceWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sourceHeight);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 2);

        var w = Math.Max(2, Math.Min(width, sourceWidth) / 2 * 2);
        var h = Math.Max(2, 2 * (int)Math.Round((double)w * sourceHeight / sourceWidth / 2, MidpointRounding.AwayFromZero));
        return new FrameSize(w, h);
    }

    public override string ToString() => $"{Width}x{Height}";
}
