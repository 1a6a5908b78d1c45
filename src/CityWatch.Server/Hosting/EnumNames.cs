using System.Text.Json;
using System.Text.Json.Serialization;

namespace CityWatch.Server;

/// <summary>
/// Enums in the API are their names, as <see cref="JsonStringEnumConverter"/> writes them; a value that names
/// no member is refused with the members listed ("'Boss' is not a valid Role: use one of Administrator,
/// Operator, ..."), where the stock converter would name the .NET type. Names match case-insensitively; a
/// number is accepted only if it is a member's value. The OpenAPI document lists the same names.
/// </summary>
internal sealed class EnumNames : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsEnum;

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(typeToConvert))!;

    /// <summary>"use one of A, B, C": the members of <paramref name="type"/>, as a caller writes them.</summary>
    public static string Listed(Type type) => $"use one of {string.Join(", ", Enum.GetNames(type))}";

    private sealed class Converter<T> : JsonConverter<T>
        where T : struct, Enum
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var number))
            {
                var value = (T)Enum.ToObject(typeof(T), number);
                return Enum.IsDefined(value) ? value : throw Refused(number.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            if (reader.TokenType != JsonTokenType.String)
            {
                throw Refused($"a {reader.TokenType.ToString().ToLowerInvariant()}");
            }

            return Parse(reader.GetString()!);
        }

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());

        public override T ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Parse(reader.GetString()!);

        public override void WriteAsPropertyName(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WritePropertyName(value.ToString());

        // Only names: Enum.TryParse would also take "7" or "1, 2".
        private static T Parse(string text) =>
            Enum.GetNames<T>().FirstOrDefault(n => n.Equals(text.Trim(), StringComparison.OrdinalIgnoreCase)) is { } name
                ? Enum.Parse<T>(name)
                : throw Refused($"'{text}'");

        private static JsonException Refused(string shown) => new($"{shown} is not a valid {typeof(T).Name}: {Listed(typeof(T))}.");
    }
}
