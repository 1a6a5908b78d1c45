using System.Globalization;
using System.Text;
using NSec.Cryptography;

namespace CityWatch.AuditLog;

/// <summary>
/// Signs note texts with an Ed25519 key under a name. The private key string is the Go note format
/// <c>PRIVATE+KEY+name+hexID+base64(0x01 || seed)</c>, so that standard tools can read it.
/// </summary>
public sealed class NoteSigner : IDisposable
{
    private const string PrivatePrefix = "PRIVATE+KEY+";
    private readonly Key _key;

    private NoteSigner(string name, Key key)
    {
        Name = name;
        _key = key;
        PublicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        KeyId = KeyIds.Compute(name, KeyIds.Ed25519, PublicKey);
    }

    public string Name { get; }

    public uint KeyId { get; }

    public byte[] PublicKey { get; }

    /// <summary>The verifier key string <c>name+hexID+base64(0x01 || public key)</c> to publish.</summary>
    public string VerifierKey => NoteVerifier.FormatKey(Name, KeyIds.Ed25519, PublicKey);

    public static NoteSigner Generate(string name)
    {
        SignedNote.CheckName(name);
        var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return new NoteSigner(name, key);
    }

    public static NoteSigner FromPrivateKey(string privateKey)
    {
        ArgumentNullException.ThrowIfNull(privateKey);
        privateKey = privateKey.Trim();
        if (!privateKey.StartsWith(PrivatePrefix, StringComparison.Ordinal))
        {
            throw new MalformedNoteException("A private key string starts with PRIVATE+KEY+.");
        }

        var (name, keyId, type, seed) = NoteVerifier.SplitKey(privateKey[PrivatePrefix.Length..]);
        if (type != KeyIds.Ed25519 || seed.Length != 32)
        {
            throw new MalformedNoteException("Only Ed25519 private keys (type 0x01, 32-byte seed) are supported.");
        }

        var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        var signer = new NoteSigner(name, key);
        if (signer.KeyId != keyId)
        {
            signer.Dispose();
            throw new MalformedNoteException("The private key's ID does not match its name and key.");
        }

        return signer;
    }

    public string ExportPrivateKey()
    {
        var seed = _key.Export(KeyBlobFormat.RawPrivateKey);
        var blob = new byte[1 + seed.Length];
        blob[0] = KeyIds.Ed25519;
        seed.CopyTo(blob, 1);
        return string.Create(CultureInfo.InvariantCulture, $"{PrivatePrefix}{Name}+{KeyId:x8}+{Convert.ToBase64String(blob)}");
    }

    /// <summary>Signs raw bytes with the key (for cosignatures, which sign a prefixed message).</summary>
    public byte[] SignBytes(ReadOnlySpan<byte> message) => SignatureAlgorithm.Ed25519.Sign(_key, message);

    /// <summary>This key's signature line for the note text.</summary>
    public NoteSignature Sign(string text)
    {
        SignedNote.CheckText(text);
        return new NoteSignature(Name, KeyId, SignBytes(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>The whole signed note for the text, signed by this key alone.</summary>
    public SignedNote SignNote(string text) => new(text, [Sign(text)]);

    public void Dispose() => _key.Dispose();
}
