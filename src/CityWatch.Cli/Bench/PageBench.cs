using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using CityWatch.Alerts;
using CityWatch.Cameras;
using CityWatch.Identity;
using CityWatch.Investigations;
using CityWatch.Server.Demo;
using CityWatch.Server.Identity;
using CityWatch.Vision;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Cli.Bench;

/// <summary>One page's latency over its requests.</summary>
internal sealed record PageLatency(string Path, double P50Ms, double P95Ms);

/// <summary>The figures of one `bench pages` run: every public page, the console pages and the /healthz baseline, on the same server, in the same run.</summary>
internal sealed record PageFigures(int Cameras, int Alerts, int Requests, double FillSeconds, IReadOnlyList<PageLatency> Pages, PageLatency Baseline)
{
    public const double GoalMs = 200;

    public double WorstP95Ms => Pages.Max(p => p.P95Ms);

    public bool MeetsGoal => WorstP95Ms <= GoalMs;
}

/// <summary>
/// `bench pages`: the real server (Kestrel, SQLite) on 127.0.0.1 with a temporary data folder and a random KEK, filled through
/// <see cref="CameraStore"/>, <see cref="AlertStore"/> and <see cref="AnalysisJobStore"/> (one site per camera pair, each alert with
/// a sealed stand-in crop, <see cref="Jobs"/> finished analysis jobs), then each public portal page and each console page requested
/// one after another, <c>requests</c> times, after one untimed warm-up request each; /healthz measured the same way is the baseline
/// (the cost of the HTTP round trip alone). The console pages are requested as an investigator signed in the way a person is:
/// the set-up token makes the first accounts, the administrator invites the investigator, who accepts, enrols TOTP and signs in
/// with password and code, as the demo's people do (<see cref="SignInAsync"/>); its session token goes with every console request.
/// </summary>
internal static class PageBench
{
    public const int Jobs = 20;

    public static readonly IReadOnlyList<string> Paths = ["/", "/register", "/register/cameras.json", "/deployments", "/statistics", "/log", "/log/verify"];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    /// <summary>
    /// The console pages measured, every one an investigator may open: the alert queue, the newest alert's candidate view,
    /// deployments, legal bases (with the registration form listing every camera), cases, the jobs and the newest job,
    /// watchlists, governed settings, the audit log's first page, the camera list (every camera, filtered in memory) and the
    /// newest camera's detail (when there is a camera), and the reports.
    /// </summary>
    public static IReadOnlyList<string> ConsolePaths(long newestAlert, long newestJob, long newestCamera) =>
    [
        "/console/alerts", $"/console/alerts/{newestAlert}", "/console/deployments", "/console/bases", "/console/cases",
        "/console/jobs", $"/console/jobs/{newestJob}", "/console/watchlists", "/console/settings", "/console/log",
        "/console/cameras", .. newestCamera > 0 ? [$"/console/cameras/{newestCamera}"] : Array.Empty<string>(), "/console/reports",
    ];

    public static async Task<PageFigures> RunAsync(int cameras, int alerts, int requests, string modelsDirectory, Action<string> step, CancellationToken cancellationToken)
    {
        await using var server = await BenchServer.StartAsync("pages", modelsDirectory, o => o with { RunCameras = false }, cancellationToken);
        var fill = Stopwatch.StartNew();
        var (newestAlert, newestJob, newestCamera) = await FillAsync(server.Services, cameras, alerts, step, cancellationToken);
        fill.Stop();
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromMinutes(2) };
        var pages = new List<PageLatency>();
        foreach (var path in Paths)
        {
            step($"requesting {path}");
            pages.Add(await MeasureAsync(client, path, requests, cancellationToken));
        }

