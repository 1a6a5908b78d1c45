using System.Buffers.Binary;

namespace CityWatch.Tests.Keys;

/// <summary>
/// Searches files byte by byte, at every offset, for any 16-byte run of a set of secrets (the bytes of
/// templates, of crops) and for JPEG file starts, as someone with a copy of the data folder would.
/// </summary>
internal sealed class DataFolderScan
{
    private const int Window = 16;
    private readonly HashSet<UInt128> _windows = [];

    /// <summary>Every 16-byte run of <paramref name="secret"/> starting at a multiple of <paramref name="step"/>.</summary>
    public void Add(ReadOnlySpan<byte> secret, int step)
    {
        for (var i = 0; i + Window <= secret.Length; i += step)
        {
            _windows.Add(BinaryPrimitives.ReadUInt128LittleEndian(secret[i..]));
        }
    }

    /// <summary>The files (relative names) in which a secret's run or a JPEG start appears in clear.</summary>
    public IReadOnlyList<string> Findings(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .SelectMany(file => Findings(File.ReadAllBytes(file)).Select(what => $"{Path.GetRelativePath(folder, file)}: {what}"))
            .ToList();

    public IEnumerable<string> Findings(byte[] bytes)
    {
        for (var i = 0; i + Window <= bytes.Length; i++)
        {
            if (_windows.Contains(BinaryPrimitives.ReadUInt128LittleEndian(bytes.AsSpan(i))))
            {
                yield return $"secret bytes at offset {i}";
                yield break;
            }
        }

        for (var i = 0; i + 12 <= bytes.Length; i++)
        {
            if (IsJpegStart(bytes.AsSpan(i)))
            {
                yield return $"a JPEG start (FF D8 FF) at offset {i}";
                yield break;
            }
        }
    }

    // SOI then the marker an encoder writes first: JFIF APP0, Exif APP1 or a quantisation table. Three
    // bytes alone would turn up by chance in megabytes of ciphertext; with the marker's header they do not.
    private static bool IsJpegStart(ReadOnlySpan<byte> at) =>
        at[0] == 0xFF && at[1] == 0xD8 && at[2] == 0xFF && at[3] switch
        {
            0xE0 => at[6..11].SequenceEqual("JFIF\0"u8),
            0xE1 => at[6..10].SequenceEqual("Exif"u8),
            0xDB => at[4] == 0x00 && at[5] is 0x43 or 0x84 or 0xC5,
            _ => false,
        };
}
