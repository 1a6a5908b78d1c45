using System.Globalization;

namespace CityWatch.Data;

/// <summary>Times are stored as ISO 8601 round-trip text in UTC, so that they sort and read the same everywhere.</summary>
public static class Timestamps
{
    public static string Format(DateTimeOffset value) => value.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    public static DateTimeOffset Parse(string value) =>
        DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
