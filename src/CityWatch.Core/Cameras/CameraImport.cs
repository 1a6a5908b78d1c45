using System.Globalization;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;

namespace CityWatch.Cameras;

/// <summary>A city's inventory, parsed: the sites and the cameras on them.</summary>
public sealed record CameraInventory(IReadOnlyList<SiteInput> Sites, IReadOnlyList<CameraInput> Cameras);

/// <summary>
/// Reads a camera inventory from CSV (one row per camera, header row, columns below) or GeoJSON (a
/// FeatureCollection of Points whose properties use the same names). A bad row is reported with its
/// line (CSV) or feature index (GeoJSON) and nothing is imported.
/// Columns: site_code, site_name, latitude, longitude, camera_code, camera_name, owner, purpose,
/// stream_url, face_recognition_allowed, analysis_fps, analysis_width, retention_days, enabled.
/// </summary>
public static class CameraImport
{
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

    public static CameraInventory ParseCsv(string content)
    {
        var configuration = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            PrepareHeaderForMatch = args => args.Header.Trim().ToLowerInvariant(),
            TrimOptions = TrimOptions.Trim,
            BadDataFound = null,
        };
        using var reader = new StringReader(content);
        using var csv = new CsvReader(reader, configuration);
        if (!csv.Read() || !csv.ReadHeader())
        {
            throw new InvalidRequestException("The CSV inventory is empty: expected a header row.");
        }

        var header = csv.HeaderRecord!.Select(h => h.Trim().ToLowerInvariant()).ToHashSet();
        foreach (var required in new[] { "site_code", "latitude", "longitude", "camera_code", "camera_name", "owner", "purpose" })
        {
            if (!header.Contains(required))
            {
                throw new InvalidRequestException($"The CSV inventory has no '{required}' column (line 1).");
            }
        }

        var rows = new List<Fields>();
        while (csv.Read())
        {
            var line = csv.Parser.RawRow;
            var fields = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var name in header)
            {
                fields[name] = csv.GetField(name);
            }

            rows.Add(new Fields($"line {line}", fields));
        }

        return Build(rows);
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
            throw new InvalidRequestException($"The GeoJSON inventory is not valid JSON: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("features", out var features) || features.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidRequestException("The GeoJSON inventory must be a FeatureCollection with a 'features' array.");
            }

            var rows = new List<Fields>();
            var index = 0;
            foreach (var feature in features.EnumerateArray())
            {
                var where = $"feature {index++}";
                if (!feature.TryGetProperty("geometry", out var geometry) || geometry.ValueKind != JsonValueKind.Object
                    || !geometry.TryGetProperty("type", out var type) || type.GetString() != "Point"
                    || !geometry.TryGetProperty("coordinates", out var coordinates) || coordinates.GetArrayLength() < 2)
                {
                    throw new InvalidRequestException($"{where}: geometry must be a Point with [longitude, latitude].");
                }

                var fields = new Dictionary<string, string?>(StringComparer.Ordinal)
                {
                    ["longitude"] = coordinates[0].GetRawText(),
                    ["latitude"] = coordinates[1].GetRawText(),
                };
                if (feature.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in properties.EnumerateObject())
                    {
                        fields[property.Name.ToLowerInvariant()] = property.Value.ValueKind switch
                        {
                            JsonValueKind.String => property.Value.GetString(),
                            JsonValueKind.Null => null,
                            _ => property.Value.GetRawText(),
                        };
                    }
                }

                rows.Add(new Fields(where, fields));
            }

            return Build(rows);
        }
    }

    private static CameraInventory Build(List<Fields> rows)
    {
        var sites = new Dictionary<string, SiteInput>(StringComparer.Ordinal);
        var cameras = new List<CameraInput>();
        var cameraCodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            try
            {
                var siteCode = row.Required("site_code");
                var site = new SiteInput(
                    siteCode,
                    row.Optional("site_name") ?? siteCode,
                    row.Number("latitude") ?? throw new InvalidRequestException("'latitude' is required"),
                    row.Number("longitude") ?? throw new InvalidRequestException("'longitude' is required"),
                    row.Optional("site_owner") ?? row.Required("owner"));
                CameraStore.Validate(site);
                sites.TryAdd(siteCode, site);
                var camera = new CameraInput(
                    row.Required("camera_code"),
                    siteCode,
                    row.Required("camera_name"),
                    row.Required("owner"),
                    row.Required("purpose"),
                    row.Optional("stream_url"),
                    row.Flag("face_recognition_allowed") ?? false,
                    row.Number("analysis_fps"),
                    (int?)row.Number("analysis_width"),
                    (int?)row.Number("retention_days"),
                    row.Flag("enabled"));
                CameraStore.Validate(camera);
                if (!cameraCodes.Add(camera.Code))
                {
                    throw new InvalidRequestException($"camera code '{camera.Code}' appears twice");
                }

                cameras.Add(camera);
            }
            catch (InvalidRequestException e)
            {
                throw new InvalidRequestException($"{row.Where}: {e.Message}");
            }
        }

        return new CameraInventory(sites.Values.ToList(), cameras);
    }

    private sealed record Fields(string Where, Dictionary<string, string?> Values)
    {
        public string? Optional(string name) =>
            Values.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

        public string Required(string name) => Optional(name) ?? throw new InvalidRequestException($"'{name}' is required");

        public double? Number(string name) => Optional(name) is { } text
            ? double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                ? value
                : throw new InvalidRequestException($"'{name}' is not a number: '{text}'")
            : null;

        public bool? Flag(string name) => Optional(name)?.ToLowerInvariant() switch
        {
            null => null,
            "true" or "yes" or "1" or "y" => true,
            "false" or "no" or "0" or "n" => false,
            var other => throw new InvalidRequestException($"'{name}' must be true or false, not '{other}'"),
        };
    }
}
