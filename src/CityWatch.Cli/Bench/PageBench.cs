using System.Diagnostics;
using CityWatch.Alerts;
using CityWatch.Cameras;
using CityWatch.Vision;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Cli.Bench;

/// <summary>One page's latency over its requests.</summary>
internal sealed record PageLatency(string Path, double P50Ms, double P95Ms);

/// <summary>The figures of one `bench pages` run: every public page and the /healthz baseline, on the same server, in the same run.</summary>
internal sealed record PageFigures(int Cameras, int Alerts, int Requests, double FillSeconds, IReadOnlyList<PageLatency> Pages, PageLatency Baseline)
{
    public const double GoalMs = 200;

    public double WorstP95Ms => Pages.Max(p => p.P95Ms);

    public bool MeetsGoal => WorstP95Ms <= GoalMs;
}

/// <summary>
/// `bench pages`: the real server (Kestrel, SQLite) on 127.0.0.1 with a temporary data folder and a random KEK, filled through
/// <see cref="CameraStore"/> and <see cref="AlertStore"/> (one site per camera pair, each alert with a sealed stand-in crop),
/// then each public portal page requested one after another, <c>requests</c> times, after one untimed warm-up request each;
/// /healthz measured the same way is the baseline (the cost of the HTTP round trip alone).
/// Console pages are left out: they need a signed-in account with TOTP, which the bench does not create.
/// </summary>
internal static class PageBench
{
    public static readonly IReadOnlyList<string> Paths = ["/", "/register", "/register/cameras.json", "/deployments", "/statistics", "/log", "/log/verify"];

    public static async Task<PageFigures> RunAsync(int cameras, int alerts, int requests, string modelsDirectory, Action<string> step, CancellationToken cancellationToken)
    {
        await using var server = await BenchServer.StartAsync("pages", modelsDirectory, o => o with { RunCameras = false }, cancellationToken);
        var fill = Stopwatch.StartNew();
        Fill(server.Services, cameras, alerts, step);
        fill.Stop();
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromMinutes(2) };
        var pages = new List<PageLatency>();
        foreach (var path in Paths)
        {
            step($"requesting {path}");
            pages.Add(await MeasureAsync(client, path, requests, cancellationToken));
        }

        step("requesting /healthz");
        var baseline = await MeasureAsync(client, "/healthz", requests, cancellationToken);
        return new PageFigures(cameras, alerts, requests, fill.Elapsed.TotalSeconds, pages, baseline);
    }

    private static void Fill(IServiceProvider services, int cameras, int alerts, Action<string> step)
    {
        var store = services.GetRequiredService<CameraStore>();
        var ids = new long[cameras];
        step($"adding {cameras} cameras");
        for (var i = 0; i < cameras; i++)
        {
            var site = $"S{i / 2:0000}";
            if (i % 2 == 0)
            {
                store.CreateSite(new SiteInput(site, $"Bench site {i / 2}", 43.25 + (i % 100 * 0.001), -79.87 + (i / 100 * 0.001), "City of Bench"));
            }

            ids[i] = store.Create(new CameraInput($"CAM-{i:00000}", site, $"Camera {i}", "City of Bench", "Traffic safety")).Id;
        }

        var alertStore = services.GetRequiredService<AlertStore>();
        var crop = new byte[2048];
        var start = TimeProvider.System.GetUtcNow().AddDays(-7);
        step($"adding {alerts} alerts");
        for (var i = 0; i < alerts; i++)
        {
            var camera = cameras == 0 ? (long?)null : ids[i % cameras];
            alertStore.Add(new NewAlert(camera, 1, 1 + (i % 50), $"Subject {i % 50}", 1, Guid.NewGuid(), start.AddSeconds(i * 60), 0.6f, 0.5f, new FaceBox(10, 10, 64, 64), crop));
        }
    }

    private static async Task<PageLatency> MeasureAsync(HttpClient client, string path, int requests, CancellationToken cancellationToken)
    {
        await RequestAsync(client, path, cancellationToken);
        var times = new double[requests];
        for (var i = 0; i < requests; i++)
        {
            var watch = Stopwatch.StartNew();
            await RequestAsync(client, path, cancellationToken);
            times[i] = watch.Elapsed.TotalMilliseconds;
        }

        Array.Sort(times);
        return new PageLatency(path, Percentiles.NearestRank(times, 0.50), Percentiles.NearestRank(times, 0.95));
    }

    private static async Task RequestAsync(HttpClient client, string path, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(path, HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode}; the bench measures pages that answer.");
        }
    }
}
