using System.Security.Cryptography;
using System.Text;

namespace CityWatch.Keys;

/// <summary>
/// AES-256-GCM with a random 12-byte nonce: "CWS1", nonce, 16-byte tag, ciphertext. The associated data
/// binds a sealed value to what it belongs to (a key name, a watchlist entry id).
/// </summary>
internal static class Sealing
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Magic = "CWS1"u8.ToArray();

    public static int Overhead => Magic.Length + NonceSize + TagSize;

    /// <summary>What a sealed secret stored in a text column starts with (then the sealed bytes in base64).</summary>
    public const string TextPrefix = "sealed:";

    public static bool LooksSealed(ReadOnlySpan<byte> value) => value.Length >= Overhead && value[..Magic.Length].SequenceEqual(Magic);

    public static byte[] Seal(byte[] key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var output = new byte[Overhead + plaintext.Length];
        Magic.CopyTo(output, 0);
        var nonce = output.AsSpan(Magic.Length, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(Overhead), output.AsSpan(Magic.Length + NonceSize, TagSize), associatedData);
        return output;
    }

    /// <summary>The plaintext; a <see cref="CryptographicException"/> if the key, the associated data or the bytes are wrong.</summary>
    public static byte[] Open(byte[] key, byte[] sealedValue, ReadOnlySpan<byte> associatedData)
    {
        if (!LooksSealed(sealedValue))
        {
            throw new CryptographicException("The value is not in the sealed format.");
        }

        var plaintext = new byte[sealedValue.Length - Overhead];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(
            sealedValue.AsSpan(Magic.Length, NonceSize),
            sealedValue.AsSpan(Overhead),
            sealedValue.AsSpan(Magic.Length + NonceSize, TagSize),
            plaintext,
            associatedData);
        return plaintext;
    }

    public static bool IsSealedText(string? value) => value is not null && value.StartsWith(TextPrefix, StringComparison.Ordinal);

    /// <summary>A secret for a text column (a TOTP secret): <see cref="TextPrefix"/> and the sealed UTF-8 bytes in base64.</summary>
    public static string SealText(byte[] key, string plaintext, string binding) =>
        TextPrefix + Convert.ToBase64String(Seal(key, Encoding.UTF8.GetBytes(plaintext), Encoding.UTF8.GetBytes(binding)));

    /// <summary>The secret <see cref="SealText"/> sealed; a <see cref="CryptographicException"/> if anything is wrong.</summary>
    public static string OpenText(byte[] key, string value, string binding)
    {
        if (!IsSealedText(value))
        {
            throw new CryptographicException("The value is not in the sealed text format.");
        }

        return Encoding.UTF8.GetString(Open(key, Convert.FromBase64String(value[TextPrefix.Length..]), Encoding.UTF8.GetBytes(binding)));
    }
}
