using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using NSec.Cryptography;

namespace CityWatch.AuditLog;

/// <summary>
/// C2SP tlog-cosignature v1: a witness's timestamped Ed25519 signature over
/// <c>"cosignature/v1\ntime &lt;unix seconds&gt;\n" || checkpoint text</c>, carried as a note signature line
/// whose key ID uses signature type 0x04 and whose bytes are the 8-byte big-endian timestamp then the signature.
/// </summary>
public sealed class Cosigner(NoteSigner key)
{
    private readonly NoteSigner _key = key ?? throw new ArgumentNullException(nameof(key));

    public string Name => _key.Name;

    public uint KeyId { get; } = KeyIds.Compute(key.Name, KeyIds.CosignatureV1, key.PublicKey);

    /// <summary>The verifier key string (type 0x04) a log client configures for this witness.</summary>
    public string VerifierKey => NoteVerifier.FormatKey(Name, KeyIds.CosignatureV1, _key.PublicKey);

    public NoteSignature Cosign(string checkpointText, DateTimeOffset at)
    {
        SignedNote.CheckText(checkpointText);
        var timestamp = (ulong)at.ToUnixTimeSeconds();
        var signature = _key.SignBytes(Message(checkpointText, timestamp));
        var blob = new byte[8 + signature.Length];
        BinaryPrimitives.WriteUInt64BigEndian(blob, timestamp);
        signature.CopyTo(blob, 8);
        return new NoteSignature(Name, KeyId, blob);
    }

    internal static byte[] Message(string checkpointText, ulong timestamp) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"cosignature/v1\ntime {timestamp}\n{checkpointText}"));
}

/// <summary>Verifies a witness's cosignature/v1 line on a checkpoint note.</summary>
public sealed class CosignatureVerifier
{
    private readonly PublicKey _key;

    public CosignatureVerifier(string name, ReadOnlySpan<byte> publicKey)
    {
        Name = name;
        KeyId = KeyIds.Compute(name, KeyIds.CosignatureV1, publicKey);
        _key = PublicKey.Import(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey);
    }

    public string Name { get; }

    public uint KeyId { get; }

    public static CosignatureVerifier Parse(string verifierKey)
    {
        var (name, keyId, type, key) = NoteVerifier.SplitKey(verifierKey.Trim());
        if (type != KeyIds.CosignatureV1 || key.Length != 32)
        {
            throw new MalformedNoteException("A cosignature verifier key has type 0x04 and a 32-byte Ed25519 key.");
        }

        var verifier = new CosignatureVerifier(name, key);
        return verifier.KeyId == keyId ? verifier : throw new MalformedNoteException("The verifier key's ID does not match its name and key.");
    }

    /// <summary>Returns the cosignature's time if this witness cosigned the note's text; otherwise throws.</summary>
    public DateTimeOffset Verify(SignedNote note)
    {
        ArgumentNullException.ThrowIfNull(note);
        foreach (var signature in note.Signatures)
        {
            if (signature.Name != Name || signature.KeyId != KeyId)
            {
                continue;
            }

            if (signature.Signature.Length != 72)
            {
                throw new NoteVerificationException($"The cosignature by '{Name}' is not 72 bytes.");
            }

            var timestamp = BinaryPrimitives.ReadUInt64BigEndian(signature.Signature);
            if (timestamp > 253402300799UL || !SignatureAlgorithm.Ed25519.Verify(_key, Cosigner.Message(note.Text, timestamp), signature.Signature.AsSpan(8)))
            {
                throw new NoteVerificationException($"The cosignature by '{Name}' does not verify.");
            }

            return DateTimeOffset.FromUnixTimeSeconds((long)timestamp);
        }

        throw new NoteVerificationException($"The note carries no cosignature by '{Name}'.");
    }
}
