using CityWatch.Server.Identity;
using CityWatch.Identity;
using CityWatch.Cameras;
using CityWatch.Recognition;
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
            store.Get(id);
            return monitor.Health(id) is { } health ? TypedResults.Ok(health) : TypedResults.NotFound();
        }).Allow(Access.Staff);
        cameras.MapPost("/", (CameraStore store, CameraMonitor monitor, CameraInput input) =>
        {
            var camera = store.Create(input);
            monitor.Reconcile();
            return TypedResults.Created($"/api/cameras/{camera.Id}", camera);
        }).Allow(Role.Administrator);
        cameras.MapPut("/{id:long}", (CameraStore store, CameraMonitor monitor, long id, CameraInput input) =>
        {
            var camera = store.Update(id, input);
            monitor.Reconcile();
            return TypedResults.Ok(camera);
        }).Allow(Role.Administrator);
        cameras.MapDelete("/{id:long}", (CameraStore store, CameraMonitor monitor, long id) =>
        {
            store.Delete(id);
            monitor.Reconcile();
            return TypedResults.NoContent();
        }).Allow(Role.Administrator);
        cameras.MapPost("/import", async (CameraStore store, CameraMonitor monitor, HttpRequest request, string? format) =>
        {
            using var reader = new StreamReader(request.Body);
            var content = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
            var inventory = CameraImport.Parse(content, format ?? request.ContentType?.Split(';')[0] ?? "csv");
            var result = store.Import(inventory.Sites, inventory.Cameras);
            monitor.Reconcile();
            return TypedResults.Ok(result);
        }).Allow(Role.Administrator);
        return app;
    }
}

/// <summary>A camera as the API shows it: the register entry and, if it streams, its health.</summary>
internal sealed record CameraView(
    long Id,
    string Code,
    long SiteId,
    string Name,
    string Owner,
    string Purpose,
    string? StreamUrl,
    bool FaceRecognitionAllowed,
    double AnalysisFps,
    int AnalysisWidth,
    int RetentionDays,
    bool Enabled,
    CameraHealthView? Health)
{
    public static CameraView Of(Camera c, CameraHealthView? health) => new(
        c.Id, c.Code, c.SiteId, c.Name, c.Owner, c.Purpose, c.StreamUrl, c.FaceRecognitionAllowed, c.AnalysisFps, c.AnalysisWidth,
        c.RetentionDays, c.Enabled, health);
}
