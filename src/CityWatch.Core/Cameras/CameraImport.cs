using System.Globalization;
using System.Text;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;

namespace CityWatch.Cameras;

/// <summary>A city's inventory, parsed: the sites and the cameras on them.</summary>
public sealed record CameraInventory(IReadOnlyList<SiteInput> Sites, IReadOnlyList<CameraInput> Cameras);

/// <summary>One column of the inventory: its name, whether every row needs it, what it holds and an example.</summary>
public sealed record InventoryColumn(string Name, bool Required, string Meaning, string Example);

/// <summary>What is wrong where: a line (CSV, 1 is the header) or feature index (GeoJSON), the column if one is at fault, and why.</summary>
public sealed record InventoryProblem(string Where, string? Column, string Reason)
{
    public override string ToString() => Column is null ? $"{Where}: {Reason}" : $"{Where}, {Column}: {Reason}";
}

/// <summary>An inventory with problems: every one found in one pass, and nothing imported.</summary>
public sealed class InventoryRejectedException(IReadOnlyList<InventoryProblem> problems)
    : InvalidRequestException($"{problems.Count} {(problems.Count == 1 ? "problem" : "problems")} in the inventory, nothing imported: {string.Join("; ", problems)}")
{
    public IReadOnlyList<InventoryProblem> Problems { get; } = problems;
}

/// <summary>
/// Reads a camera inventory from CSV (one row per camera, a header row, comma or semicolon separated, lines
/// starting with # ignored) or GeoJSON (a FeatureCollection of Points whose properties use the same names).
/// Every problem in the file is reported at once with its line or feature and column, and nothing is
/// imported. A camera keeps its own row's coordinates; its site takes those of the site's first row. The
/// columns are <see cref="Columns"/>; <see cref="Template"/> writes them out documented (docs/cameras.md).
/// </summary>
public static class CameraImport
{
    public static readonly IReadOnlyList<InventoryColumn> Columns =
    [
        new("site_code", true, "the site's code; rows with the same code are cameras on one site", "CENTRAL-01"),
        new("site_name", false, "the site's name (default: its code), from the site's first row", "Central station, east hall"),
        new("latitude", true, "the camera's latitude in decimal degrees, -90 to 90 (the site's is its first row's)", "44.8125"),
        new("longitude", true, "the camera's longitude in decimal degrees, -180 to 180", "20.4612"),
        new("camera_code", true, "the camera's code, unique in the city; a code already registered updates that camera", "CENTRAL-01-A"),
        new("camera_name", true, "the camera's name", "East hall, platform 1"),
        new("owner", true, "who owns the camera (and the site, unless site_owner says)", "City transport"),
        new("site_owner", false, "who owns the site, if not the camera's owner", "Railways"),
        new("purpose", true, "what the camera is for, as the register shows the public", "passenger safety"),
        new("stream_url", false, "rtsp://, rtsps://, http(s):// or file:// (credentials in the URL are stored, never shown)", "rtsp://10.0.0.5:554/stream1"),
        new("face_recognition_allowed", false, "true or false (default false): whether face recognition may ever run on this camera", "false"),
        new("analysis_fps", false, $"frames analysed per second, above 0 and at most 30 (default {CameraStore.DefaultAnalysisFps})", "2"),
        new("analysis_width", false, $"the width frames are scaled to, 64 to 3840 (default {CameraStore.DefaultAnalysisWidth})", "640"),
        new("retention_days", false, $"days its data is kept, 0 to 3650 (default {CameraStore.DefaultRetentionDays})", "30"),
        new("enabled", false, "true or false (default: true when it has a stream URL)", "true"),
    ];

    public static CameraInventory Parse(string content, string format) => format.ToLowerInvariant() switch
    {
        "csv" or "text/csv" => ParseCsv(content),
        "geojson" or "json" or "application/geo+json" or "application/json" => ParseGeoJson(content),
        _ => throw new InvalidRequestException($"Unknown inventory format '{format}': use csv or geojson."),
    };

