using System.Buffers;
using System.Security.Cryptography;

namespace CityWatch.AuditLog;

/// <summary>
/// RFC 6962 / RFC 9162 Merkle tree hashing with SHA-256: leaves are hashed with a 0x00 prefix and interior
/// nodes with a 0x01 prefix, so that a leaf can never be passed off as a node (second-preimage resistance).
/// </summary>
public static class Rfc6962
{
    public const int HashSize = 32;

    private const byte LeafPrefix = 0x00;
    private const byte NodePrefix = 0x01;

    private static readonly byte[] Empty = SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>The root of the empty tree: SHA-256 of the empty string.</summary>
    public static byte[] EmptyRoot() => (byte[])Empty.Clone();

    /// <summary>SHA-256(0x00 || data).</summary>
    public static byte[] HashLeaf(ReadOnlySpan<byte> data)
    {
        var length = data.Length + 1;
        byte[]? rented = null;
        var buffer = length <= 1024 ? stackalloc byte[length] : (rented = ArrayPool<byte>.Shared.Rent(length)).AsSpan(0, length);
        try
        {
            buffer[0] = LeafPrefix;
            data.CopyTo(buffer[1..]);
            return SHA256.HashData(buffer);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>SHA-256(0x01 || left || right).</summary>
    public static byte[] HashChildren(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        CheckHash(left, nameof(left));
        CheckHash(right, nameof(right));
        Span<byte> buffer = stackalloc byte[1 + (2 * HashSize)];
        buffer[0] = NodePrefix;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        return SHA256.HashData(buffer);
    }

    internal static void CheckHash(ReadOnlySpan<byte> hash, string name)
    {
        if (hash.Length != HashSize)
        {
            throw new ArgumentException($"A tree hash is {HashSize} bytes, not {hash.Length}.", name);
        }
    }
}
