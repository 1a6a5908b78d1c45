using System.Globalization;

namespace CityWatch.Server.Portal;

/// <summary>How the pages write times and counts: UTC, to the minute, the same for every reader.</summary>
public static class PortalFormat
{
    public static string When(DateTimeOffset at) => at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A rate as a percentage with enough digits for small rates; "n/a" when there was nothing to divide by.</summary>
    public static string Rate(double? rate) => rate is { } r ? (r * 100).ToString("0.####", CultureInfo.InvariantCulture) + " %" : "n/a";
}
