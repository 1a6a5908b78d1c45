using System.Security.Cryptography;

namespace CityWatch.AuditLog.Tests;

/// <summary>
/// RFC 6962 section 2.1 written out literally (MTH, PATH, PROOF/SUBPROOF over lists of leaf data), with
/// its own hashing, to cross-check the library.
/// </summary>
internal static class NaiveRfc6962
{
    public static byte[] Mth(IReadOnlyList<byte[]> d)
    {
        var n = d.Count;
        if (n == 0)
        {
            return SHA256.HashData(Array.Empty<byte>());
        }

        if (n == 1)
        {
            return SHA256.HashData([0x00, .. d[0]]);
        }

        var k = K(n);
        return SHA256.HashData([0x01, .. Mth(Slice(d, 0, k)), .. Mth(Slice(d, k, n))]);
    }

    public static List<byte[]> Path(int m, IReadOnlyList<byte[]> d)
    {
        var n = d.Count;
        if (n == 1)
        {
            return [];
        }

        var k = K(n);
        return m < k
            ? [.. Path(m, Slice(d, 0, k)), Mth(Slice(d, k, n))]
            : [.. Path(m - k, Slice(d, k, n)), Mth(Slice(d, 0, k))];
    }

    public static List<byte[]> Proof(int m, IReadOnlyList<byte[]> d) => SubProof(m, d, true);

    private static List<byte[]> SubProof(int m, IReadOnlyList<byte[]> d, bool b)
    {
        var n = d.Count;
        if (m == n)
        {
            return b ? [] : [Mth(d)];
        }

        var k = K(n);
        return m <= k
            ? [.. SubProof(m, Slice(d, 0, k), b), Mth(Slice(d, k, n))]
            : [.. SubProof(m - k, Slice(d, k, n), false), Mth(Slice(d, 0, k))];
    }

    // The largest power of two smaller than n.
    private static int K(int n)
    {
        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }

        return k;
    }

    private static byte[][] Slice(IReadOnlyList<byte[]> d, int from, int to) => [.. d.Skip(from).Take(to - from)];
}
