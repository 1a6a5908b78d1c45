using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CityWatch.Matching;

/// <summary>One gallery row and its cosine score against a probe.</summary>
public readonly record struct GalleryHit(int Row, float Score);

/// <summary>
/// A gallery of L2-normalised templates stored as int8 codes with one float scale per row (a quarter of the
/// float32 bytes), searched exactly: every row is scored, the integer dot product rescaled to a float cosine.
/// The scan is split across cores by row range, and <see cref="SearchBatch"/> scores several probes per pass
/// so that each row is read from memory once for all of them. Kernels: AVX-VNNI where the CPU has it,
/// AVX-512BW widening multiply-add otherwise, and a portable <see cref="Vector256"/> fallback.
/// </summary>
public sealed class Int8Gallery
{
    /// <summary>The largest code magnitude; symmetric, so -128 never occurs and the VNNI bias trick stays exact.</summary>
    public const int Levels = 127;

    private const int Alignment = 64;
    private const int QueryGroup = 4;
    private const int RowsPerPartition = 4096;

    private readonly sbyte[] _codes;
    private readonly float[] _scales;
    private readonly int[] _biases;

    private Int8Gallery(sbyte[] codes, float[] scales, int[] biases, int count, int dimensions, int stride)
    {
        _codes = codes;
        _scales = scales;
        _biases = biases;
        Count = count;
        Dimensions = dimensions;
        Stride = stride;
    }

    public int Count { get; }

    public int Dimensions { get; }

    /// <summary>Bytes per stored row: the dimensions padded with zeros to a multiple of 64.</summary>
    public int Stride { get; }

    /// <summary>The bytes one full scan reads (codes and scales).</summary>
    public long BytesPerScan => (long)Count * (Stride + sizeof(float));

    /// <summary>Which dot-product kernel this CPU runs.</summary>
    public static string Kernel => AvxVnni.IsSupported ? "avx-vnni" : Avx512BW.IsSupported ? "avx512bw" : "vector256";

