namespace CityWatch.Vision;

/// <summary>Why the quality gate turned a face away (<see cref="None"/>: it passed).</summary>
public enum QualityRejection
{
    None,

    /// <summary>Eyes closer together than <see cref="QualityOptions.MinInterEyeDistance"/>.</summary>
    TooSmall,

    /// <summary>Detector score below <see cref="QualityOptions.MinDetectorScore"/>.</summary>
    LowDetectorScore,

    /// <summary>Head tilted sideways (eye line) beyond <see cref="QualityOptions.MaxRollDegrees"/>.</summary>
    Roll,

    /// <summary>Head turned left or right beyond <see cref="QualityOptions.MaxYawDegrees"/>.</summary>
    Yaw,

    /// <summary>Head tipped up or down beyond <see cref="QualityOptions.MaxPitchDegrees"/>.</summary>
    Pitch,

    /// <summary>Too little detail in the aligned chip (variance of the Laplacian below <see cref="QualityOptions.MinSharpness"/>).</summary>
    Blurred,
}

/// <summary>Thresholds of the quality gate, bound from the "Recognition:Quality" configuration section.</summary>
public sealed record QualityOptions
{
    /// <summary>
    /// Faces with eyes closer than this many pixels (in the analysed frame) are not embedded. 12: on the shared
    /// sets degraded to CCTV quality, pairs below it separate poorly (AUC 0.80-0.96) and 2-10 % of impostors
    /// pass the operating threshold; from it up, AUC is 0.99 or better (docs/evaluation.md, "Small faces").
    /// </summary>
    public float MinInterEyeDistance { get; init; } = 12;

    /// <summary>Minimum detector score (YuNet's sqrt(cls * obj)); the detector itself keeps faces from 0.6.</summary>
    public float MinDetectorScore { get; init; } = 0.7f;

    /// <summary>Largest eye-line tilt in degrees.</summary>
    public float MaxRollDegrees { get; init; } = 35;

    /// <summary>Largest head turn in degrees, estimated from the nose's offset from the eye midpoint.</summary>
    public float MaxYawDegrees { get; init; } = 60;

    /// <summary>Largest head tip in degrees, estimated (roughly) from where the nose sits between eyes and mouth.</summary>
    public float MaxPitchDegrees { get; init; } = 40;

    /// <summary>
    /// Minimum variance of the 4-neighbour Laplacian of the grey 112x112 aligned chip (its central face region),
    /// in grey levels squared.
    /// </summary>
    public float MinSharpness { get; init; } = 40;

    /// <summary>A gate that lets every face through (for measuring the gate's effect).</summary>
    public static QualityOptions Off { get; } = new()
    {
        MinInterEyeDistance = 0,
        MinDetectorScore = 0,
        MaxRollDegrees = 180,
        MaxYawDegrees = 90,
        MaxPitchDegrees = 90,
        MinSharpness = 0,
    };

    /// <summary>Throws <see cref="InvalidRequestException"/> naming the first bad setting.</summary>
    public QualityOptions Validate()
    {
        if (MinInterEyeDistance is < 0 or > 1000)
        {
            throw new InvalidRequestException($"Quality:MinInterEyeDistance must be 0..1000 pixels, not {MinInterEyeDistance}.");
        }

        if (MinDetectorScore is < 0 or > 1)
        {
            throw new InvalidRequestException($"Quality:MinDetectorScore must be 0..1, not {MinDetectorScore}.");
        }

        if (MaxRollDegrees is <= 0 or > 180)
        {
            throw new InvalidRequestException($"Quality:MaxRollDegrees must be in (0, 180], not {MaxRollDegrees}.");
        }

        if (MaxYawDegrees is <= 0 or > 90)
        {
            throw new InvalidRequestException($"Quality:MaxYawDegrees must be in (0, 90], not {MaxYawDegrees}.");
        }

        if (MaxPitchDegrees is <= 0 or > 90)
        {
            throw new InvalidRequestException($"Quality:MaxPitchDegrees must be in (0, 90], not {MaxPitchDegrees}.");
        }

        if (MinSharpness < 0 || float.IsNaN(MinSharpness))
        {
            throw new InvalidRequestException($"Quality:MinSharpness must not be negative, not {MinSharpness}.");
        }

        return this;
    }
}

