using System.Text.Json.Serialization;

namespace CityWatch.Vision;

/// <summary>A point in image pixel coordinates (x right, y down, origin at the top-left pixel's centre).</summary>
public readonly record struct Point2(float X, float Y)
{
    public float DistanceTo(Point2 other) => MathF.Sqrt(((X - other.X) * (X - other.X)) + ((Y - other.Y) * (Y - other.Y)));
}

/// <summary>An axis-aligned box in image pixel coordinates.</summary>
public readonly record struct FaceBox(float X, float Y, float Width, float Height)
{
    [JsonIgnore]
    public float Right => X + Width;

    [JsonIgnore]
    public float Bottom => Y + Height;

    [JsonIgnore]
    public float Area => Width * Height;

    [JsonIgnore]
    public Point2 Centre => new(X + (Width / 2), Y + (Height / 2));

    /// <summary>Intersection over union with <paramref name="other"/>, 0 when they do not overlap.</summary>
    public float IoU(FaceBox other)
    {
        var w = MathF.Min(Right, other.Right) - MathF.Max(X, other.X);
        var h = MathF.Min(Bottom, other.Bottom) - MathF.Max(Y, other.Y);
        if (w <= 0 || h <= 0)
        {
            return 0;
        }

        var intersection = w * h;
        return intersection / (Area + other.Area - intersection);
    }

    /// <summary>
    /// The whole-pixel rectangle covering this box grown by <paramref name="margin"/> of its size on each
    /// side, clipped to a <paramref name="imageWidth"/> x <paramref name="imageHeight"/> image.
    /// </summary>
    public PixelRect ToPixelRect(int imageWidth, int imageHeight, float margin = 0)
    {
        var left = (int)MathF.Floor(X - (margin * Width));
        var top = (int)MathF.Floor(Y - (margin * Height));
        var right = (int)MathF.Ceiling(Right + (margin * Width));
        var bottom = (int)MathF.Ceiling(Bottom + (margin * Height));
        left = Math.Clamp(left, 0, imageWidth - 1);
        top = Math.Clamp(top, 0, imageHeight - 1);
        right = Math.Clamp(right, left + 1, imageWidth);
        bottom = Math.Clamp(bottom, top + 1, imageHeight);
        return new PixelRect(left, top, right - left, bottom - top);
    }
}

/// <summary>A rectangle of whole pixels.</summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height)
{
    public static PixelRect Of(BgrImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return new PixelRect(0, 0, image.Width, image.Height);
    }
}

/// <summary>
/// A face found by the detector, in the original image's pixel coordinates: its box, its score (0..1) and
/// five landmarks in the ArcFace template's order: image-left eye, image-right eye, nose tip, image-left
/// mouth corner, image-right mouth corner.
/// </summary>
public sealed record DetectedFace(FaceBox Box, float Score, IReadOnlyList<Point2> Landmarks)
{
    public Point2 LeftEye => Landmarks[0];

    public Point2 RightEye => Landmarks[1];

    public Point2 Nose => Landmarks[2];

    public Point2 LeftMouth => Landmarks[3];

    public Point2 RightMouth => Landmarks[4];

    /// <summary>Distance between the eye landmarks in pixels: a face-size measure for quality gates.</summary>
    public float InterEyeDistance => LeftEye.DistanceTo(RightEye);
}
