using System.Globalization;
using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Cameras;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Server.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.FileProviders;

namespace CityWatch.Server.Portal;

/// <summary>
/// The public portal: server-rendered pages (Razor components) anyone can open without signing in, and the
/// script and style files they load, served by the app itself (no CDN). Nothing personal is on them, so
/// they are cacheable for a minute.
/// </summary>
public static class PortalApi
{
    public const string CacheControl = "public, max-age=60";
    public const int PageSize = 50;

    private static readonly string AssetRoot = Path.Combine(AppContext.BaseDirectory, "Portal", "wwwroot");

    public static IServiceCollection AddPortal(this IServiceCollection services, ServerOptions options, IConfiguration configuration)
    {
        services.AddSingleton(PortalOptions.From(options, configuration));
        services.AddRazorComponents();
        return services;
    }

    /// <summary>The portal's files under <c>/portal</c> and the vendored libraries under <c>/vendor</c>: before authentication, as they are public.</summary>
    public static WebApplication UsePortalAssets(this WebApplication app)
    {
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = new PhysicalFileProvider(AssetRoot),
            OnPrepareResponse = context => context.Context.Response.Headers.CacheControl = CacheControl,
        });
        return app;
    }

    public static IEndpointRouteBuilder MapPortal(this IEndpointRouteBuilder app)
    {
        app.MapPage("/", (LegalBasisStore bases, DeploymentStore deployments, CameraStore cameras, WatchlistStore watchlists, TimeProvider time, HttpContext http) =>
        {
            var now = time.GetUtcNow();
            var inForce = bases.InForce(now).Select(b => new BasisInForce(b.Title, b.Authority, b.ValidUntil)).ToList();
            var register = AllCameras(cameras);
            var current = Deployments(deployments.Running(), bases, register.ToDictionary(c => c.Id), watchlists);
            return Page<HomePage>(http, new HomePageModel(inForce, current, register.Count, register.Count(c => c.FaceRecognitionAllowed)));
        });
        app.MapPage("/register", (CameraStore cameras, DeploymentStore deployments, CameraMonitor monitor, CameraUptime uptime, PortalOptions portal, HttpContext http, string? q, string? face, int? page) =>
        {
            var all = Register(cameras, deployments, monitor, uptime);
            var matching = all.Where(c => Matches(c, q, face)).ToList();
            var pages = Math.Max(1, (matching.Count + PageSize - 1) / PageSize);
            var number = Math.Clamp(page ?? 1, 1, pages);
            var shown = matching.Skip((number - 1) * PageSize).Take(PageSize).ToList();
            return Page<RegisterPage>(http, new RegisterPageModel(shown, all.Count, matching.Count, number, pages, q, face, portal.TileUrl, portal.TileAttribution, all.Count(c => c.UpShare < 0.5)));
        });
        app.MapGet("/register/cameras.json", (CameraStore cameras, DeploymentStore deployments, CameraMonitor monitor, CameraUptime uptime, HttpContext http) =>
        {
            http.Response.Headers.CacheControl = CacheControl;
            return TypedResults.Ok(Register(cameras, deployments, monitor, uptime));
        }).Public().WithTags("Portal");
        app.MapPage("/deployments", (LegalBasisStore bases, DeploymentStore deployments, CameraStore cameras, WatchlistStore watchlists, TimeProvider time, HttpContext http) =>
        {
            var now = time.GetUtcNow();
            var register = AllCameras(cameras).ToDictionary(c => c.Id);
            var all = deployments.List();
            var announced = bases.List()
                .Where(b => b.Status == LegalBasisStatus.Authorised && b.ValidFrom > now && b.Purposes.Contains(ProcessingPurpose.Live))
                .Select(b => new AnnouncedBasis(b.Title, b.Instrument, b.Authority, b.IsDemonstration, CameraNames(b.CameraIds, register), b.ValidFrom, b.ValidUntil))
                .ToList();
            return Page<DeploymentsPage>(http, new DeploymentsPageModel(
                Deployments(all.Where(d => d.Running), bases, register, watchlists),
                Deployments(all.Where(d => !d.Running).OrderByDescending(d => d.StoppedAt), bases, register, watchlists),
                announced));
        });
        app.MapPage("/log", (AuditTrail trail, HttpContext http) =>
        {
            var text = trail.LatestCheckpoint();
            var note = SignedNote.Parse(text);
            var checkpoint = Checkpoint.Parse(note.Text);
            var logName = trail.VerifierKey.Split('+')[0];
            var signatures = note.Signatures
                .Select(s => new CheckpointSignature(s.Name, s.KeyId.ToString("x8", CultureInfo.InvariantCulture), s.Name == logName))
                .OrderBy(s => !s.IsLog).ThenBy(s => s.Name, StringComparer.Ordinal)
                .ToList();
            var server = $"{http.Request.Scheme}://{http.Request.Host}";
            return Page<LogPage>(http, new LogPageModel(checkpoint.Origin, checkpoint.Size, Convert.ToBase64String(checkpoint.RootHash), signatures, text, trail.VerifierKey, server));
        });
        app.MapPage("/log/verify", (AuditTrail trail, HttpContext http) =>
        {
            var checkpoint = Checkpoint.Parse(SignedNote.Parse(trail.LatestCheckpoint()).Text);
            return Page<VerifyPage>(http, new VerifyPageModel(checkpoint.Size, trail.VerifierKey, $"{http.Request.Scheme}://{http.Request.Host}"));
        });
        app.MapPage("/statistics", (DeploymentStore deployments, LegalBasisStore bases, CityWatch.Alerts.AlertStatistics statistics, CityWatch.Identity.IdentityStore identities, CityWatch.Vision.VisionOptions vision, TimeProvider time, HttpContext http) =>
        {
            var all = deployments.List();
            var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
            var from = all.Count == 0 ? today : DateOnly.FromDateTime(all.Min(d => d.StartedAt).UtcDateTime);
            var days = statistics.Statistics(from, today);
            var figures = all.Select(d =>
            {
                var basis = bases.Get(d.LegalBasisId);
                return new DeploymentStatistics(d.Id, basis.Title, basis.IsDemonstration, d.StartedAt, d.StoppedAt, CityWatch.Transparency.Reports.Figures(d, days));
            }).ToList();
            var models = CityWatch.Vision.ModelCards.All
                .Select(c => new PublicModelCard(c.Name, c.Role.ToString(), c.Licence, c.TrainingData, c.Name == vision.Detector || c.Name == vision.Embedder))
                .ToList();
            var counts = identities.CountsByRole().ToDictionary(p => p.Key.ToString(), p => p.Value);
            return Page<StatisticsPage>(http, new StatisticsPageModel(today.Year, figures, models, counts, identities.History(), statistics.Years(today).Select(YearStatistics.Of).ToList()));
        });
        return app;
    }

    private static RazorComponentResult<TPage> Page<TPage>(HttpContext http, object model)
        where TPage : Microsoft.AspNetCore.Components.IComponent
    {
        http.Response.Headers.CacheControl = CacheControl;
        return new RazorComponentResult<TPage>(new Dictionary<string, object?> { ["Model"] = model });
    }

    /// <summary>A public page: open to anyone, signed in or not.</summary>
    private static RouteHandlerBuilder MapPage(this IEndpointRouteBuilder app, string pattern, Delegate handler) =>
        app.MapGet(pattern, handler).Public().WithTags("Portal");

    private static bool Matches(RegisterCamera camera, string? query, string? face)
    {
        var wanted = face switch
        {
            "yes" => camera.FaceRecognitionPossible,
            "no" => !camera.FaceRecognitionPossible,
            _ => true,
        };
        if (!wanted)
        {
            return false;
        }

        if (string.IsNullOrWhiteSpace(query))
        {
            return true;
        }

        var q = query.Trim();
        return new[] { camera.Code, camera.Name, camera.Place, camera.Owner, camera.Purpose }.Any(field => field.Contains(q, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Every camera in the register, read a page at a time.</summary>
    internal static List<Camera> AllCameras(CameraStore store)
    {
        var cameras = new List<Camera>();
        for (var offset = 0; ; offset += CameraStore.MaxPageSize)
        {
            var page = store.List(offset, CameraStore.MaxPageSize);
            cameras.AddRange(page.Items);
            if (cameras.Count >= page.Total || page.Items.Count == 0)
            {
                return cameras;
            }
        }
    }

    internal static List<Site> AllSites(CameraStore store)
    {
        var sites = new List<Site>();
        for (var offset = 0; ; offset += CameraStore.MaxPageSize)
        {
            var page = store.ListSites(offset, CameraStore.MaxPageSize);
            sites.AddRange(page.Items);
            if (sites.Count >= page.Total || page.Items.Count == 0)
            {
                return sites;
            }
        }
    }

    private static List<RegisterCamera> Register(CameraStore store, DeploymentStore deployments, CameraMonitor monitor, CameraUptime uptime)
    {
        var sites = AllSites(store).ToDictionary(s => s.Id);
        var shares = uptime.Shares();
        var live = deployments.Running().SelectMany(d => d.CameraIds).ToHashSet();
        return AllCameras(store).Select(c =>
        {
            var site = sites[c.SiteId];
            // A camera placed on its own stands there; one without coordinates stands at its site.
            return new RegisterCamera(c.Code, c.Name, site.Name, c.Latitude ?? site.Latitude, c.Longitude ?? site.Longitude, c.Owner, c.Purpose, c.FaceRecognitionAllowed, live.Contains(c.Id), c.RetentionDays, Health(c, monitor), shares.TryGetValue(c.Id, out var share) ? share : null);
        }).ToList();
    }

    /// <summary>The camera's state in words: its stream's health where the server ingests it.</summary>
    internal static string Health(Camera camera, CameraMonitor monitor) => camera switch
    {
        { StreamUrl: null } => "not streamed to CityWatch",
        { Enabled: false } => "switched off",
        _ => monitor.Health(camera.Id)?.State ?? "not monitored",
    };

    private static List<PublicDeployment> Deployments(IEnumerable<Deployment> deployments, LegalBasisStore bases, IReadOnlyDictionary<long, Camera> cameras, WatchlistStore watchlists)
    {
        var sizes = watchlists.Digests().ToDictionary(d => d.WatchlistId, d => d.Count);
        return deployments.Select(d =>
        {
            var basis = bases.Get(d.LegalBasisId);
            return new PublicDeployment(
                d.Id, basis.Title, basis.Instrument, basis.Authority, basis.IsDemonstration, CameraNames(d.CameraIds, cameras),
                d.Watchlists.Sum(w => sizes.GetValueOrDefault(w.WatchlistId)), basis.ValidFrom, basis.ValidUntil, d.StartedAt, d.StoppedAt);
        }).ToList();
    }

    private static List<string> CameraNames(IEnumerable<long> ids, IReadOnlyDictionary<long, Camera> cameras) =>
        ids.Select(id => cameras.TryGetValue(id, out var c) ? $"{c.Code} ({c.Name})" : $"camera {id} (removed)").ToList();
}
