using System.Security.Cryptography;
using NSec.Cryptography;

namespace CityWatch.ScaleOut;

/// <summary>
/// Sealing to a public key, for what crosses NATS between the server and a worker: a gallery released to a worker
/// (sealed to a key the worker made for that request) and the crops of candidates (sealed to the server's crop key, so
/// that nothing on the wire or in JetStream's files shows a face). An ephemeral X25519 key agrees a secret with the
/// recipient's key; HKDF-SHA256 (salt: both public keys) makes a ChaCha20-Poly1305 key from it. Layout: "CWB1", the
/// ephemeral public key (32 bytes), the nonce (12), the ciphertext with its tag. The associated data binds the box to
/// what it belongs to (a grant id, an alert key). Written on NSec (libsodium) rather than by hand.
/// </summary>
public static class SealedBox
{
    private static readonly byte[] Magic = "CWB1"u8.ToArray();
    private static readonly byte[] Info = "citywatch sealed box v1"u8.ToArray();
    private static readonly KeyAgreementAlgorithm Agreement = KeyAgreementAlgorithm.X25519;
    private static readonly AeadAlgorithm Aead = AeadAlgorithm.ChaCha20Poly1305;
    private const int KeySize = 32;

    private static int HeaderSize => Magic.Length + KeySize + Aead.NonceSize;

    /// <summary>A new key pair for receiving boxes; the private half can be exported only by the caller that asked for it.</summary>
    public static Key NewRecipientKey(bool exportable = false) =>
        Key.Create(Agreement, new KeyCreationParameters { ExportPolicy = exportable ? KeyExportPolicies.AllowPlaintextExport : KeyExportPolicies.None });

    /// <summary>The raw 32-byte public half of <paramref name="key"/>.</summary>
    public static byte[] PublicKeyOf(Key key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    /// <summary>Seals <paramref name="plaintext"/> to the raw X25519 public key <paramref name="recipient"/>.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> recipient, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var recipientKey = ImportPublic(recipient);
        using var ephemeral = Key.Create(Agreement);
        var ephemeralPublic = ephemeral.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        using var secret = Agreement.Agree(ephemeral, recipientKey)
            ?? throw new CryptographicException("The recipient's key agrees no secret (a low-order point).");
        using var key = Derive(secret, ephemeralPublic, recipient);
        var output = new byte[HeaderSize + plaintext.Length + Aead.TagSize];
        Magic.CopyTo(output, 0);
        ephemeralPublic.CopyTo(output, Magic.Length);
        var nonce = output.AsSpan(Magic.Length + KeySize, Aead.NonceSize);
        RandomNumberGenerator.Fill(nonce);
        Aead.Encrypt(key, nonce, associatedData, plaintext, output.AsSpan(HeaderSize));
        return output;
    }

    /// <summary>Opens a box sealed to <paramref name="recipient"/>; a <see cref="CryptographicException"/> if the key, the associated data or a byte is wrong.</summary>
    public static byte[] Open(Key recipient, ReadOnlySpan<byte> box, ReadOnlySpan<byte> associatedData)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        if (box.Length < HeaderSize + Aead.TagSize || !box[..Magic.Length].SequenceEqual(Magic))
        {
            throw new CryptographicException("The value is not a sealed box.");
        }

        var ephemeralPublic = box.Slice(Magic.Length, KeySize);
        using var secret = Agreement.Agree(recipient, ImportPublic(ephemeralPublic))
            ?? throw new CryptographicException("The box's ephemeral key agrees no secret.");
        using var key = Derive(secret, ephemeralPublic, recipient.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        var plaintext = new byte[box.Length - HeaderSize - Aead.TagSize];
        if (!Aead.Decrypt(key, box.Slice(Magic.Length + KeySize, Aead.NonceSize), associatedData, box[HeaderSize..], plaintext))
        {
            throw new CryptographicException("The sealed box does not open: another key, other associated data, or altered bytes.");
        }

        return plaintext;
    }

    private static PublicKey ImportPublic(ReadOnlySpan<byte> raw) =>
        raw.Length == KeySize
            ? PublicKey.Import(Agreement, raw, KeyBlobFormat.RawPublicKey)
            : throw new CryptographicException($"An X25519 public key is {KeySize} bytes, not {raw.Length}.");

    private static Key Derive(SharedSecret secret, ReadOnlySpan<byte> ephemeralPublic, ReadOnlySpan<byte> recipientPublic)
    {
        Span<byte> salt = stackalloc byte[2 * KeySize];
        ephemeralPublic.CopyTo(salt);
        recipientPublic.CopyTo(salt[KeySize..]);
        return KeyDerivationAlgorithm.HkdfSha256.DeriveKey(secret, salt, Info, Aead);
    }
}
