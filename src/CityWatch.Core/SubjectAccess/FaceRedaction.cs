using CityWatch.Vision;

namespace CityWatch.SubjectAccess;

/// <summary>
/// Hides third parties in an image shown to a data subject: everything outside the subject's own face
/// (grown by a margin) is pixelated, so a face the detector missed is hidden too, and every other detected
/// face is pixelated even where it overlaps the subject's region.
/// </summary>
public static class FaceRedaction
{
    /// <summary>A redacted copy of <paramref name="image"/>; the original is not changed.</summary>
    public static BgrImage Redact(BgrImage image, FaceBox subject, IEnumerable<FaceBox> others)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(others);
        var output = new BgrImage(image.Width, image.Height, (byte[])image.Pixels.Clone());
        var keep = subject.ToPixelRect(image.Width, image.Height, 0.15f);
        var background = Math.Max(8, Math.Min(image.Width, image.Height) / 12);
        Pixelate(output, PixelRect.Of(output), background);
        Restore(output, image, keep);
        foreach (var other in others)
        {
            var region = other.ToPixelRect(image.Width, image.Height, 0.2f);
            Pixelate(output, region, Math.Max(4, region.Width / 6));
        }

        return output;
    }

    /// <summary>Replaces each block of <paramref name="block"/> pixels in <paramref name="region"/> by its mean colour.</summary>
    public static void Pixelate(BgrImage image, PixelRect region, int block)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(block, 1);
        var pixels = image.Pixels;
        for (var by = region.Y; by < region.Y + region.Height; by += block)
        {
            for (var bx = region.X; bx < region.X + region.Width; bx += block)
            {
                var bottom = Math.Min(by + block, region.Y + region.Height);
                var right = Math.Min(bx + block, region.X + region.Width);
                long b = 0, g = 0, r = 0;
                var count = (bottom - by) * (right - bx);
                for (var y = by; y < bottom; y++)
                {
                    for (var x = bx; x < right; x++)
                    {
                        var i = (y * image.Stride) + (x * 3);
                        b += pixels[i];
                        g += pixels[i + 1];
                        r += pixels[i + 2];
                    }
                }

                var (mb, mg, mr) = ((byte)(b / count), (byte)(g / count), (byte)(r / count));
                for (var y = by; y < bottom; y++)
                {
                    for (var x = bx; x < right; x++)
                    {
                        var i = (y * image.Stride) + (x * 3);
                        pixels[i] = mb;
                        pixels[i + 1] = mg;
                        pixels[i + 2] = mr;
                    }
                }
            }
        }
    }

    private static void Restore(BgrImage target, BgrImage source, PixelRect region)
    {
        for (var y = region.Y; y < region.Y + region.Height; y++)
        {
            var offset = (y * source.Stride) + (region.X * 3);
            Array.Copy(source.Pixels, offset, target.Pixels, offset, region.Width * 3);
        }
    }
}
