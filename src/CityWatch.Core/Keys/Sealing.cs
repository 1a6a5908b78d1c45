using System.Security.Cryptography;

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
}
