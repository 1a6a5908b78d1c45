using System.Buffers.Binary;

namespace CityWatch.AuditLog;

/// <summary>A tlog-tiles entry bundle: up to 256 entries, each a big-endian uint16 length then its bytes.</summary>
public static class EntryBundle
{
    public const int MaxEntryLength = ushort.MaxValue;

    public static byte[] Encode(IReadOnlyList<byte[]> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count is < 1 or > TileId.FullWidth)
        {
            throw new MalformedTileException("An entry bundle holds 1..256 entries.");
        }

        var stream = new MemoryStream();
        Span<byte> length = stackalloc byte[2];
        foreach (var entry in entries)
        {
            if (entry.Length > MaxEntryLength)
            {
                throw new MalformedTileException($"An entry of {entry.Length} bytes is longer than {MaxEntryLength}.");
            }

            BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)entry.Length);
            stream.Write(length);
            stream.Write(entry);
        }

        return stream.ToArray();
    }

    public static IReadOnlyList<byte[]> Decode(ReadOnlySpan<byte> bundle)
    {
        var entries = new List<byte[]>();
        while (bundle.Length > 0)
        {
            if (bundle.Length < 2)
            {
                throw new MalformedTileException("The entry bundle ends inside a length prefix.");
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(bundle);
            if (bundle.Length < 2 + length)
            {
                throw new MalformedTileException("The entry bundle ends inside an entry.");
            }

            entries.Add(bundle.Slice(2, length).ToArray());
            bundle = bundle[(2 + length)..];
            if (entries.Count > TileId.FullWidth)
            {
                throw new MalformedTileException("An entry bundle holds at most 256 entries.");
            }
        }

        return entries;
    }
}
