using CityWatch.Cameras;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Server.Cameras;
using CityWatch.Server.Identity;
using CityWatch.Server.Portal;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's cameras: the list with health, filters and paging, the map (the portal register's script and
/// Leaflet assets), and one camera with the legal bases that name it and the deployments that cover it. Both admit
/// exactly the roles of <c>GET /api/cameras</c> and <c>GET /api/cameras/{id}</c> (all staff) and show what they
/// show: the stream URL without credentials, the health's last error scrubbed of them (<see cref="CameraView"/>).
/// </summary>
internal static class ConsoleCamerasApi
{
    /// <summary>Cameras on one page of the list.</summary>
    internal const int PageSize = 50;

    public static IEndpointRouteBuilder MapConsoleCameras(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/cameras", (CameraStore store, CameraMonitor monitor, PortalOptions portal, IAntiforgery antiforgery, HttpContext http, string? q, string? health, string? face, int? page) =>
        {
            var all = Cameras(store, monitor);
            var matching = all.Where(c => Matches(c, q, health, face)).ToList();
            var pages = Math.Max(1, (matching.Count + PageSize - 1) / PageSize);
            var number = page ?? 1;
            if (number < 1 || number > pages)
            {
                throw new InvalidRequestException($"'page' must be between 1 and {pages}.");
            }

            var shown = matching.Skip((number - 1) * PageSize).Take(PageSize).ToList();
            var states = all.Select(c => c.Health).Distinct().Order(StringComparer.Ordinal).ToList();
            return ConsoleApi.Page<CamerasPage>(http, new CamerasPageModel(
                ConsoleApi.Viewer(antiforgery, http), shown, all.Count, matching.Count, number, pages, q, health, face, states, portal.TileUrl, portal.TileAttribution));
        }).Allow(Access.Staff);
        console.MapGet("/cameras/{id:long}", (CameraStore store, CameraMonitor monitor, LegalBasisStore bases, DeploymentStore deployments, IAntiforgery antiforgery, HttpContext http, long id) =>
        {
            var camera = store.Get(id);
            var view = CameraView.Of(camera, monitor.Health(id));
            var site = PortalApi.AllSites(store).FirstOrDefault(s => s.Id == camera.SiteId);
            var naming = bases.List().Where(b => b.CameraIds.Contains(id)).OrderByDescending(b => b.Id).ToList();
            var titles = bases.List().ToDictionary(b => b.Id, b => b.Title);
            var covering = deployments.List().Where(d => d.CameraIds.Contains(id)).OrderByDescending(d => d.Running).ThenByDescending(d => d.Id)
                .Select(d => new ConsoleDeployment(d, titles.GetValueOrDefault(d.LegalBasisId, $"basis {d.LegalBasisId}"), []))
                .ToList();
            return ConsoleApi.Page<CameraPage>(http, new CameraPageModel(
                ConsoleApi.Viewer(antiforgery, http), new ConsoleCamera(camera, site?.Name ?? $"site {camera.SiteId}", PortalApi.Health(camera, monitor)),
                view.StreamUrl, view.HasCredentials, view.Health, naming, covering));
        }).Allow(Access.Staff);
        return app;
    }

    /// <summary>Every registered camera with its site and health, in the register's order.</summary>
    private static List<ConsoleCamera> Cameras(CameraStore store, CameraMonitor monitor)
    {
        var sites = PortalApi.AllSites(store).ToDictionary(s => s.Id);
        return PortalApi.AllCameras(store)
            .Select(c => new ConsoleCamera(c, sites.TryGetValue(c.SiteId, out var site) ? site.Name : $"site {c.SiteId}", PortalApi.Health(c, monitor)))
            .ToList();
    }

    /// <summary>The filters: text in the code, name or site; the health in words, exactly; face recognition possible (yes) or not (no).</summary>
    private static bool Matches(ConsoleCamera camera, string? query, string? health, string? face)
    {
        var c = camera.Camera;
        var wanted = face switch
        {
            "yes" => c.FaceRecognitionAllowed,
            "no" => !c.FaceRecognitionAllowed,
            _ => true,
        };
        if (!wanted || (!string.IsNullOrEmpty(health) && camera.Health != health))
        {
            return false;
        }

        var q = query?.Trim();
        return string.IsNullOrEmpty(q) || new[] { c.Code, c.Name, camera.Site }.Any(field => field.Contains(q, StringComparison.OrdinalIgnoreCase));
    }
}
