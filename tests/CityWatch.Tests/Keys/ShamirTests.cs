using System.Security.Cryptography;
using CityWatch.Keys;

namespace CityWatch.Tests.Keys;

public sealed class ShamirTests
{
    [Fact]
    public void Multiplication_in_gf256_uses_the_aes_field()
    {
        // FIPS-197 §4.2: {57} • {83} = {c1}, and {53} and {ca} are each other's inverse.
        Assert.Equal(0xC1, Shamir.Multiply(0x57, 0x83));
        Assert.Equal(0x01, Shamir.Multiply(0x53, 0xCA));
        for (var a = 1; a < 256; a++)
        {
            for (var b = 1; b < 256; b++)
            {
                Assert.Equal((byte)a, Shamir.Divide(Shamir.Multiply((byte)a, (byte)b), (byte)b));
            }
        }
    }

    [Fact]
    public void Any_k_of_n_shares_recover_the_key()
    {
        var kek = KeyEncryptionKey.Generate();
        var shares = kek.Split(3, 5);

        Assert.Equal(5, shares.Count);
        Assert.All(shares, s => Assert.StartsWith("cwshare1-3-", s, StringComparison.Ordinal));
        foreach (var subset in Subsets(shares, 3).Concat(Subsets(shares, 4)).Append(shares))
        {
            Assert.Equal(kek.Id, KeyEncryptionKey.FromShares(subset).Id);
        }
    }

    [Fact]
    public void Fewer_than_k_shares_are_refused_and_interpolate_to_something_else()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        var points = Shamir.Split(secret, 3, 5);

        Assert.Equal(secret, Shamir.Combine([points[0], points[3], points[4]]));
        // Two points of a degree-2 polynomial: the line through them meets 0 elsewhere (all but surely).
        Assert.NotEqual(secret, Shamir.Combine([points[0], points[3]]));

        var shares = KeyEncryptionKey.Generate().Split(3, 5);
        var refused = Assert.Throws<InvalidShareException>(() => KeyEncryptionKey.FromShares([shares[0], shares[1]]));
        Assert.Contains("needs 3", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_single_share_reveals_nothing_about_a_byte_of_the_key()
    {
        // For a fixed share point, every key byte value is consistent with some polynomial: over many splits
        // of the same secret the share byte takes every value, not one tied to the secret.
        var secret = new byte[] { 0x42 };
        var seen = new HashSet<byte>();
        for (var i = 0; i < 6000; i++)
        {
            seen.Add(Shamir.Split(secret, 2, 2)[0].Y[0]);
        }

        Assert.Equal(256, seen.Count);
    }

    [Fact]
    public void A_corrupted_share_is_detected_and_named()
    {
        var shares = KeyEncryptionKey.Generate().Split(2, 3);
        var damaged = shares[1][..^10] + (shares[1][^10] == 'a' ? 'b' : 'a') + shares[1][^9..];

        var refused = Assert.Throws<InvalidShareException>(() => KeyEncryptionKey.FromShares([shares[0], damaged]));

        Assert.Contains("Share 2", refused.Message, StringComparison.Ordinal);
        Assert.Contains("corrupted", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(shares[1][20..40], refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Shares_of_different_splits_or_the_same_share_twice_are_refused()
    {
        var first = KeyEncryptionKey.Generate().Split(2, 3);
        var second = KeyEncryptionKey.Generate().Split(2, 3);

        Assert.Throws<InvalidShareException>(() => KeyEncryptionKey.FromShares([first[0], second[1]]));
        Assert.Throws<InvalidShareException>(() => KeyEncryptionKey.FromShares([first[0], first[0]]));
        Assert.Throws<InvalidShareException>(() => KeyEncryptionKey.FromShares([first[0], "cwshare1-2-9-zz"]));
        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Generate().Split(1, 3));
        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Generate().Split(4, 3));
    }

    private static IEnumerable<IReadOnlyList<string>> Subsets(IReadOnlyList<string> items, int size)
    {
        if (size == 0)
        {
            yield return [];
            yield break;
        }

        for (var i = 0; i <= items.Count - size; i++)
        {
            foreach (var rest in Subsets(items.Skip(i + 1).ToList(), size - 1))
            {
                yield return [items[i], .. rest];
            }
        }
    }
}
