namespace CityWatch.Vision;

/// <summary>A 2-D similarity (rotation, uniform scale, translation): u = A x - B y + Tx, v = B x + A y + Ty.</summary>
public readonly record struct SimilarityTransform(double A, double B, double Tx, double Ty)
{
    public double Scale => Math.Sqrt((A * A) + (B * B));

    /// <summary>Rotation in radians.</summary>
    public double Rotation => Math.Atan2(B, A);

    public Point2 Apply(Point2 p) => new((float)((A * p.X) - (B * p.Y) + Tx), (float)((B * p.X) + (A * p.Y) + Ty));

    public SimilarityTransform Inverse()
    {
        var k = (A * A) + (B * B);
        var a = A / k;
        var b = -B / k;
        return new SimilarityTransform(a, b, -((a * Tx) - (b * Ty)), -((b * Tx) + (a * Ty)));
    }
}

/// <summary>
/// Five-point face alignment: the least-squares similarity transform (Umeyama) from the detector's
/// landmarks onto the standard ArcFace 112x112 template, then a bilinear warp into a 112x112 chip
/// (pixels that fall outside the image are black, as in OpenCV's warpAffine).
/// </summary>
public static class FaceAligner
{
    public const int ChipSize = 112;

    /// <summary>The ArcFace template for 112x112: left eye, right eye, nose, left mouth corner, right mouth corner.</summary>
    public static IReadOnlyList<Point2> ArcFaceTemplate { get; } =
    [
        new(38.2946f, 51.6963f),
        new(73.5318f, 51.5014f),
        new(56.0252f, 71.7366f),
        new(41.5493f, 92.3655f),
        new(70.7299f, 92.2041f),
    ];

    /// <summary>
    /// The similarity transform minimising the squared distance from the mapped <paramref name="from"/>
    /// points to <paramref name="to"/>. In 2-D, Umeyama's solution reduces to this closed form (with a
    /// proper rotation, so a mirror image is never produced).
    /// </summary>
    public static SimilarityTransform Estimate(IReadOnlyList<Point2> from, IReadOnlyList<Point2> to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        if (from.Count != to.Count || from.Count < 2)
        {
            throw new ArgumentException($"Need two equal lists of at least 2 points, got {from.Count} and {to.Count}.", nameof(to));
        }

        double mx = 0, my = 0, mu = 0, mv = 0;
        for (var i = 0; i < from.Count; i++)
        {
            mx += from[i].X;
            my += from[i].Y;
            mu += to[i].X;
            mv += to[i].Y;
        }

        mx /= from.Count;
        my /= from.Count;
        mu /= from.Count;
        mv /= from.Count;

        double spread = 0, dot = 0, cross = 0;
        for (var i = 0; i < from.Count; i++)
        {
            var x = from[i].X - mx;
            var y = from[i].Y - my;
            var u = to[i].X - mu;
            var v = to[i].Y - mv;
            spread += (x * x) + (y * y);
            dot += (x * u) + (y * v);
            cross += (x * v) - (y * u);
        }

        if (spread < 1e-9)
        {
            throw new ArgumentException("The landmarks coincide; no transform can be estimated.", nameof(from));
        }

        var a = dot / spread;
        var b = cross / spread;
        return new SimilarityTransform(a, b, mu - ((a * mx) - (b * my)), mv - ((b * mx) + (a * my)));
    }

    /// <summary>The 112x112 aligned chip of <paramref name="face"/>.</summary>
    public static BgrImage Align(BgrImage image, DetectedFace face)
    {
        ArgumentNullException.ThrowIfNull(face);
        var chip = BgrImage.Blank(ChipSize, ChipSize);
        Warp(image, Estimate(face.Landmarks, ArcFaceTemplate), chip.Pixels, ChipSize);
        return chip;
    }

    /// <summary>Fills <paramref name="output"/> (size x size BGR) with the image seen through <paramref name="imageToChip"/>.</summary>
    public static void Warp(BgrImage image, SimilarityTransform imageToChip, Span<byte> output, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (output.Length < size * size * 3)
        {
            throw new ArgumentException($"A {size}x{size} chip needs {size * size * 3} bytes.", nameof(output));
        }

        var back = imageToChip.Inverse();
        var pixels = image.Pixels;
        var width = image.Width;
        var height = image.Height;
        var stride = image.Stride;
        var o = 0;
        for (var v = 0; v < size; v++)
        {
            for (var u = 0; u < size; u++, o += 3)
            {
                var x = (back.A * u) - (back.B * v) + back.Tx;
                var y = (back.B * u) + (back.A * v) + back.Ty;
                var x0 = (int)Math.Floor(x);
                var y0 = (int)Math.Floor(y);
                var fx = (float)(x - x0);
                var fy = (float)(y - y0);
                if (x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height)
                {
                    var p00 = (y0 * stride) + (x0 * 3);
                    var p10 = p00 + 3;
                    var p01 = p00 + stride;
                    var p11 = p01 + 3;
                    for (var c = 0; c < 3; c++)
                    {
                        var top = pixels[p00 + c] + ((pixels[p10 + c] - pixels[p00 + c]) * fx);
                        var bottom = pixels[p01 + c] + ((pixels[p11 + c] - pixels[p01 + c]) * fx);
                        output[o + c] = (byte)Math.Clamp(MathF.Round(top + ((bottom - top) * fy)), 0, 255);
                    }
                }
                else
                {
                    for (var c = 0; c < 3; c++)
                    {
                        float At(int xx, int yy) => xx >= 0 && yy >= 0 && xx < width && yy < height ? pixels[(yy * stride) + (xx * 3) + c] : 0;
                        var top = At(x0, y0) + ((At(x0 + 1, y0) - At(x0, y0)) * fx);
                        var bottom = At(x0, y0 + 1) + ((At(x0 + 1, y0 + 1) - At(x0, y0 + 1)) * fx);
                        output[o + c] = (byte)Math.Clamp(MathF.Round(top + ((bottom - top) * fy)), 0, 255);
                    }
                }
            }
        }
    }
}
