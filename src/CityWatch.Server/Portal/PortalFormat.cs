using System.Globalization;

namespace CityWatch.Server.Portal;

/// <summary>How the pages write times and counts: UTC, to the minute, the same for every reader.</summary>
public static class PortalFormat
{
    public static string When(DateTimeOffset at) => at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A rate as a percentage with enough digits for small rates; "n/a" when there was nothing to divide by.</summary>
    public static string Rate(double? rate) => rate is { } r ? (r * 100).ToString("0.####", CultureInfo.InvariantCulture) + " %" : "n/a";

    /// <summary>A camera's 30-day share up, in whole percent rounded down (so 100% means never seen down; the epsilon keeps 0.97 from printing 96); "no data" without samples.</summary>
    public static string UpShare(double? share) =>
        share is { } s ? $"up {Math.Floor((s * 100) + 1e-9).ToString("0", CultureInfo.InvariantCulture)}% of the last 30 days" : "no data";
}