/// <summary>
/// What the gate measured on one face. Angles are in degrees: roll positive when the image-right eye is
/// lower; yaw positive when the nose is to the image right of the eye midpoint; pitch positive when the
/// nose sits nearer the mouth than on a frontal face (head tipped down). <see cref="Score"/> ranks faces
/// of the same person (higher is better): it is used to keep a track's best face.
/// </summary>
public sealed record FaceQuality(
    float InterEyeDistance,
    float DetectorScore,
    float RollDegrees,
    float YawDegrees,
    float PitchDegrees,
    float? Sharpness,
    QualityRejection Rejection)
{
    public bool Accepted => Rejection == QualityRejection.None;

    /// <summary>0..1: detector score x size (full from 40 px between the eyes) x pose (cosines of yaw and pitch) x sharpness (full from 200).</summary>
    public float Score
    {
        get
        {
            var size = Math.Clamp(InterEyeDistance / 40f, 0, 1);
            var pose = MathF.Cos(YawDegrees * MathF.PI / 180) * MathF.Cos(PitchDegrees * MathF.PI / 180);
            var sharp = Sharpness is { } s ? Math.Clamp(s / 200f, 0, 1) : 1;
            return Math.Max(0, DetectorScore * size * pose * (0.5f + (0.5f * sharp)));
        }
    }
}

/// <summary>How many faces the gate has seen, passed, and turned away by reason; safe to read while it runs.</summary>
public sealed record QualityStats(long Assessed, long Accepted, IReadOnlyDictionary<QualityRejection, long> Rejected)
{
    public long RejectedTotal => Rejected.Values.Sum();
}

/// <summary>
/// The quality gate in front of the embedder: a face too small, too weakly detected, turned too far, or
/// too blurred to identify anyone is not embedded. Size, detector score and pose come from the detection
/// (box, score, five landmarks); sharpness is the variance of the Laplacian of the grey aligned chip, so
/// it measures the detail the embedder would actually see. Checks run cheapest first and the first
/// failure is the reason counted. Thread-safe: counters are updated with interlocked operations.
/// </summary>
public sealed class QualityGate
{
    // The frontal nose position between the eye line (0) and the mouth line (1) on the ArcFace template.
    private static readonly float FrontalNoseDepth = NoseDepthOf(FaceAligner.ArcFaceTemplate);

    // The central face region of the 112x112 chip (eyes to chin), away from the black border an edge face gets.
    private const int RegionLeft = 24;
    private const int RegionRight = 88;
    private const int RegionTop = 32;
    private const int RegionBottom = 104;

    private readonly long[] rejected = new long[Enum.GetValues<QualityRejection>().Length];
    private long assessed;
    private long accepted;

    public QualityGate(QualityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Validate();
    }

    public QualityOptions Options { get; }

    /// <summary>Measures <paramref name="face"/> (found in <paramref name="image"/>), decides, and counts the decision.</summary>
    public FaceQuality Assess(BgrImage image, DetectedFace face)
    {
        var quality = Measure(image, face, Options);
        Interlocked.Increment(ref assessed);
        if (quality.Accepted)
        {
            Interlocked.Increment(ref accepted);
        }
        else
        {
            Interlocked.Increment(ref rejected[(int)quality.Rejection]);
        }

        return quality;
    }

    public QualityStats Stats()
    {
        var reasons = new Dictionary<QualityRejection, long>();
        foreach (var reason in Enum.GetValues<QualityRejection>())
        {
            if (reason != QualityRejection.None)
            {
                reasons[reason] = Interlocked.Read(ref rejected[(int)reason]);
            }
        }

        return new QualityStats(Interlocked.Read(ref assessed), Interlocked.Read(ref accepted), reasons);
    }

    /// <summary>Measures a face against <paramref name="options"/> without counting it. Sharpness is computed only if the cheaper checks pass.</summary>
    public static FaceQuality Measure(BgrImage image, DetectedFace face, QualityOptions options)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(face);
        ArgumentNullException.ThrowIfNull(options);
        var (roll, yaw, pitch) = Pose(face.Landmarks);
        var eyes = face.InterEyeDistance;
        var reason = eyes < options.MinInterEyeDistance ? QualityRejection.TooSmall
            : face.Score < options.MinDetectorScore ? QualityRejection.LowDetectorScore
            : MathF.Abs(roll) > options.MaxRollDegrees ? QualityRejection.Roll
            : MathF.Abs(yaw) > options.MaxYawDegrees ? QualityRejection.Yaw
            : MathF.Abs(pitch) > options.MaxPitchDegrees ? QualityRejection.Pitch
            : QualityRejection.None;
        float? sharpness = null;
        if (reason == QualityRejection.None)
        {
            sharpness = Sharpness(FaceAligner.Align(image, face));
            if (sharpness < options.MinSharpness)
            {
                reason = QualityRejection.Blurred;
            }
        }

