using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CityWatch.Cli.Hosting;

/// <summary>
/// A request body from a file: JSON (.json) or YAML (anything else), read as a JSON object so that flags can
/// fill or override its fields before it is sent. YAML plain scalars become numbers, booleans or null where
/// they read as such; quoted scalars stay text.
/// </summary>
internal static class RequestFile
{
    public static JsonObject Read(FileInfo? file)
    {
        if (file is null)
        {
            return [];
        }

        if (!file.Exists)
        {
            throw new FileNotFoundException($"no such file: {file.FullName}");
        }

        var text = File.ReadAllText(file.FullName);
        try
        {
            var node = file.Extension.Equals(".json", StringComparison.OrdinalIgnoreCase) ? JsonNode.Parse(text) : FromYaml(text);
            return node as JsonObject ?? throw new InvalidOperationException($"{file.Name}: the file holds no object of fields");
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"{file.Name}: not valid JSON ({e.Message})", e);
        }
        catch (YamlException e)
        {
            throw new InvalidOperationException($"{file.Name}: not valid YAML (line {e.Start.Line}: {e.Message})", e);
        }
    }

    private static JsonNode? FromYaml(string text)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }

        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode);
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value ?? "", Convert(c.Value)))),
        YamlSequenceNode list => new JsonArray(list.Children.Select(Convert).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new InvalidOperationException($"unsupported YAML node at line {node.Start.Line}"),
    };

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
        {
            return JsonValue.Create(value);
        }

        return value switch
        {
            "" or "~" or "null" or "Null" or "NULL" => null,
            "true" or "True" or "TRUE" => JsonValue.Create(true),
            "false" or "False" or "FALSE" => JsonValue.Create(false),
            _ when long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var whole) => JsonValue.Create(whole),
            _ when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) => JsonValue.Create(real),
            _ => JsonValue.Create(value),
        };
    }
}
