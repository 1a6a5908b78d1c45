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

    /// <summary>The int8 codes of one row (its dimensions, without the padding).</summary>
    public ReadOnlySpan<sbyte> Codes(int row) => _codes.AsSpan(row * Stride, Dimensions);

    /// <summary>The exact int8 scores of <paramref name="probe"/> against the given rows, in their order.</summary>
    public GalleryHit[] Score(ReadOnlySpan<float> probe, ReadOnlySpan<int> rows)
    {
        if (probe.Length != Dimensions)
        {
            throw new ArgumentException($"Probe has {probe.Length} dimensions; the gallery holds {Dimensions}.", nameof(probe));
        }

        var signed = new sbyte[Stride];
        var probeScale = QuantiseVector(probe, signed);
        var vnni = AvxVnni.IsSupported;
        var biased = new byte[Stride];
        var wide = new short[Stride];
        for (var i = 0; i < Stride; i++)
        {
            biased[i] = (byte)(signed[i] + 128);
            wide[i] = signed[i];
        }

        var hits = new GalleryHit[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            var row = rows[i];
            var codes = _codes.AsSpan(row * Stride, Stride);
            var dot = vnni ? DotOneVnni(codes, biased) - _biases[row] : DotOne(codes, wide);
            hits[i] = new GalleryHit(row, dot * _scales[row] * probeScale);
        }

        return hits;
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
        var probe = new Probes(queries, Stride);
        var signed = new sbyte[Stride];
        for (var q = 0; q < queries; q++)
        {
            probe.Scales[q] = QuantiseVector(probes.Slice(q * Dimensions, Dimensions), signed);
            for (var i = 0; i < Stride; i++)
            {
                probe.Biased[(q * Stride) + i] = (byte)(signed[i] + 128);
                probe.Wide[(q * Stride) + i] = signed[i];
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

            ScanRows(probe, p * RowsPerPartition, Math.Min(Count, (p + 1) * RowsPerPartition), lists);
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

            results[q] = merged.ToHits(probe.Scales[q]);
        }

        return results;
    }

    private void ScanRows(Probes probes, int start, int end, TopList[] lists)
    {
        Span<int> dots = stackalloc int[QueryGroup];
        var vnni = AvxVnni.IsSupported;
        for (var row = start; row < end; row++)
        {
            var codes = _codes.AsSpan(row * Stride, Stride);
            var scale = _scales[row];
            // The VNNI kernel multiplies unsigned probe bytes (code + 128) by signed row codes; the bias undoes the +128.
            var bias = vnni ? _biases[row] : 0;
            var q = 0;
            for (; q + QueryGroup <= probes.Count; q += QueryGroup)
            {
                if (vnni)
                {
                    DotFourVnni(codes, probes.Biased.AsSpan(q * Stride, QueryGroup * Stride), dots);
                }
                else
                {
                    DotFour(codes, probes.Wide.AsSpan(q * Stride, QueryGroup * Stride), dots);
                }

                for (var g = 0; g < QueryGroup; g++)
                {
                    lists[q + g].Offer(row, (dots[g] - bias) * scale);
                }
            }

            for (; q < probes.Count; q++)
            {
                var dot = vnni
                    ? DotOneVnni(codes, probes.Biased.AsSpan(q * Stride, Stride))
                    : DotOne(codes, probes.Wide.AsSpan(q * Stride, Stride));
                lists[q].Offer(row, (dot - bias) * scale);
            }
        }
    }

    /// <summary>Biased dot products Σ (probe + 128) · row of one row against four probes, each row vector loaded once for all four.</summary>
    private static void DotFourVnni(ReadOnlySpan<sbyte> row, ReadOnlySpan<byte> probes, Span<int> dots)
    {
        var stride = row.Length;
        ref var r = ref MemoryMarshal.GetReference(row);
        ref var p = ref MemoryMarshal.GetReference(probes);
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
    }

    private static int DotOneVnni(ReadOnlySpan<sbyte> row, ReadOnlySpan<byte> probe)
    {
        ref var r = ref MemoryMarshal.GetReference(row);
        ref var p = ref MemoryMarshal.GetReference(probe);
        var a0 = Vector256<int>.Zero;
        var a1 = Vector256<int>.Zero;
        for (var i = 0; i < row.Length; i += 2 * Vector256<sbyte>.Count)
        {
            a0 = AvxVnni.MultiplyWideningAndAdd(a0, Vector256.LoadUnsafe(ref p, (nuint)i), Vector256.LoadUnsafe(ref r, (nuint)i));
            a1 = AvxVnni.MultiplyWideningAndAdd(a1, Vector256.LoadUnsafe(ref p, (nuint)(i + 32)), Vector256.LoadUnsafe(ref r, (nuint)(i + 32)));
        }

        return Vector256.Sum(a0 + a1);
    }

    /// <summary>
    /// Dot products of one row against four probes held as 16-bit lanes: the row's codes widened once (AVX-512BW
    /// or Vector256), then a multiply-add of adjacent pairs into 32-bit sums per probe.
    /// </summary>
    private static void DotFour(ReadOnlySpan<sbyte> row, ReadOnlySpan<short> probes, Span<int> dots)
    {
        var stride = row.Length;
        ref var r = ref MemoryMarshal.GetReference(row);
        ref var p = ref MemoryMarshal.GetReference(probes);
        if (Avx512BW.IsSupported)
        {
            var a0 = Vector512<int>.Zero;
            var a1 = Vector512<int>.Zero;
            var a2 = Vector512<int>.Zero;
            var a3 = Vector512<int>.Zero;
            for (var i = 0; i < stride; i += Vector512<short>.Count)
            {
                var v = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, (nuint)i));
                a0 += Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref p, (nuint)i), v);
                a1 += Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref p, (nuint)(stride + i)), v);
                a2 += Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref p, (nuint)((2 * stride) + i)), v);
                a3 += Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref p, (nuint)((3 * stride) + i)), v);
            }

            dots[0] = Vector512.Sum(a0);
            dots[1] = Vector512.Sum(a1);
            dots[2] = Vector512.Sum(a2);
            dots[3] = Vector512.Sum(a3);
            return;
        }

        for (var g = 0; g < QueryGroup; g++)
        {
            dots[g] = DotOne(row, probes.Slice(g * stride, stride));
        }
    }

    private static int DotOne(ReadOnlySpan<sbyte> row, ReadOnlySpan<short> probe)
    {
        ref var r = ref MemoryMarshal.GetReference(row);
        ref var p = ref MemoryMarshal.GetReference(probe);
        if (Avx512BW.IsSupported)
        {
            var a0 = Vector512<int>.Zero;
            var a1 = Vector512<int>.Zero;
            for (var i = 0; i < row.Length; i += 2 * Vector512<short>.Count)
            {
                a0 += Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref p, (nuint)i), Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, (nuint)i)));
                a1 += Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref p, (nuint)(i + 32)), Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref r, (nuint)(i + 32))));
            }

            return Vector512.Sum(a0 + a1);
        }

        // Portable: widen to 16 bits (|products| <= 127 * 127 fit), then to 32 bits to add.
        var sum = Vector256<int>.Zero;
        for (var i = 0; i < row.Length; i += Vector256<sbyte>.Count)
        {
            var (low, high) = Vector256.Widen(Vector256.LoadUnsafe(ref r, (nuint)i));
            var (p0, p1) = Vector256.Widen(low * Vector256.LoadUnsafe(ref p, (nuint)i));
            var (p2, p3) = Vector256.Widen(high * Vector256.LoadUnsafe(ref p, (nuint)(i + Vector256<short>.Count)));
            sum += p0 + p1 + p2 + p3;
        }

        return Vector256.Sum(sum);
    }

    /// <summary>The quantised probes of one search: biased bytes for VNNI, signed 16-bit lanes for the other kernels.</summary>
    private sealed class Probes(int count, int stride)
    {
        public int Count { get; } = count;

        public float[] Scales { get; } = new float[count];

        public byte[] Biased { get; } = new byte[count * stride];

        public short[] Wide { get; } = new short[count * stride];
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
