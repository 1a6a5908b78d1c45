namespace CityWatch.Vision;

/// <summary>
/// An 8-bit BGR image, rows packed with no padding (stride = 3 * width). This is what ffmpeg's
/// <c>-pix_fmt bgr24</c> writes and what the YuNet and fr_feature models read, so frames flow from
/// ingest to vision without conversion.
/// </summary>
public sealed class BgrImage
{
    public BgrImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.Length < width * height * 3)
        {
            throw new ArgumentException($"A {width}x{height} BGR image needs {width * height * 3} bytes, got {pixels.Length}.", nameof(pixels));
        }

        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }

    public int Height { get; }

    public int Stride => Width * 3;

    /// <summary>The pixels, row-major, B, G, R per pixel.</summary>
    public byte[] Pixels { get; }

    public static BgrImage Blank(int width, int height) => new(width, height, new byte[width * height * 3]);
}