    public static string FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".csv" => "csv",
        ".geojson" or ".json" => "geojson",
        var other => throw new InvalidRequestException($"Cannot tell the inventory format of '{other}': use .csv or .geojson."),
    };

    /// <summary>A CSV inventory to fill in: each column explained in # lines, the header, and two example rows.</summary>
    public static string Template()
    {
        var text = new StringBuilder();
        text.AppendLine("# CityWatch camera inventory: one row per camera. Lines starting with # are ignored.");
        text.AppendLine("# Separate values with commas (or semicolons, throughout). Quote a value that holds the separator.");
        foreach (var column in Columns)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"# {column.Name} ({(column.Required ? "required" : "optional")}): {column.Meaning}");
        }

        text.AppendLine(string.Join(',', Columns.Select(c => c.Name)));
        text.AppendLine(string.Join(',', Columns.Select(c => Quote(c.Example))));
        text.AppendLine(string.Join(',', Columns.Select(c => Quote(c.Name switch
        {
            "camera_code" => "CENTRAL-01-B",
            "camera_name" => "East hall, platform 2",
            "latitude" => "44.8127",
            "longitude" => "20.4619",
            "stream_url" => "",
            _ => c.Example,
        }))));
        return text.ToString();
    }

    public static CameraInventory ParseCsv(string content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var delimiter = DelimiterOf(content);
        var configuration = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            Delimiter = delimiter,
            TrimOptions = TrimOptions.Trim,
            AllowComments = true,
            Comment = '#',
            BadDataFound = null,
            IgnoreBlankLines = true,
        };
        using var reader = new StringReader(content);
        using var parser = new CsvParser(reader, configuration);
        if (!parser.Read())
        {
            throw new InventoryRejectedException([new InventoryProblem("line 1", null, "the file is empty: expected a header row naming the columns")]);
        }

        var headerLine = $"line {parser.RawRow}";
        var header = parser.Record!.Select(h => h.Trim().ToLowerInvariant()).ToArray();
        var problems = new List<InventoryProblem>();
        foreach (var column in Columns.Where(c => c.Required && !header.Contains(c.Name)))
        {
            problems.Add(new InventoryProblem(headerLine, column.Name, $"no such column in the header ({string.Join(delimiter, header)}); the columns are listed by `citywatch cameras import --template FILE`"));
        }

        if (problems.Count > 0)
        {
            throw new InventoryRejectedException(problems);
        }

        var rows = new List<Fields>();
        while (parser.Read())
        {
            var record = parser.Record!;
            var where = $"line {parser.RawRow}";
            if (record.Length != header.Length)
            {
                problems.Add(new InventoryProblem(where, null, $"{record.Length} values where the header has {header.Length} columns (a missing '{delimiter}', or a value holding '{delimiter}' without quotes?)"));
                continue;
            }

            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (var i = 0; i < header.Length; i++)
            {
                values[header[i]] = delimiter == ";" && header[i] is "latitude" or "longitude" or "analysis_fps" ? record[i].Replace(',', '.') : record[i];
            }

            rows.Add(new Fields(where, values));
        }

        return Build(rows, problems);
    }

    public static CameraInventory ParseGeoJson(string content)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(content);
        }
        catch (JsonException e)
        {
            throw new InventoryRejectedException([new InventoryProblem($"line {e.LineNumber + 1}", null, $"not valid JSON: {e.Message}")]);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("features", out var features) || features.ValueKind != JsonValueKind.Array)
            {
                throw new InventoryRejectedException([new InventoryProblem("the document", null, "must be a FeatureCollection with a 'features' array")]);
            }

            var rows = new List<Fields>();
            var problems = new List<InventoryProblem>();
            var index = 0;
            foreach (var feature in features.EnumerateArray())
            {
                var where = $"feature {index++}";
                if (feature.ValueKind != JsonValueKind.Object
                    || !feature.TryGetProperty("geometry", out var geometry) || geometry.ValueKind != JsonValueKind.Object
                    || !geometry.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "Point"
                    || !geometry.TryGetProperty("coordinates", out var coordinates) || coordinates.ValueKind != JsonValueKind.Array || coordinates.GetArrayLength() < 2)
                {
                    problems.Add(new InventoryProblem(where, "geometry", "must be a Point with [longitude, latitude]"));
                    continue;
                }

                var values = new Dictionary<string, string?>(StringComparer.Ordinal)
                {
                    ["longitude"] = coordinates[0].GetRawText(),
                    ["latitude"] = coordinates[1].GetRawText(),
                };
                if (feature.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in properties.EnumerateObject())
                    {
                        values[property.Name.ToLowerInvariant()] = property.Value.ValueKind switch
                        {
                            JsonValueKind.String => property.Value.GetString(),
                            JsonValueKind.Null => null,
                            _ => property.Value.GetRawText(),
                        };
                    }
                }

                rows.Add(new Fields(where, values));
            }

            return Build(rows, problems);
        }
    }

    // A comma unless the header line has more semicolons than commas (a spreadsheet saved where the decimal separator is a comma).
    private static string DelimiterOf(string content)
    {
        using var reader = new StringReader(content);
        while (reader.ReadLine() is { } line)
        {
            if (line.Trim() is { Length: > 0 } text && !text.StartsWith('#'))
            {
                return text.Count(c => c == ';') > text.Count(c => c == ',') ? ";" : ",";
            }
        }

        return ",";
    }

    private static CameraInventory Build(List<Fields> rows, List<InventoryProblem> problems)
    {
        var sites = new Dictionary<string, SiteInput>(StringComparer.Ordinal);
        var cameras = new List<CameraInput>();
        var firstRowOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            var siteCode = row.Required("site_code");
            var latitude = row.Number("latitude", -90, 90, required: true);
            var longitude = row.Number("longitude", -180, 180, required: true);
            var cameraCode = row.Required("camera_code");
            var camera = new CameraInput(
                cameraCode,
                siteCode,
                row.Required("camera_name"),
                row.Required("owner"),
                row.Required("purpose"),
                row.Optional("stream_url"),
                row.Flag("face_recognition_allowed") ?? false,
                row.Number("analysis_fps", double.Epsilon, 30),
                (int?)row.Number("analysis_width", 64, 3840, whole: true),
                (int?)row.Number("retention_days", 0, 3650, whole: true),
                row.Flag("enabled"),
                latitude,
                longitude);
            if (camera.StreamUrl is { } url && !CameraStore.IsSupportedUrl(url))
            {
                row.Problems.Add(new InventoryProblem(row.Where, "stream_url", "must be an rtsp://, rtsps://, http(s):// or file:// URL"));
            }

            if (cameraCode.Length > 0 && !firstRowOf.TryAdd(cameraCode, row.Where))
            {
                row.Problems.Add(new InventoryProblem(row.Where, "camera_code", $"'{cameraCode}' appears twice (first on {firstRowOf[cameraCode]})"));
            }

            if (row.Problems.Count > 0)
            {
                problems.AddRange(row.Problems);
                continue;
            }

            var site = new SiteInput(siteCode, row.Optional("site_name") ?? siteCode, latitude!.Value, longitude!.Value, row.Optional("site_owner") ?? camera.Owner);
            try
            {
                CameraStore.Validate(site);
                CameraStore.Validate(camera);
            }
            catch (InvalidRequestException e)
            {
                problems.Add(new InventoryProblem(row.Where, null, e.Message));
                continue;
            }

            sites.TryAdd(siteCode, site);
            cameras.Add(camera);
        }

        if (problems.Count > 0)
        {
            throw new InventoryRejectedException(problems);
        }

        return new CameraInventory(sites.Values.ToList(), cameras);
    }

    private static string Quote(string value) => value.Contains(',', StringComparison.Ordinal) ? $"\"{value}\"" : value;

    // One row's values; each accessor that finds a bad value notes the problem and returns a placeholder, so
    // that one pass finds every problem of the row.
    private sealed record Fields(string Where, Dictionary<string, string?> Values)
    {
        public List<InventoryProblem> Problems { get; } = [];

        public string? Optional(string name) =>
            Values.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

        public string Required(string name)
        {
            if (Optional(name) is { } value)
            {
                return value;
            }

            Problems.Add(new InventoryProblem(Where, name, "is required and empty"));
            return "";
        }

        public double? Number(string name, double min, double max, bool required = false, bool whole = false)
        {
            if (Optional(name) is not { } text)
            {
                if (required)
                {
                    Problems.Add(new InventoryProblem(Where, name, "is required and empty"));
                }

                return null;
            }

            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                Problems.Add(new InventoryProblem(Where, name, $"'{text}' is not a number"));
                return null;
            }

            if (value < min || value > max || (whole && value != Math.Floor(value)))
            {
                var range = min == double.Epsilon ? $"above 0 and at most {max}" : $"{min} to {max}";
                Problems.Add(new InventoryProblem(Where, name, $"{text} is out of range: {(whole ? "a whole number, " : "")}{range}"));
                return null;
            }

            return value;
        }

        public bool? Flag(string name)
        {
            switch (Optional(name)?.ToLowerInvariant())
            {
                case null:
                    return null;
                case "true" or "yes" or "1" or "y":
                    return true;
                case "false" or "no" or "0" or "n":
                    return false;
                case var other:
                    Problems.Add(new InventoryProblem(Where, name, $"must be true or false, not '{other}'"));
                    return null;
            }
        }
    }
}
