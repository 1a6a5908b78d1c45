namespace CityWatch.Cli.Bench;

/// <summary>The percentiles the benches print.</summary>
internal static class Percentiles
{
    /// <summary>Nearest-rank percentile (<paramref name="fraction"/> 0..1) of sorted values; 0 for none.</summary>
    public static double NearestRank(double[] sorted, double fraction) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(fraction * sorted.Length) - 1, 0, sorted.Length - 1)];
}
