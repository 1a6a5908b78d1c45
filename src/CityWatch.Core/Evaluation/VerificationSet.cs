using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;

namespace CityWatch.Evaluation;

/// <summary>An image of a labelled set: its full path, its identity if the set names one, and where it was listed.</summary>
public sealed record LabelledImage(string Path, string? Identity);

/// <summary>Two images of the set (indices into <see cref="VerificationSet.Images"/>) and whether they show the same person.</summary>
public readonly record struct LabelledPair(int First, int Second, bool Same);

/// <summary>
/// A labelled verification set, read from one of three forms:
/// a folder with one sub-folder of images per identity; a CSV <c>identity,path</c>; or a pairs CSV
/// <c>file_x,file_y,decision</c> (<c>Yes</c> same person, <c>No</c> different). Paths in a CSV are relative
/// to the CSV; extra columns are ignored; the header is required. An identity set yields every genuine
/// pair and every impostor pair.
/// </summary>
public sealed record VerificationSet(string Source, string Form, IReadOnlyList<LabelledImage> Images, IReadOnlyList<LabelledPair> Pairs)
{
    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".webp" };

    public int GenuinePairs => Pairs.Count(p => p.Same);

    public int ImpostorPairs => Pairs.Count(p => !p.Same);

    /// <summary>Reads a folder per identity or either CSV form (told apart by the header).</summary>
    public static VerificationSet Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path))
        {
            return FromFolders(path);
        }

        if (!File.Exists(path))
        {
            throw new SetFormatException(path, null, "no such file or folder");
        }

        var header = ReadHeader(path);
        return header.Contains("file_x") && header.Contains("file_y") ? FromPairsCsv(path)
            : header.Contains("identity") && header.Contains("path") ? FromIdentityCsv(path)
            : throw new SetFormatException(path, 1, "the header must name identity,path or file_x,file_y,decision");
    }

    /// <summary>One sub-folder per identity; every image in it is that person.</summary>
    public static VerificationSet FromFolders(string folder)
    {
        var images = new List<LabelledImage>();
        foreach (var identity in Directory.GetDirectories(folder).Order(StringComparer.Ordinal))
        {
            foreach (var file in Directory.GetFiles(identity).Where(f => ImageExtensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal))
            {
                images.Add(new LabelledImage(Path.GetFullPath(file), Path.GetFileName(identity)));
            }
        }

        if (images.Count == 0)
        {
            throw new SetFormatException(folder, null, "no images in any sub-folder (expected one sub-folder of images per identity)");
        }

        return new VerificationSet(folder, "folders", images, AllPairs(images));
    }

    /// <summary>A CSV with columns identity and path (relative to the CSV).</summary>
    public static VerificationSet FromIdentityCsv(string csvPath)
    {
        var images = new List<LabelledImage>();
        ReadRows(csvPath, ["identity", "path"], (line, fields) =>
            images.Add(new LabelledImage(ImagePath(csvPath, line, fields[1]), fields[0])));
        return images.Count == 0
            ? throw new SetFormatException(csvPath, null, "no rows after the header")
            : new VerificationSet(csvPath, "identity csv", images, AllPairs(images));
    }

    /// <summary>A CSV with columns file_x, file_y (relative to the CSV) and decision (Yes or No).</summary>
    public static VerificationSet FromPairsCsv(string csvPath)
    {
        var images = new List<LabelledImage>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var pairs = new List<LabelledPair>();
        int IndexOf(string path)
        {
            if (!index.TryGetValue(path, out var i))
            {
                i = images.Count;
                images.Add(new LabelledImage(path, null));
                index[path] = i;
            }

            return i;
        }

        ReadRows(csvPath, ["file_x", "file_y", "decision"], (line, fields) =>
        {
            var same = fields[2].Trim().ToUpperInvariant() switch
            {
                "YES" => true,
                "NO" => false,
                _ => throw new SetFormatException(csvPath, line, $"decision must be Yes or No, not '{fields[2]}'"),
            };
            var first = IndexOf(ImagePath(csvPath, line, fields[0]));
            var second = IndexOf(ImagePath(csvPath, line, fields[1]));
            pairs.Add(new LabelledPair(first, second, same));
        });
        return pairs.Count == 0
            ? throw new SetFormatException(csvPath, null, "no rows after the header")
            : new VerificationSet(csvPath, "pairs csv", images, pairs);
    }

    private static List<LabelledPair> AllPairs(List<LabelledImage> images)
    {
        var pairs = new List<LabelledPair>(images.Count * (images.Count - 1) / 2);
        for (var i = 0; i < images.Count; i++)
        {
            for (var j = i + 1; j < images.Count; j++)
            {
                pairs.Add(new LabelledPair(i, j, string.Equals(images[i].Identity, images[j].Identity, StringComparison.Ordinal)));
            }
        }

        return pairs;
    }

    private static string ImagePath(string csvPath, int line, string relative)
    {
        if (string.IsNullOrWhiteSpace(relative))
        {
            throw new SetFormatException(csvPath, line, "empty image path");
        }

        var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(csvPath))!, relative.Trim()));
        return File.Exists(full) ? full : throw new SetFormatException(csvPath, line, $"no such image: {relative.Trim()}");
    }

    private static CsvConfiguration Configuration(string csvPath) => new(CultureInfo.InvariantCulture)
    {
        HasHeaderRecord = true,
        TrimOptions = TrimOptions.Trim,
        PrepareHeaderForMatch = args => args.Header.Trim().ToLowerInvariant(),
        DetectColumnCountChanges = false,
        BadDataFound = args => throw new SetFormatException(csvPath, args.Context.Parser?.RawRow, $"malformed field {args.Field}"),
    };

    private static HashSet<string> ReadHeader(string csvPath)
    {
        using var reader = new StreamReader(csvPath);
        using var csv = new CsvReader(reader, Configuration(csvPath));
        return csv.Read() && csv.ReadHeader()
            ? new HashSet<string>(csv.HeaderRecord!.Select(h => h.Trim().ToLowerInvariant()), StringComparer.Ordinal)
            : throw new SetFormatException(csvPath, 1, "empty file: a header is required");
    }

    // Calls row(line, fields) with the named columns of every data row, in the order asked for.
    private static void ReadRows(string csvPath, string[] columns, Action<int, string[]> row)
    {
        using var reader = new StreamReader(csvPath);
        using var csv = new CsvReader(reader, Configuration(csvPath));
        try
        {
            if (!csv.Read() || !csv.ReadHeader())
            {
                throw new SetFormatException(csvPath, 1, "empty file: a header is required");
            }

            var header = csv.HeaderRecord!.Select(h => h.Trim().ToLowerInvariant()).ToList();
            var at = columns.Select(c => header.IndexOf(c)).ToArray();
            if (at.Contains(-1))
            {
                throw new SetFormatException(csvPath, 1, $"the header must name the columns {string.Join(",", columns)}; it has {string.Join(",", header)}");
            }

            while (csv.Read())
            {
                var line = csv.Parser.RawRow;
                var record = csv.Parser.Record ?? [];
                if (record.All(string.IsNullOrWhiteSpace))
                {
                    continue;
                }

                if (record.Length <= at.Max())
                {
                    throw new SetFormatException(csvPath, line, $"expected {header.Count} fields ({string.Join(",", header)}), got {record.Length}");
                }

                row(line, at.Select(i => record[i]).ToArray());
            }
        }
        catch (CsvHelperException e)
        {
            throw new SetFormatException(csvPath, e.Context?.Parser?.RawRow, $"malformed CSV: {e.Message.Split('\n')[0].Trim()}");
        }
    }
}
