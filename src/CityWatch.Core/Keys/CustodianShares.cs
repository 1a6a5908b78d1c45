using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace CityWatch.Keys;

/// <summary>
/// The key-encryption key as k-of-n custodian shares, each one line of text
/// <c>cwshare1-&lt;k&gt;-&lt;x&gt;-&lt;hex&gt;</c>. The hex is the share (of the key followed by a 4-byte check of
/// the key) and a 4-byte checksum of the line, so a mistyped or damaged share is named as such, and a set
/// of shares that recombines to the wrong key (shares of different splits) is refused too.
/// </summary>
internal static class CustodianShares
{
    public const string Prefix = "cwshare1";
    private const int CheckSize = 4;

    public static IReadOnlyList<string> Split(ReadOnlySpan<byte> key, int k, int n)
    {
        if (k < 2 || n < k || n > 255)
        {
            throw new KeyEncryptionKeyException($"A split needs 2 <= k <= n <= 255 (got k={k}, n={n}).");
        }

        var payload = new byte[key.Length + CheckSize];
        try
        {
            key.CopyTo(payload);
            KeyCheck(key).CopyTo(payload, key.Length);
            return Shamir.Split(payload, k, n).Select(p => Format(k, p.X, p.Y)).ToList();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(payload);
        }
    }

    /// <summary>The key the shares recombine to; every share must be well formed and at least k of them given.</summary>
    public static byte[] Combine(IEnumerable<string> lines)
    {
        var shares = lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(Parse).ToList();
        if (shares.Count == 0)
        {
            throw new InvalidShareException("No custodian share was given.");
        }

        var k = shares[0].K;
        if (shares.Any(s => s.K != k))
        {
            throw new InvalidShareException("The shares do not agree on k: they come from different splits.");
        }

        var distinct = shares.DistinctBy(s => s.X).ToList();
        if (distinct.Count != shares.Count)
        {
            throw new InvalidShareException("The same share was given twice.");
        }

        if (distinct.Count < k)
        {
            throw new InvalidShareException($"{distinct.Count} share(s) given; this key needs {k}.");
        }

        var payload = Shamir.Combine(distinct.Select(s => (s.X, s.Y)).ToList());
        try
        {
            var key = payload.AsSpan(0, payload.Length - CheckSize).ToArray();
            if (!CryptographicOperations.FixedTimeEquals(KeyCheck(key), payload.AsSpan(payload.Length - CheckSize)))
            {
                CryptographicOperations.ZeroMemory(key);
                throw new InvalidShareException("The shares recombine to no valid key: they come from different splits, or one was altered.");
            }

            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(payload);
        }
    }

    private static string Format(int k, byte x, byte[] y)
    {
        var head = string.Create(CultureInfo.InvariantCulture, $"{Prefix}-{k}-{x}-");
        var hex = Convert.ToHexStringLower(y);
        return head + hex + Convert.ToHexStringLower(LineChecksum(head + hex));
    }

    private static (int K, byte X, byte[] Y) Parse(string line)
    {
        var parts = line.Split('-');
        if (parts.Length != 4 || parts[0] != Prefix
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var k) || k is < 2 or > 255
            || !byte.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var x) || x == 0
            || parts[3].Length <= 2 * CheckSize || parts[3].Length % 2 != 0 || !parts[3].All(Uri.IsHexDigit))
        {
            throw new InvalidShareException($"'{Abbreviate(line)}' is not a custodian share ({Prefix}-<k>-<x>-<hex>).");
        }

        var bytes = Convert.FromHexString(parts[3]);
        var y = bytes.AsSpan(0, bytes.Length - CheckSize).ToArray();
        var head = string.Create(CultureInfo.InvariantCulture, $"{Prefix}-{k}-{x}-");
        if (!CryptographicOperations.FixedTimeEquals(LineChecksum(head + Convert.ToHexStringLower(y)), bytes.AsSpan(bytes.Length - CheckSize)))
        {
            throw new InvalidShareException($"Share {x} (of k={k}) is corrupted: its checksum does not match. Re-enter it from the custodian's copy.");
        }

        return (k, x, y);
    }

    private static byte[] LineChecksum(string text) => SHA256.HashData(Encoding.ASCII.GetBytes(text)).AsSpan(0, CheckSize).ToArray();

    private static byte[] KeyCheck(ReadOnlySpan<byte> key)
    {
        var input = new byte["citywatch kek check".Length + key.Length];
        Encoding.ASCII.GetBytes("citywatch kek check", input);
        key.CopyTo(input.AsSpan("citywatch kek check".Length));
        var check = SHA256.HashData(input).AsSpan(0, CheckSize).ToArray();
        CryptographicOperations.ZeroMemory(input);
        return check;
    }

    // Never echo a whole share into an error message or log.
    private static string Abbreviate(string line) => line.Length <= 16 ? line : line[..16] + "…";
}