        return new FaceQuality(eyes, face.Score, roll, yaw, pitch, sharpness, reason);
    }

    /// <summary>
    /// Roll, yaw and pitch in degrees from the five landmarks. Roll is the eye line's angle. The points are
    /// then turned by -roll about the eye midpoint. Yaw is atan of the nose's sideways offset from the eye
    /// midpoint over half the eye distance: on a head turned by θ the half eye distance shrinks to e·cos θ
    /// and the nose tip, taken to stand e in front of the eye line, moves by e·sin θ. Pitch is asin of twice
    /// the nose's shift (as a share of the eye-to-mouth height) from where it sits on a frontal face. Yaw
    /// and pitch are rough: landmarks carry no depth, so they rank faces well but are not calibrated angles.
    /// </summary>
    public static (float Roll, float Yaw, float Pitch) Pose(IReadOnlyList<Point2> landmarks)
    {
        ArgumentNullException.ThrowIfNull(landmarks);
        if (landmarks.Count != 5)
        {
            throw new ArgumentException($"Need the five face landmarks, got {landmarks.Count}.", nameof(landmarks));
        }

        var left = landmarks[0];
        var right = landmarks[1];
        var dx = right.X - left.X;
        var dy = right.Y - left.Y;
        var eyes = MathF.Sqrt((dx * dx) + (dy * dy));
        if (eyes < 1e-3f)
        {
            return (0, 90, 0);
        }

        var roll = MathF.Atan2(dy, dx);
        var cos = MathF.Cos(-roll);
        var sin = MathF.Sin(-roll);
        var centre = new Point2((left.X + right.X) / 2, (left.Y + right.Y) / 2);
        Point2 Upright(Point2 p)
        {
            var x = p.X - centre.X;
            var y = p.Y - centre.Y;
            return new Point2((x * cos) - (y * sin), (x * sin) + (y * cos));
        }

        var nose = Upright(landmarks[2]);
        var mouthY = (Upright(landmarks[3]).Y + Upright(landmarks[4]).Y) / 2;
        var yaw = MathF.Atan(nose.X / (eyes / 2));
        var pitch = mouthY > 1e-3f ? MathF.Asin(Math.Clamp(2 * ((nose.Y / mouthY) - FrontalNoseDepth), -1, 1)) : MathF.PI / 2;
        return (Degrees(roll), Degrees(yaw), Degrees(pitch));
    }

    /// <summary>Variance of the 4-neighbour Laplacian of the grey central face region of a 112x112 aligned chip.</summary>
    public static float Sharpness(BgrImage chip)
    {
        ArgumentNullException.ThrowIfNull(chip);
        if (chip.Width != FaceAligner.ChipSize || chip.Height != FaceAligner.ChipSize)
        {
            throw new ArgumentException($"An aligned chip is {FaceAligner.ChipSize}x{FaceAligner.ChipSize}, not {chip.Width}x{chip.Height}.", nameof(chip));
        }

        const int Size = FaceAligner.ChipSize;
        Span<float> grey = stackalloc float[Size * Size];
        var pixels = chip.Pixels;
        for (int i = 0, p = 0; i < grey.Length; i++, p += 3)
        {
            grey[i] = (0.114f * pixels[p]) + (0.587f * pixels[p + 1]) + (0.299f * pixels[p + 2]);
        }

        double sum = 0, squares = 0;
        var n = 0;
        for (var y = RegionTop; y < RegionBottom; y++)
        {
            for (var x = RegionLeft; x < RegionRight; x++)
            {
                var i = (y * Size) + x;
                double laplacian = grey[i - 1] + grey[i + 1] + grey[i - Size] + grey[i + Size] - (4 * grey[i]);
                sum += laplacian;
                squares += laplacian * laplacian;
                n++;
            }
        }

        var mean = sum / n;
        return (float)((squares / n) - (mean * mean));
    }

    private static float NoseDepthOf(IReadOnlyList<Point2> template)
    {
        var eyeY = (template[0].Y + template[1].Y) / 2;
        var mouthY = (template[3].Y + template[4].Y) / 2;
        return (template[2].Y - eyeY) / (mouthY - eyeY);
    }

    private static float Degrees(float radians) => radians * 180 / MathF.PI;
}
