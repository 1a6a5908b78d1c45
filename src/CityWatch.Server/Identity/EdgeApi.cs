using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Identity;

namespace CityWatch.Server.Identity;

/// <summary>What a smart camera pushes: that it is alive, and what it saw (counts, not faces).</summary>
internal sealed record EdgeEvent(string Kind, DateTimeOffset At, int? People = null);

internal static class EdgeApi
{
    public const string EdgeEventAction = "edge.event";

    public static IEndpointRouteBuilder MapEdgeApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/edge/cameras/{id:long}/events", async (HttpContext http, CameraStore cameras, AuditTrail audit, long id, EdgeEvent input, CancellationToken ct) =>
        {
            var caller = http.Caller();
            if (caller.Key is null || !caller.Key.CameraIds.Contains(id))
            {
                throw new ForbiddenException($"This edge key may not report for camera {id}.");
            }

            if (string.IsNullOrWhiteSpace(input.Kind))
            {
                throw new InvalidRequestException("'kind' is required.");
            }

            cameras.Get(id);
            await audit.AppendAsync(
                new AuditRecord(caller.Name, EdgeEventAction, input.Kind, Parameters: new Dictionary<string, string> { ["camera"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture) }),
                ct);
            return TypedResults.Accepted((string?)null);
        }).Allow(Role.EdgeDevice).WithTags("Edge");
        return app;
    }
}
