using System.Security.Cryptography;

namespace CityWatch.Keys;

/// <summary>
/// Shamir secret sharing over GF(256), byte by byte: a random polynomial of degree k-1 per byte whose
/// constant term is the secret byte, evaluated at x = 1..n. Any k points give the polynomial back by
/// Lagrange interpolation at 0; k-1 points leave every value of the secret equally likely.
/// </summary>
/// <remarks>
/// Written here: the package mirror this project builds from holds no secret-sharing library. The field
/// is GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11B); multiplication goes through log and
/// exp tables of the generator 3. Shares carry no integrity of their own: <see cref="CustodianShares"/>
/// adds the checksums.
/// </remarks>
internal static class Shamir
{
    private static readonly byte[] Exp = new byte[510];
    private static readonly byte[] Log = new byte[256];

    static Shamir()
    {
        var value = 1;
        for (var i = 0; i < 255; i++)
        {
            Exp[i] = (byte)value;
            Log[value] = (byte)i;
            // Multiply by the generator 3 = x + 1: value * x XOR value, reduced by 0x11B.
            var doubled = value << 1;
            if ((doubled & 0x100) != 0)
            {
                doubled ^= 0x11B;
            }

            value = doubled ^ value;
        }

        for (var i = 255; i < Exp.Length; i++)
        {
            Exp[i] = Exp[i - 255];
        }
    }

    /// <summary>Splits <paramref name="secret"/> into <paramref name="n"/> points (x, y) any <paramref name="k"/> of which recover it.</summary>
    public static IReadOnlyList<(byte X, byte[] Y)> Split(ReadOnlySpan<byte> secret, int k, int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, k);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(n, 255);
        var length = secret.Length;
        var shares = Enumerable.Range(1, n).Select(x => (X: (byte)x, Y: new byte[length])).ToArray();
        var coefficients = new byte[k];
        try
        {
            for (var i = 0; i < secret.Length; i++)
            {
                coefficients[0] = secret[i];
                RandomNumberGenerator.Fill(coefficients.AsSpan(1));
                foreach (var (x, y) in shares)
                {
                    y[i] = Evaluate(coefficients, x);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(coefficients);
        }

        return shares;
    }

    /// <summary>The value at 0 of the polynomial through the given points (distinct, non-zero x).</summary>
    public static byte[] Combine(IReadOnlyList<(byte X, byte[] Y)> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0)
        {
            throw new ArgumentException("No shares.", nameof(points));
        }

        var length = points[0].Y.Length;
        if (points.Any(p => p.Y.Length != length) || points.Any(p => p.X == 0) || points.Select(p => p.X).Distinct().Count() != points.Count)
        {
            throw new ArgumentException("Shares must have distinct non-zero x and the same length.", nameof(points));
        }

        var secret = new byte[length];
        for (var j = 0; j < points.Count; j++)
        {
            // Lagrange basis at 0: prod over m != j of x_m / (x_m - x_j); subtraction is XOR in GF(2^8).
            byte basis = 1;
            for (var m = 0; m < points.Count; m++)
            {
                if (m != j)
                {
                    basis = Multiply(basis, Divide(points[m].X, (byte)(points[m].X ^ points[j].X)));
                }
            }

            for (var i = 0; i < length; i++)
            {
                secret[i] ^= Multiply(basis, points[j].Y[i]);
            }
        }

        return secret;
    }

    internal static byte Multiply(byte a, byte b) => a == 0 || b == 0 ? (byte)0 : Exp[Log[a] + Log[b]];

    internal static byte Divide(byte a, byte b)
    {
        if (b == 0)
        {
            throw new DivideByZeroException();
        }

        return a == 0 ? (byte)0 : Exp[Log[a] + 255 - Log[b]];
    }

    // Horner's rule, highest coefficient first.
    private static byte Evaluate(byte[] coefficients, byte x)
    {
        byte result = 0;
        for (var i = coefficients.Length - 1; i >= 0; i--)
        {
            result = (byte)(Multiply(result, x) ^ coefficients[i]);
        }

        return result;
    }
}
