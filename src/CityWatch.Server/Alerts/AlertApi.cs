using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Identity;
using CityWatch.Server.Identity;

namespace CityWatch.Server.Alerts;

internal static class AlertApi
{
    private static readonly Role[] Viewers = [Role.Operator, Role.Verifier, Role.Investigator, Role.DataProtectionOfficer];

    public static IEndpointRouteBuilder MapAlertApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/alerts").WithTags("Alerts");
        group.MapGet("/", (AlertStore store, CameraStore cameras, HttpContext http, int? offset, int? limit, long? cameraId) =>
            TypedResults.Ok(store.List(offset ?? 0, limit ?? 50, cameraId, Scope(http, cameras)))).Allow(Viewers);
        group.MapGet("/{id:long}", (AlertStore store, CameraStore cameras, HttpContext http, long id) =>
            TypedResults.Ok(InScope(store.Get(id), http, cameras))).Allow(Viewers);
        group.MapGet("/{id:long}/crop", async (AlertStore store, CameraStore cameras, AuditTrail audit, HttpContext http, long id, CancellationToken ct) =>
        {
            var alert = InScope(store.Get(id), http, cameras);
            var crop = store.Crop(id);
            await audit.AppendAsync(
                new AuditRecord(http.User.Name(), AuditActions.AlertView, "crop", alert.LegalBasisId, Parameters: new Dictionary<string, string> { ["alert"] = id.ToString(CultureInfo.InvariantCulture) }),
                ct);
            return TypedResults.File(crop, "image/jpeg");
        }).Allow(Role.Operator, Role.Verifier, Role.Investigator);
        return app;
    }

    /// <summary>
    /// The cameras whose alerts the caller may see: the union of the camera scopes of their roles that
    /// see alerts, or null when one of those roles is unscoped.
    /// </summary>
    private static IReadOnlySet<long>? Scope(HttpContext http, CameraStore cameras)
    {
        var caller = http.Caller();
        var union = new HashSet<long>();
        foreach (var role in Viewers.Where(caller.Has))
        {
            var scope = caller.CameraScope(role, site => cameras.List(0, CameraStore.MaxPageSize, site).Items.Select(c => c.Id).ToList());
            if (scope is null)
            {
                return null;
            }

            union.UnionWith(scope);
        }

        return union;
    }

    private static Alert InScope(Alert alert, HttpContext http, CameraStore cameras) =>
        Scope(http, cameras) is { } scope && (alert.CameraId is not { } camera || !scope.Contains(camera))
            ? throw new ForbiddenException($"Alert {alert.Id} is from a camera outside your scope.")
            : alert;
}
