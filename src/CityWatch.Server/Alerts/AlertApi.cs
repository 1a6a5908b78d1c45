using CityWatch.Alerts;
using CityWatch.Audit;

namespace CityWatch.Server.Alerts;

internal static class AlertApi
{
    public static IEndpointRouteBuilder MapAlertApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/alerts").WithTags("Alerts");
        group.MapGet("/", (AlertStore store, int? offset, int? limit, long? cameraId) => TypedResults.Ok(store.List(offset ?? 0, limit ?? 50, cameraId)));
        group.MapGet("/{id:long}", (AlertStore store, long id) => TypedResults.Ok(store.Get(id)));
        group.MapGet("/{id:long}/crop", async (AlertStore store, AuditTrail audit, long id, CancellationToken ct) =>
        {
            var alert = store.Get(id);
            var crop = store.Crop(id);
            await audit.AppendAsync(
                new AuditRecord(Actor.Operator, AuditActions.AlertView, "crop", alert.LegalBasisId, Parameters: new Dictionary<string, string> { ["alert"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture) }),
                ct);
            return TypedResults.File(crop, "image/jpeg");
        });
        return app;
    }
}