    /// <summary>Quantises <paramref name="vectors"/> (<paramref name="dimensions"/> floats per row, row after row).</summary>
    public static Int8Gallery Quantise(ReadOnlySpan<float> vectors, int dimensions)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimensions);
        if (vectors.Length % dimensions != 0)
        {
            throw new ArgumentException($"{vectors.Length} floats are not whole rows of {dimensions} dimensions.", nameof(vectors));
        }

        var count = vectors.Length / dimensions;
        var stride = PaddedLength(dimensions);
        if ((long)count * stride > Array.MaxLength)
        {
            throw new ArgumentException($"{count} rows of {dimensions} dimensions exceed one gallery; split it.", nameof(vectors));
        }

        var codes = new sbyte[count * stride];
        var scales = new float[count];
        var biases = new int[count];
        for (var i = 0; i < count; i++)
        {
            var row = codes.AsSpan(i * stride, stride);
            scales[i] = QuantiseVector(vectors.Slice(i * dimensions, dimensions), row);
            var sum = 0;
            foreach (var code in row)
            {
                sum += code;
            }

            // The VNNI kernel multiplies unsigned probe bytes (code + 128) by signed row codes; this undoes the +128.
            biases[i] = 128 * sum;
        }

        return new Int8Gallery(codes, scales, biases, count, dimensions, stride);
    }

    /// <summary>
    /// L2-normalises <paramref name="vector"/> and writes its codes into <paramref name="codes"/> (zero-padded to
    /// its length); returns the scale s such that code * s approximates each normalised component within s / 2.
    /// </summary>
    public static float QuantiseVector(ReadOnlySpan<float> vector, Span<sbyte> codes)
    {
        if (codes.Length < vector.Length)
        {
            throw new ArgumentException("The code buffer is shorter than the vector.", nameof(codes));
        }

        var norm = MathF.Sqrt(WatchlistIndex.Dot(vector, vector));
        var largest = 0f;
        foreach (var value in vector)
        {
            largest = MathF.Max(largest, MathF.Abs(value));
        }

        codes.Clear();
        if (norm == 0 || largest == 0 || !float.IsFinite(norm))
        {
            return 0;
        }

        var scale = largest / norm / Levels;
        var inverse = 1 / (norm * scale);
        for (var i = 0; i < vector.Length; i++)
        {
            codes[i] = (sbyte)Math.Clamp((int)MathF.Round(vector[i] * inverse), -Levels, Levels);
        }

        return scale;
    }

    /// <summary>The dequantised (approximate, normalised) template of one row.</summary>
    public float[] Dequantise(int row)
    {
        var codes = _codes.AsSpan(row * Stride, Dimensions);
        var vector = new float[Dimensions];
        for (var i = 0; i < Dimensions; i++)
        {
            vector[i] = codes[i] * _scales[row];
        }

        return vector;
    }

    /// <summary>The <paramref name="top"/> best rows for one probe, best first.</summary>
    public GalleryHit[] Search(ReadOnlySpan<float> probe, int top) => SearchBatch(probe, top)[0];

    /// <summary>
    /// The <paramref name="top"/> best rows for each of the probes in <paramref name="probes"/> (row after row of
    /// <see cref="Dimensions"/> floats), best first. Every gallery row is read once for the whole batch.
    /// </summary>
    public GalleryHit[][] SearchBatch(ReadOnlySpan<float> probes, int top)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(top);
        if (probes.Length == 0 || probes.Length % Dimensions != 0)
        {
            throw new ArgumentException($"Probes must be whole rows of {Dimensions} dimensions; got {probes.Length} floats.", nameof(probes));
        }

        var queries = probes.Length / Dimensions;
        var queryCodes = new byte[queries * Stride];
        var queryScales = new float[queries];
        var signed = new sbyte[Stride];
        for (var q = 0; q < queries; q++)
        {
            queryScales[q] = QuantiseVector(probes.Slice(q * Dimensions, Dimensions), signed);
            var target = queryCodes.AsSpan(q * Stride, Stride);
            for (var i = 0; i < Stride; i++)
            {
                // Stored with a +128 bias as unsigned bytes (what VNNI takes); the other kernels undo it per lane.
                target[i] = (byte)(signed[i] + 128);
            }
        }

        var partitions = Math.Max(1, (Count + RowsPerPartition - 1) / RowsPerPartition);
        var partial = new TopList[partitions][];
        Parallel.For(0, partitions, p =>
        {
            var lists = new TopList[queries];
            for (var q = 0; q < queries; q++)
            {
                lists[q] = new TopList(top);
            }

            ScanRows(queryCodes, queries, p * RowsPerPartition, Math.Min(Count, (p + 1) * RowsPerPartition), lists);
            partial[p] = lists;
        });

        var results = new GalleryHit[queries][];
        for (var q = 0; q < queries; q++)
        {
            var merged = new TopList(top);
            foreach (var lists in partial)
            {
                lists[q].MergeInto(merged);
            }

            results[q] = merged.ToHits(queryScales[q]);
        }

        return results;
    }

    private void ScanRows(byte[] queryCodes, int queries, int start, int end, TopList[] lists)
    {
        Span<int> dots = stackalloc int[QueryGroup];
        for (var row = start; row < end; row++)
        {
            var codes = _codes.AsSpan(row * Stride, Stride);
            var scale = _scales[row];
            var bias = _biases[row];
            for (var q = 0; q < queries; q += QueryGroup)
            {
                var group = Math.Min(QueryGroup, queries - q);
                DotGroup(codes, queryCodes.AsSpan(q * Stride, group * Stride), group, dots);
                for (var g = 0; g < group; g++)
                {
                    lists[q + g].Offer(row, (dots[g] - bias) * scale);
                }
            }
        }
    }

    /// <summary>
    /// Biased dot products (Σ (probe + 128) · row) of one row against up to four probes, the row's vectors loaded
    /// once per step for all of them.
    /// </summary>
    private static void DotGroup(ReadOnlySpan<sbyte> row, ReadOnlySpan<byte> probes, int group, Span<int> dots)
    {
        var stride = row.Length;
        ref var r = ref MemoryMarshal.GetReference(row);
        ref var p = ref MemoryMarshal.GetReference(probes);
        if (group == QueryGroup && AvxVnni.IsSupported)
        {
            var a0 = Vector256<int>.Zero;
            var a1 = Vector256<int>.Zero;
            var a2 = Vector256<int>.Zero;
            var a3 = Vector256<int>.Zero;
            for (var i = 0; i < stride; i += Vector256<sbyte>.Count)
            {
                var v = Vector256.LoadUnsafe(ref r, (nuint)i);
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, Vector256.LoadUnsafe(ref p, (nuint)i), v);
                a1 = AvxVnni.MultiplyWideningAndAdd(a1, Vector256.LoadUnsafe(ref p, (nuint)(stride + i)), v);
                a2 = AvxVnni.MultiplyWideningAndAdd(a2, Vector256.LoadUnsafe(ref p, (nuint)((2 * stride) + i)), v);
                a3 = AvxVnni.MultiplyWideningAndAdd(a3, Vector256.LoadUnsafe(ref p, (nuint)((3 * stride) + i)), v);
            }

            dots[0] = Vector256.Sum(a0);
            dots[1] = Vector256.Sum(a1);
            dots[2] = Vector256.Sum(a2);
            dots[3] = Vector256.Sum(a3);
            return;
        }

        if (group == QueryGroup && Avx512BW.IsSupported)
        {
            // Widen 32 codes to 16-bit lanes and multiply-add adjacent pairs into 32-bit sums (VPMADDWD).
            var a0 = Vector512<int>.Zero;
            var a1 = Vector512<int>.Zero;
            var a2 = Vector512<int>.Zero;
            var a3 = Vector512<int>.Zero;
            for (var i = 0; i < stride; i += Vector256<sbyte>.Count)
            {
                var v = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, (nuint)i));
                a0 = Avx512BW.Add(a0, Avx512BW.MultiplyAddAdjacent(Widen(ref p, i), v));
                a1 = Avx512BW.Add(a1, Avx512BW.MultiplyAddAdjacent(Widen(ref p, stride + i), v));
                a2 = Avx512BW.Add(a2, Avx512BW.MultiplyAddAdjacent(Widen(ref p, (2 * stride) + i), v));
                a3 = Avx512BW.Add(a3, Avx512BW.MultiplyAddAdjacent(Widen(ref p, (3 * stride) + i), v));
            }

            dots[0] = Vector512.Sum(a0);
            dots[1] = Vector512.Sum(a1);
            dots[2] = Vector512.Sum(a2);
            dots[3] = Vector512.Sum(a3);
            return;
        }

        for (var g = 0; g < group; g++)
        {
            dots[g] = PortableDot(row, probes.Slice(g * stride, stride));
        }
    }

    /// <summary>32 biased probe bytes (0..255) zero-extended to 16-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Widen(ref byte probe, int offset) =>
        Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref probe, (nuint)offset));

    private static int PortableDot(ReadOnlySpan<sbyte> row, ReadOnlySpan<byte> probe)
    {
        var sum = Vector256<int>.Zero;
        var i = 0;
        for (; i <= row.Length - Vector256<sbyte>.Count; i += Vector256<sbyte>.Count)
        {
            var (rowLow, rowHigh) = Vector256.Widen(Vector256.Create(row[i..]));
            var (probeLow, probeHigh) = Vector256.Widen(Vector256.Create(probe[i..]));
            // Products of |row| <= 127 and a biased probe byte <= 255 overflow 16-bit sums, so widen to 32 bits.
            var (rl0, rl1) = Vector256.Widen(rowLow);
            var (rh0, rh1) = Vector256.Widen(rowHigh);
            var (pl0, pl1) = Vector256.Widen(probeLow.AsInt16());
            var (ph0, ph1) = Vector256.Widen(probeHigh.AsInt16());
            sum += (rl0 * pl0) + (rl1 * pl1) + (rh0 * ph0) + (rh1 * ph1);
        }

        var total = Vector256.Sum(sum);
        for (; i < row.Length; i++)
        {
            total += row[i] * probe[i];
        }

        return total;
    }

    private static int PaddedLength(int dimensions) => (dimensions + Alignment - 1) / Alignment * Alignment;

    /// <summary>The best k (row, partial score) pairs seen so far, kept sorted best first.</summary>
    private sealed class TopList(int capacity)
    {
        private readonly int[] _rows = new int[capacity];
        private readonly float[] _scores = new float[capacity];
        private int _count;

        public void Offer(int row, float score)
        {
            if (_count == capacity && score <= _scores[_count - 1])
            {
                return;
            }

            var at = _count == capacity ? capacity - 1 : _count++;
            while (at > 0 && _scores[at - 1] < score)
            {
                _rows[at] = _rows[at - 1];
                _scores[at] = _scores[at - 1];
                at--;
            }

            _rows[at] = row;
            _scores[at] = score;
        }

        public void MergeInto(TopList other)
        {
            for (var i = 0; i < _count; i++)
            {
                other.Offer(_rows[i], _scores[i]);
            }
        }

        public GalleryHit[] ToHits(float queryScale)
        {
            var hits = new GalleryHit[_count];
            for (var i = 0; i < _count; i++)
            {
                hits[i] = new GalleryHit(_rows[i], _scores[i] * queryScale);
            }

            return hits;
        }
    }
}