        step("signing in a console account (password and TOTP)");
        // No redirects followed: a console page that sent the bench to the sign-in page would otherwise count as answered.
        using var console = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromMinutes(2) };
        console.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await SignInAsync(server, cancellationToken));
        console.DefaultRequestHeaders.Accept.ParseAdd("text/html");
        foreach (var path in ConsolePaths(newestAlert, newestJob, newestCamera))
        {
            step($"requesting {path}");
            pages.Add(await MeasureAsync(console, path, requests, cancellationToken));
        }

        step("requesting /healthz");
        var baseline = await MeasureAsync(client, "/healthz", requests, cancellationToken);
        return new PageFigures(cameras, alerts, requests, fill.Elapsed.TotalSeconds, pages, baseline);
    }

    private static async Task<(long NewestAlert, long NewestJob, long NewestCamera)> FillAsync(IServiceProvider services, int cameras, int alerts, Action<string> step, CancellationToken cancellationToken)
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
        long newestAlert = 0;
        for (var i = 0; i < alerts; i++)
        {
            var camera = cameras == 0 ? (long?)null : ids[i % cameras];
            newestAlert = alertStore.Add(new NewAlert(camera, 1, 1 + (i % 50), $"Subject {i % 50}", 1, Guid.NewGuid(), start.AddSeconds(i * 60), 0.6f, 0.5f, new FaceBox(10, 10, 64, 64), crop)).Id;
        }

        // Finished jobs of made-up cases (the console lists them for an unscoped investigator): queued and ended through the store, each logged.
        step($"adding {Jobs} analysis jobs");
        var jobs = services.GetRequiredService<AnalysisJobStore>();
        long newestJob = 0;
        for (var i = 0; i < Jobs; i++)
        {
            var job = await jobs.CreateAsync(new NewAnalysisJob($"BENCH-{i:000}", 1, $"recording-{i}.mp4", $"/nonexistent/recording-{i}.mp4", false, 2, 640, new string('0', 64)), 1, "bench", cancellationToken);
            newestJob = (await jobs.FinishAsync(job.Id, AnalysisJobState.Done, null, new AnalysisProgress(1200, 1200, 40, 2, 1), 1, 0.5f, cancellationToken)).Id;
        }

        return (newestAlert, newestJob, cameras == 0 ? 0 : ids[^1]);
    }

    /// <summary>
    /// The demo's first accounts, made as the demo makes them (the set-up token, <c>demo-admin</c> and the oversight quorum), and
    /// <c>demo-investigator</c> invited by the administrator (the DPO approves the grant if it waits for approval); each person
    /// accepts through <see cref="DemoCity.AcceptAsync"/> and signs in through <see cref="DemoCity.SignInAsync"/> with password
    /// and the TOTP code <see cref="SecondFactor.NextCode"/> computes from their secret. The investigator's session token.
    /// </summary>
    private static async Task<string> SignInAsync(BenchServer server, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var token = server.Services.GetRequiredService<SetupTokenHolder>().Token
            ?? throw new InvalidOperationException("The bench server has accounts already: it cannot make its console account.");
        var identities = server.Services.GetRequiredService<IdentityStore>();
        using var anonymous = new HttpClient { BaseAddress = new Uri(server.Address) };
        var setup = await SendAsync<SetupResult>(anonymous.PostAsJsonAsync("/api/setup", new
        {
            token,
            administrator = new AccountInput("demo-admin", "Demo administrator", "DEMO-0001"),
            quorum = new[]
            {
                new QuorumMember("demo-authority", "Demo authority", "DEMO-0002", Role.Authority),
                new QuorumMember("demo-dpo", "Demo data-protection officer", "DEMO-0003", Role.DataProtectionOfficer),
            },
        }, Json, cancellationToken));
        var adminAccount = await DemoCity.AcceptAsync(anonymous, setup.Administrator, Role.Administrator, time, cancellationToken);
        var dpoAccount = await DemoCity.AcceptAsync(anonymous, setup.Quorum[1], Role.DataProtectionOfficer, time, cancellationToken);
        using var admin = await DemoCity.SignInAsync(server.Address, identities, time, "demo-admin", adminAccount, cancellationToken);
        using var dpo = await DemoCity.SignInAsync(server.Address, identities, time, "demo-dpo", dpoAccount, cancellationToken);
        var invitation = await SendAsync<IssuedInvitation>(admin.PostAsJsonAsync("api/accounts", new AccountInput("demo-investigator", "Demo Investigator", "DEMO-0007"), Json, cancellationToken));
        var investigator = await DemoCity.AcceptAsync(anonymous, invitation, Role.Investigator, time, cancellationToken);
        var grant = await SendAsync<RoleGrant>(admin.PostAsJsonAsync($"api/accounts/{invitation.AccountId}/roles", new RoleGrantInput(Role.Investigator), Json, cancellationToken));
        if (grant.Status == GrantStatus.Pending)
        {
            await SendAsync<RoleGrant>(dpo.PostAsync($"api/role-grants/{grant.Id}/approve", null, cancellationToken));
        }

        using var signedIn = await DemoCity.SignInAsync(server.Address, identities, time, "demo-investigator", investigator, cancellationToken);
        return signedIn.DefaultRequestHeaders.Authorization!.Parameter!;
    }

    private static async Task<T> SendAsync<T>(Task<HttpResponseMessage> request)
    {
        using var response = await request;
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        return (await response.Content.ReadFromJsonAsync<T>(Json))!;
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
