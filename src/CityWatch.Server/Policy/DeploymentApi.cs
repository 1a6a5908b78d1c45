using System.Security.Claims;
using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Server.Identity;

namespace CityWatch.Server.Policy;

/// <summary>
/// Deployments: an operator starts one on an in-force basis's cameras with approved watchlists; the
/// operator who started it, an authority or the DPO (the overseers) stops it at once.
/// </summary>
internal static class DeploymentApi
{
    public static IEndpointRouteBuilder MapDeploymentApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/deployments").WithTags("Policy");
        group.MapGet("/", (DeploymentStore store) => TypedResults.Ok(store.List())).Allow(Access.Staff);
        group.MapGet("/{id:long}", (DeploymentStore store, long id) => TypedResults.Ok(store.Get(id))).Allow(Access.Staff);
        group.MapPost("/", async (DeploymentStore store, ClaimsPrincipal user, DeploymentInput input, CancellationToken ct) =>
        {
            var deployment = await store.StartAsync(input, user.Name(), ct);
            return TypedResults.Created($"/api/deployments/{deployment.Id}", deployment);
        }).Allow(Role.Operator);
        group.MapPost("/{id:long}/stop", async (DeploymentStore store, ClaimsPrincipal user, long id, DeploymentStop? stop, CancellationToken ct) =>
        {
            var overseer = user.IsInRole(nameof(Role.Authority)) || user.IsInRole(nameof(Role.DataProtectionOfficer));
            return TypedResults.Ok(await store.StopAsync(id, user.Name(), overseer, stop?.Reason, ct));
        }).Allow(Role.Operator, Role.Authority, Role.DataProtectionOfficer);
        return app;
    }
}
