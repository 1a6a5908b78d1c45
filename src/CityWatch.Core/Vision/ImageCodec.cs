using System.Runtime.InteropServices;
using SkiaSharp;

namespace CityWatch.Vision;

/// <summary>The bytes are not an image we can decode (corrupt, truncated, or another kind of file). Answers 400.</summary>
public sealed class ImageDecodeException(string message) : InvalidRequestException(message);

/// <summary>
/// Decodes photos (JPEG, PNG with or without alpha, WebP, GIF, BMP...) into <see cref="BgrImage"/> with
/// SkiaSharp, turned upright by the EXIF orientation, and encodes a region of a <see cref="BgrImage"/> as
/// JPEG. Alpha is dropped, not blended (the colour under a transparent pixel is kept).
/// </summary>
public static class ImageCodec
{
    /// <summary>The largest image we decode, in pixels (a 100-megapixel photo is 300 MB as BGR).</summary>
    public const long MaxPixels = 100_000_000;

    public static BgrImage DecodeFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new ImageDecodeException($"{path}: no such file.");
        }
        catch (DirectoryNotFoundException)
        {
            throw new ImageDecodeException($"{path}: no such file.");
        }

        return Decode(bytes, Path.GetFileName(path));
    }

    /// <param name="bytes">The encoded image.</param>
    /// <param name="name">Names the image in error messages.</param>
    public static BgrImage Decode(byte[] bytes, string name = "image")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length == 0)
        {
            throw new ImageDecodeException($"{name}: empty file, not an image.");
        }

        // The codec takes ownership of the stream and disposes it.
        using var codec = SKCodec.Create(new MemoryStream(bytes, writable: false), out var created);
        if (codec is null)
        {
            throw new ImageDecodeException($"{name}: not a decodable image ({Describe(created)}).");
        }

        var width = codec.Info.Width;
        var height = codec.Info.Height;
        if (width <= 0 || height <= 0 || (long)width * height > MaxPixels)
        {
            throw new ImageDecodeException($"{name}: image size {width}x{height} is outside what we decode (at most {MaxPixels} pixels).");
        }

        var info = new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Unpremul);
        var bgra = new byte[info.BytesSize64];
        var handle = GCHandle.Alloc(bgra, GCHandleType.Pinned);
        SKCodecResult result;
        try
        {
            result = codec.GetPixels(info, handle.AddrOfPinnedObject());
        }
        finally
        {
            handle.Free();
        }

        if (result != SKCodecResult.Success)
        {
            throw new ImageDecodeException($"{name}: the image data is damaged ({Describe(result)}).");
        }

        return Orient(bgra, width, height, codec.EncodedOrigin);
    }

    /// <summary>The whole image as JPEG.</summary>
    public static byte[] EncodeJpeg(BgrImage image, int quality = 90) => EncodeJpeg(image, PixelRect.Of(image), quality);

    /// <summary>The <paramref name="region"/> of the image as JPEG (quality 1..100).</summary>
    public static byte[] EncodeJpeg(BgrImage image, PixelRect region, int quality = 90)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        if (region.Width <= 0 || region.Height <= 0 || region.X < 0 || region.Y < 0
            || region.X + region.Width > image.Width || region.Y + region.Height > image.Height)
        {
            throw new ArgumentOutOfRangeException(nameof(region), region, $"The region is not inside the {image.Width}x{image.Height} image.");
        }

        var info = new SKImageInfo(region.Width, region.Height, SKColorType.Bgra8888, SKAlphaType.Opaque);
        var bgra = new byte[info.BytesSize64];
        var source = image.Pixels;
        for (var y = 0; y < region.Height; y++)
        {
            var from = ((region.Y + y) * image.Stride) + (region.X * 3);
            var to = y * region.Width * 4;
            for (var x = 0; x < region.Width; x++, from += 3, to += 4)
            {
                bgra[to] = source[from];
                bgra[to + 1] = source[from + 1];
                bgra[to + 2] = source[from + 2];
                bgra[to + 3] = 255;
            }
        }

        var handle = GCHandle.Alloc(bgra, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, handle.AddrOfPinnedObject(), info.RowBytes);
            using var encoded = pixmap.Encode(SKEncodedImageFormat.Jpeg, quality)
                ?? throw new InvalidOperationException("SkiaSharp could not encode the JPEG.");
            return encoded.ToArray();
        }
        finally
        {
            handle.Free();
        }
    }

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput or SKCodecResult.ErrorInInput => "truncated or corrupt data",
        SKCodecResult.Unimplemented => "unsupported format or feature",
        SKCodecResult.InvalidInput => "unrecognised format",
        _ => result.ToString(),
    };

    // Turns the stored BGRA pixels upright per the EXIF orientation and drops alpha.
    private static BgrImage Orient(byte[] bgra, int width, int height, SKEncodedOrigin origin)
    {
        if (origin is SKEncodedOrigin.TopLeft or SKEncodedOrigin.Default)
        {
            var upright = new byte[width * height * 3];
            for (int from = 0, to = 0; to < upright.Length; from += 4, to += 3)
            {
                upright[to] = bgra[from];
                upright[to + 1] = bgra[from + 1];
                upright[to + 2] = bgra[from + 2];
            }

            return new BgrImage(width, height, upright);
        }

        var transposed = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var outWidth = transposed ? height : width;
        var outHeight = transposed ? width : height;
        var output = new byte[outWidth * outHeight * 3];
        var o = 0;
        for (var y = 0; y < outHeight; y++)
        {
            for (var x = 0; x < outWidth; x++, o += 3)
            {
                // (sx, sy) is the stored pixel shown at (x, y).
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (width - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (width - 1 - x, height - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, height - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, height - 1 - x),
                    SKEncodedOrigin.RightBottom => (width - 1 - y, height - 1 - x),
                    SKEncodedOrigin.LeftBottom => (width - 1 - y, x),
                    _ => (x, y),
                };
                var s = ((sy * width) + sx) * 4;
                output[o] = bgra[s];
                output[o + 1] = bgra[s + 1];
                output[o + 2] = bgra[s + 2];
            }
        }

        return new BgrImage(outWidth, outHeight, output);
    }
}
