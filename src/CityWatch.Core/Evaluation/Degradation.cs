using System.Globalization;
using System.Runtime.InteropServices;
using CityWatch.Vision;
using SkiaSharp;

namespace CityWatch.Evaluation;

/// <summary>
/// A CCTV-like degradation applied to every image of a labelled set before the pipeline sees it
/// (`eval verify|detect --degrade width=W,blur=S,jpeg=Q[,upscale=F]`), in this order: downscale to
/// <see cref="Width"/> pixels wide keeping the aspect (an image already at most that wide is not enlarged),
/// Gaussian blur of sigma <see cref="Blur"/> (0: none), JPEG re-encode at quality <see cref="Jpeg"/>, and
/// optionally upscale by <see cref="Upscale"/>, as a viewer or a camera's digital zoom would. All of it is
/// SkiaSharp on the CPU raster backend, so the same image degraded twice gives the same pixels.
/// </summary>
public sealed record Degradation(int Width, float Blur, int Jpeg, float Upscale)
{
    public const int MinWidth = 16;
    public const int MaxWidth = 4096;
    public const float MaxBlur = 20;
    public const float MaxUpscale = 8;

    /// <summary>The spec as it is written on the command line, in canonical order.</summary>
    public string Spec => Upscale == 1
        ? Invariant($"width={Width},blur={Blur},jpeg={Jpeg}")
        : Invariant($"width={Width},blur={Blur},jpeg={Jpeg},upscale={Upscale}");

    /// <summary>A file-name part: <c>w200-b0.7-q30-x2</c>.</summary>
    public string FileTag => Upscale == 1
        ? Invariant($"w{Width}-b{Blur}-q{Jpeg}")
        : Invariant($"w{Width}-b{Blur}-q{Jpeg}-x{Upscale}");

    /// <summary>For chart titles and reports: <c>degraded to 200 px wide, blur 0.7, JPEG 30, upscaled x2</c>.</summary>
    public string Description => Invariant($"degraded to {Width} px wide, blur {Blur}, JPEG {Jpeg}") + (Upscale == 1 ? "" : Invariant($", upscaled x{Upscale}"));

    /// <summary>
    /// Parses <c>width=W,blur=S,jpeg=Q[,upscale=F]</c>. Throws <see cref="InvalidRequestException"/> with a
    /// one-line message naming the problem.
    /// </summary>
    public static Degradation Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
        {
            throw Bad(spec, "it is empty");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in spec.Split(','))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw Bad(spec, $"'{part.Trim()}' is not key=value");
            }

            var key = part[..equals].Trim().ToLowerInvariant();
            if (key is not ("width" or "blur" or "jpeg" or "upscale"))
            {
                throw Bad(spec, $"unknown key '{key}' (use width, blur, jpeg, upscale)");
            }

            if (!values.TryAdd(key, part[(equals + 1)..].Trim()))
            {
                throw Bad(spec, $"'{key}' is given twice");
            }
        }

        foreach (var required in new[] { "width", "blur", "jpeg" })
        {
            if (!values.ContainsKey(required))
            {
                throw Bad(spec, $"'{required}' is missing");
            }
        }

        var width = Integer(spec, "width", values["width"], MinWidth, MaxWidth);
        var blur = Real(spec, "blur", values["blur"], 0, MaxBlur);
        var jpeg = Integer(spec, "jpeg", values["jpeg"], 1, 100);
        var upscale = values.TryGetValue("upscale", out var f) ? Real(spec, "upscale", f, 1, MaxUpscale) : 1;
        return new Degradation(width, blur, jpeg, upscale);
    }

    /// <summary>The degraded image (a new one; <paramref name="image"/> is left as it is).</summary>
    public BgrImage Apply(BgrImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var original = ToBitmap(image);
        var width = Math.Min(Width, image.Width);
        var height = Math.Max(1, (int)Math.Round(image.Height * (double)width / image.Width));
        // Linear filtering between linear mipmaps: an area-like average, no aliasing on a large reduction.
        using var small = Draw(original, width, height, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear), Blur);
        var compressed = ImageCodec.Decode(ImageCodec.EncodeJpeg(FromBitmap(small), Jpeg), "degraded image");
        if (Upscale == 1)
        {
            return compressed;
        }

        using var decoded = ToBitmap(compressed);
        using var large = Draw(
            decoded,
            Math.Max(1, (int)Math.Round(width * Upscale)),
            Math.Max(1, (int)Math.Round(compressed.Height * Upscale)),
            new SKSamplingOptions(SKCubicResampler.Mitchell),
            0);
        return FromBitmap(large);
    }

    public override string ToString() => Spec;

    // The source drawn at width x height through the sampling, and through a Gaussian blur of that sigma
    // (in output pixels) when it is above 0; the edges are clamped, so the border does not darken.
    private static SKBitmap Draw(SKBitmap source, int width, int height, SKSamplingOptions sampling, float blur)
    {
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(target);
        using var image = SKImage.FromBitmap(source);
        canvas.DrawImage(image, SKRect.Create(width, height), sampling);
        canvas.Flush();
        if (blur <= 0)
        {
            return target;
        }

        using (target)
        {
            var blurred = new SKBitmap(target.Info);
            using var blurCanvas = new SKCanvas(blurred);
            using var resized = SKImage.FromBitmap(target);
            using var filter = SKImageFilter.CreateBlur(blur, blur, SKShaderTileMode.Clamp);
            using var paint = new SKPaint { ImageFilter = filter };
            blurCanvas.DrawImage(resized, 0, 0, SKSamplingOptions.Default, paint);
            blurCanvas.Flush();
            return blurred;
        }
    }

    private static SKBitmap ToBitmap(BgrImage image)
    {
        var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Bgra8888, SKAlphaType.Opaque));
        var bgra = bitmap.GetPixelSpan();
        var bgr = image.Pixels;
        for (int from = 0, to = 0; to < bgra.Length; from += 3, to += 4)
        {
            bgra[to] = bgr[from];
            bgra[to + 1] = bgr[from + 1];
            bgra[to + 2] = bgr[from + 2];
            bgra[to + 3] = 255;
        }

        return bitmap;
    }

    private static BgrImage FromBitmap(SKBitmap bitmap)
    {
        ReadOnlySpan<byte> bgra = bitmap.GetPixelSpan();
        if (bitmap.RowBytes != bitmap.Width * 4)
        {
            throw new InvalidOperationException("SkiaSharp gave padded rows.");
        }

        var bgr = new byte[bitmap.Width * bitmap.Height * 3];
        for (int from = 0, to = 0; to < bgr.Length; from += 4, to += 3)
        {
            bgr[to] = bgra[from];
            bgr[to + 1] = bgra[from + 1];
            bgr[to + 2] = bgra[from + 2];
        }

        return new BgrImage(bitmap.Width, bitmap.Height, bgr);
    }

    private static int Integer(string spec, string key, string text, int min, int max) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw Bad(spec, Invariant($"{key} must be a whole number {min}..{max}, not '{text}'"));

    private static float Real(string spec, string key, string text, float min, float max) =>
        float.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw Bad(spec, Invariant($"{key} must be a number {min}..{max}, not '{text}'"));

    private static InvalidRequestException Bad(string? spec, string problem) =>
        new($"--degrade '{spec}': {problem}; expected width=W,blur=S,jpeg=Q[,upscale=F], e.g. width=200,blur=0.7,jpeg=30,upscale=2");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
