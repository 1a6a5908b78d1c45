using CityWatch.Vision;

namespace CityWatch.Ingest;

/// <summary>
/// Decides, per frame of one camera, whether the frame is worth analysing: it is when its picture changed
/// since the last analysed frame. Each frame is reduced to a small luma copy (<see cref="Width"/> x
/// <see cref="Height"/>, each cell the mean grey level of its block of pixels); the frame passes when the mean
/// absolute difference from the last analysed frame's copy is at least the threshold, or when at least
/// <see cref="ChangedCells"/> cells changed by <see cref="CellChange"/> grey levels or more (one small person
/// walking through a wide view moves the mean by well under a grey level, but a few cells by tens), and in any case once
/// <paramref name="maxSkip"/> has gone by since the last analysed frame (a person standing still is still
/// seen). The first frame always passes. Not biometric: it looks at the whole picture, never at a face.
/// One instance per camera; not thread-safe.
/// </summary>
/// <param name="threshold">Mean absolute difference in grey levels (0-255) below which a frame is skipped; 0 lets every frame pass.</param>
/// <param name="maxSkip">The longest run of skipped frames, in time since the last analysed frame.</param>
public sealed class MotionGate(double threshold, TimeSpan maxSkip)
{
    public const int Width = 64;
    public const int Height = 36;

    /// <summary>A cell whose mean grey level moved this much changed (pixel and compression noise move a cell's mean by a level or two).</summary>
    public const int CellChange = 16;

    /// <summary>This many changed cells let a frame through whatever the mean difference.</summary>
    public const int ChangedCells = 3;

    private readonly byte[] _current = new byte[Width * Height];
    private readonly byte[] _reference = new byte[Width * Height];
    private TimeSpan? _referenceAt;

    public MotionGate(IngestOptions options)
        : this(options?.MotionThreshold ?? throw new ArgumentNullException(nameof(options)), options.MotionMaxSkip)
    {
    }

    /// <summary>Frames that passed (analysed).</summary>
    public long Passed { get; private set; }

    /// <summary>Frames skipped because nothing moved.</summary>
    public long Skipped { get; private set; }

    /// <summary>The mean absolute difference of the last frame from the last analysed frame (0 for a first frame).</summary>
    public double LastDifference { get; private set; }

    /// <summary>Takes the next frame, taken at <paramref name="at"/> (any clock that only goes forward); true if it should be analysed.</summary>
    public bool ShouldAnalyse(BgrImage frame, TimeSpan at)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (threshold <= 0)
        {
            Passed++;
            return true;
        }

        Reduce(frame, _current);
        if (_referenceAt is not { } since)
        {
            LastDifference = 0;
            return Pass(at);
        }

        var (mean, changed) = Compare(_current, _reference);
        LastDifference = mean;
        if (mean >= threshold || changed >= ChangedCells || at - since >= maxSkip)
        {
            return Pass(at);
        }

        Skipped++;
        return false;
    }

    /// <summary>
    /// The mean grey level of each of the Width x Height blocks of <paramref name="frame"/> (BT.601 weights, integer),
    /// over every other pixel of every other row of the block (a quarter of the reads; the mean barely moves).
    /// </summary>
    internal static void Reduce(BgrImage frame, byte[] luma)
    {
        var pixels = frame.Pixels;
        for (var cy = 0; cy < Height; cy++)
        {
            var y0 = cy * frame.Height / Height;
            var y1 = Math.Max(y0 + 1, (cy + 1) * frame.Height / Height);
            for (var cx = 0; cx < Width; cx++)
            {
                var x0 = cx * frame.Width / Width;
                var x1 = Math.Max(x0 + 1, (cx + 1) * frame.Width / Width);
                long sum = 0;
                long count = 0;
                for (var y = y0; y < y1; y += 2)
                {
                    var row = (y * frame.Stride) + (x0 * 3);
                    for (var x = x0; x < x1; x += 2, row += 6, count++)
                    {
                        // Y = 0.114 B + 0.587 G + 0.299 R, in 1/1024ths.
                        sum += (117 * pixels[row]) + (601 * pixels[row + 1]) + (306 * pixels[row + 2]);
                    }
                }

                luma[(cy * Width) + cx] = (byte)(sum / (count * 1024));
            }
        }
    }

    /// <summary>The mean absolute difference of two luma copies, and how many cells differ by at least <see cref="CellChange"/>.</summary>
    private static (double Mean, int Changed) Compare(byte[] a, byte[] b)
    {
        long sum = 0;
        var changed = 0;
        for (var i = 0; i < a.Length; i++)
        {
            var d = Math.Abs(a[i] - b[i]);
            sum += d;
            if (d >= CellChange)
            {
                changed++;
            }
        }

        return ((double)sum / a.Length, changed);
    }

    private bool Pass(TimeSpan at)
    {
        _current.CopyTo(_reference, 0);
        _referenceAt = at;
        Passed++;
        return true;
    }
}
