using CityWatch.Vision;

namespace CityWatch.Server.Demo;

/// <summary>
/// What the demo city is seeded with: its camera inventory (CSV, as a city delivers it) and the people enrolled on
/// its watchlist, each from a photo file. The demo's own is <see cref="FromAssets"/>; <c>bench latency</c> passes one
/// streaming camera on its stand-in stream and people from the shared photos.
/// </summary>
public sealed record DemoSetup(string CamerasCsv, IReadOnlyList<(string Identity, string PhotoPath)> People)
{
    /// <summary>The demo: three cameras streaming the shared video in real time, the people of that video enrolled.</summary>
    public static DemoSetup FromAssets(string? assets, int streaming = DemoInventory.Streaming)
    {
        if (assets is null)
        {
            throw new InvalidOperationException("The demo needs the assets folder (run `citywatch models fetch`).");
        }

        var video = Path.Combine(assets, ModelCatalog.HamiltonClip);
        if (!File.Exists(video))
        {
            throw new InvalidOperationException($"Demo video missing at {video}: run `citywatch models fetch`.");
        }

        return new DemoSetup(DemoInventory.Csv(new Uri(video).AbsoluteUri, streaming), [.. ModelCatalog.HamiltonClipPeople.Select(p => (p.Identity, Path.Combine(assets, p.RelativePath)))]);
    }
}
