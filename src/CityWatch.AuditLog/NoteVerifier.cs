using System.Globalization;
using System.Text;
using NSec.Cryptography;

namespace CityWatch.AuditLog;

/// <summary>
/// Verifies a note's Ed25519 signature by one trusted key, given as a verifier key string
/// <c>name+hexID+base64(0x01 || public key)</c>. Lines by other keys are ignored; a line that claims this
/// key but does not verify rejects the note.
/// </summary>
public sealed class NoteVerifier
{
    private readonly PublicKey _key;

    public NoteVerifier(string name, ReadOnlySpan<byte> publicKey)
    {
        SignedNote.CheckName(name);
        if (publicKey.Length != 32)
        {
            throw new MalformedNoteException("An Ed25519 public key is 32 bytes.");
        }

        Name = name;
        PublicKey = publicKey.ToArray();
        KeyId = KeyIds.Compute(name, KeyIds.Ed25519, publicKey);
        _key = NSec.Cryptography.PublicKey.Import(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey);
    }

    public string Name { get; }

    public uint KeyId { get; }

    public byte[] PublicKey { get; }

    public string VerifierKey => FormatKey(Name, KeyIds.Ed25519, PublicKey);

    public static NoteVerifier Parse(string verifierKey)
    {
        ArgumentNullException.ThrowIfNull(verifierKey);
        var (name, keyId, type, key) = SplitKey(verifierKey.Trim());
        if (type != KeyIds.Ed25519)
        {
            throw new MalformedNoteException($"Verifier key type 0x{type:x2} is not Ed25519 (0x01).");
        }

        var verifier = new NoteVerifier(name, key);
        return verifier.KeyId == keyId
            ? verifier
            : throw new MalformedNoteException("The verifier key's ID does not match its name and key.");
    }

    /// <summary>Parses the note and returns it if this key's signature verifies; otherwise throws.</summary>
    public SignedNote Open(string note)
    {
        var parsed = SignedNote.Parse(note);
        Verify(parsed);
        return parsed;
    }

    public void Verify(SignedNote note)
    {
        ArgumentNullException.ThrowIfNull(note);
        var message = Encoding.UTF8.GetBytes(note.Text);
        foreach (var signature in note.Signatures)
        {
            if (signature.Name != Name || signature.KeyId != KeyId)
            {
                continue;
            }

            if (signature.Signature.Length != 64 || !SignatureAlgorithm.Ed25519.Verify(_key, message, signature.Signature))
            {
                throw new NoteVerificationException($"The signature by '{Name}' does not verify.");
            }

            return;
        }

        throw new NoteVerificationException($"The note carries no signature by '{Name}' (key ID {KeyId:x8}).");
    }

    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        signature.Length == 64 && SignatureAlgorithm.Ed25519.Verify(_key, message, signature);

    internal static string FormatKey(string name, byte type, byte[] key)
    {
        var blob = new byte[1 + key.Length];
        blob[0] = type;
        key.CopyTo(blob, 1);
        return string.Create(CultureInfo.InvariantCulture, $"{name}+{KeyIds.Compute(name, type, key):x8}+{Convert.ToBase64String(blob)}");
    }

    internal static (string Name, uint KeyId, byte Type, byte[] Key) SplitKey(string value)
    {
        var parts = value.Split('+', 3);
        if (parts.Length != 3 || parts[1].Length != 8)
        {
            throw new MalformedNoteException("A key string is name+hexID+base64key.");
        }

        SignedNote.CheckName(parts[0]);
        if (!uint.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var keyId))
        {
            throw new MalformedNoteException("A key ID is 8 hexadecimal digits.");
        }

        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(parts[2]);
        }
        catch (FormatException)
        {
            throw new MalformedNoteException("The key is not valid base64.");
        }

        if (blob.Length < 2)
        {
            throw new MalformedNoteException("The key is too short.");
        }

        return (parts[0], keyId, blob[0], blob[1..]);
    }
}
