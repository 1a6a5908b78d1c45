using System.Text;
using System.Text.Json;
using CityWatch.Data;

namespace CityWatch.Audit;

/// <summary>
/// The canonical form of a logged act: compact UTF-8 JSON with a fixed property order and parameters sorted
/// by key, so that the same act always hashes the same. The property names are the record's, so the body
/// also deserializes as an <see cref="AuditRecord"/>.
/// </summary>
internal static class AuditEntry
{
    public static byte[] Encode(long index, DateTimeOffset at, AuditRecord record)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
        {
            json.WriteStartObject();
            json.WriteNumber("Index", index);
            json.WriteString("At", Timestamps.Format(at));
            json.WriteString("Actor", record.Actor);
            json.WriteString("Action", record.Action);
            json.WriteString("Outcome", record.Outcome);
            WriteNullable(json, "LegalBasisId", record.LegalBasisId);
            if (record.CaseId is null)
            {
                json.WriteNull("CaseId");
            }
            else
            {
                json.WriteString("CaseId", record.CaseId);
            }

            json.WriteStartObject("Parameters");
            foreach (var (key, value) in (record.Parameters ?? new Dictionary<string, string>()).OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
            WriteNullable(json, "ResultCount", record.ResultCount);
            json.WriteStartArray("Commitments");
            foreach (var commitment in record.Commitments ?? [])
            {
                json.WriteStringValue(commitment);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return stream.ToArray();
    }

    public static string Text(byte[] entry) => Encoding.UTF8.GetString(entry);

    /// <summary>
    /// The act as the signed leaf states it. A leaf that does not decode (only a tampered one) is shown as
    /// such, under its index, rather than filled in from elsewhere.
    /// </summary>
    public static LoggedAct Decode(long index, byte[] entry)
    {
        var text = Text(entry);
        try
        {
            using var json = JsonDocument.Parse(entry);
            var root = json.RootElement;
            return new LoggedAct(
                root.GetProperty("Index").GetInt64(),
                root.GetProperty("At").GetString() ?? "",
                root.GetProperty("Actor").GetString() ?? "",
                root.GetProperty("Action").GetString() ?? "",
                root.GetProperty("Outcome").GetString() ?? "",
                root.GetProperty("LegalBasisId") is { ValueKind: JsonValueKind.Number } basis ? basis.GetInt64() : null,
                root.GetProperty("CaseId").GetString(),
                text);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return new LoggedAct(index, "", "", "", "undecodable leaf", null, null, text);
        }
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, long? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteNumber(name, value.Value);
        }
    }
}
