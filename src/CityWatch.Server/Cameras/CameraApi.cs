using CityWatch.Server.Identity;
using CityWatch.Identity;
using CityWatch.Cameras;
using CityWatch.Recognition;
using System.Security.Claims;
using CityWatch.Policy;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CityWatch.Server.Cameras;

internal static class CameraApi
{
    public static IEndpointRouteBuilder MapCameraApi(this IEndpointRouteBuilder app)
    {
        var sites = app.MapGroup("/api/sites").WithTags("Cameras");
        sites.MapGet("/", (CameraStore store, int? offset, int? limit) => TypedResults.Ok(store.ListSites(offset ?? 0, limit ?? 100))).Allow(Access.Staff);
        sites.MapPost("/", (CameraStore store, SiteInput input) =>
        {
            var site = store.CreateSite(input);
            return TypedResults.Created($"/api/sites/{site.Id}", site);
        }).Allow(Role.Administrator);

        var cameras = app.MapGroup("/api/cameras").WithTags("Cameras");
        cameras.MapGet("/", (CameraStore store, CameraMonitor monitor, int? offset, int? limit, long? siteId) =>
        {
            var page = store.List(offset ?? 0, limit ?? 100, siteId);
            return TypedResults.Ok(new Page<CameraView>(page.Items.Select(c => CameraView.Of(c, monitor.Health(c.Id))).ToList(), page.Total, page.Offset, page.Limit));
        }).Allow(Access.Staff);
        cameras.MapGet("/{id:long}", (CameraStore store, CameraMonitor monitor, long id) =>
        {
            var camera = store.Get(id);
            return TypedResults.Ok(CameraView.Of(camera, monitor.Health(id)));
        }).Allow(Access.Staff);
        cameras.MapGet("/{id:long}/health", Results<Ok<CameraHealthView>, NotFound> (CameraStore store, CameraMonitor monitor, long id) =>
        {
            var camera = store.Get(id);
            return monitor.Health(id) is { } health
                ? TypedResults.Ok(health with { LastError = StreamCredentials.Scrub(health.LastError, camera.StreamUrl) })
                : TypedResults.NotFound();
        }).Allow(Access.Staff);
        cameras.MapPost("/", async (CameraRegister register, CameraMonitor monitor, ClaimsPrincipal user, CameraInput input, CancellationToken ct) =>
        {
            var camera = await register.CreateAsync(input, user.Name(), ct);
            monitor.Reconcile();
            return TypedResults.Created($"/api/cameras/{camera.Id}", CameraView.Of(camera, monitor.Health(camera.Id)));
        }).Allow(Role.Administrator);
        cameras.MapPut("/{id:long}", async (CameraRegister register, CameraMonitor monitor, ClaimsPrincipal user, long id, CameraInput input, CancellationToken ct) =>
        {
            var camera = await register.UpdateAsync(id, input, user.Name(), ct);
            monitor.Reconcile();
            return TypedResults.Ok(CameraView.Of(camera, monitor.Health(id)));
        }).Allow(Role.Administrator);
        cameras.MapDelete("/{id:long}", async (CameraRegister register, CameraMonitor monitor, ClaimsPrincipal user, long id, CancellationToken ct) =>
        {
            await register.DeleteAsync(id, user.Name(), ct);
            monitor.Reconcile();
            return TypedResults.NoContent();
        }).Allow(Role.Administrator);
        // All rows or none; every problem of the file in one answer (detail, and "problems" with line, column,
        // reason); check=true answers what the import would do and stores nothing.
        cameras.MapPost("/import", async (CameraRegister register, CameraStore store, CameraMonitor monitor, HttpRequest request, ClaimsPrincipal user, string? format, bool? check, CancellationToken ct) =>
        {
            using var reader = new StreamReader(request.Body);
            var content = await reader.ReadToEndAsync(ct);
            var inventory = CameraImport.Parse(content, format ?? request.ContentType?.Split(';')[0] ?? "csv");
            if (check is true)
            {
                return TypedResults.Ok(store.CheckImport(inventory.Sites, inventory.Cameras));
            }

            var result = await register.ImportAsync(inventory.Sites, inventory.Cameras, user.Name(), ct);
            monitor.Reconcile();
            return TypedResults.Ok(result);
        }).Allow(Role.Administrator);
        return app;
    }
}

/// <summary>
/// A camera as the API shows it: the register entry and, if it streams, its health. Stream credentials
/// are write-only: the URL comes without them (<see cref="HasCredentials"/> says whether it has some), and
/// they are scrubbed from the health's last error, which may quote ffmpeg quoting the URL.
/// </summary>
internal sealed record CameraView(
    long Id,
    string Code,
    long SiteId,
    string Name,
    string Owner,
    string Purpose,
    string? StreamUrl,
    bool HasCredentials,
    bool FaceRecognitionAllowed,
    double AnalysisFps,
    int AnalysisWidth,
    int RetentionDays,
    bool Enabled,
    double? Latitude,
    double? Longitude,
    CameraHealthView? Health)
{
    public static CameraView Of(Camera c, CameraHealthView? health) => new(
        c.Id, c.Code, c.SiteId, c.Name, c.Owner, c.Purpose, StreamCredentials.Strip(c.StreamUrl), StreamCredentials.HasCredentials(c.StreamUrl),
        c.FaceRecognitionAllowed, c.AnalysisFps, c.AnalysisWidth, c.RetentionDays, c.Enabled, c.Latitude, c.Longitude,
        health is null ? null : health with { LastError = StreamCredentials.Scrub(health.LastError, c.StreamUrl) });
}
