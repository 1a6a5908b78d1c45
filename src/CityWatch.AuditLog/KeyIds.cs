using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace CityWatch.AuditLog;

/// <summary>Signed-note key IDs: the first 4 bytes of SHA-256(name || 0x0A || signature type || public key).</summary>
public static class KeyIds
{
    /// <summary>Signature type of a plain Ed25519 note signature.</summary>
    public const byte Ed25519 = 0x01;

    /// <summary>Signature type of a timestamped Ed25519 witness cosignature (cosignature/v1).</summary>
    public const byte CosignatureV1 = 0x04;

    public static uint Compute(string name, byte signatureType, ReadOnlySpan<byte> publicKey)
    {
        SignedNote.CheckName(name);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var buffer = new byte[nameBytes.Length + 2 + publicKey.Length];
        nameBytes.CopyTo(buffer, 0);
        buffer[nameBytes.Length] = 0x0A;
        buffer[nameBytes.Length + 1] = signatureType;
        publicKey.CopyTo(buffer.AsSpan(nameBytes.Length + 2));
        return BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(buffer));
    }
}
