using System.Security.Claims;
using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Server.Identity;

namespace CityWatch.Server.Policy;

/// <summary>
/// The legal-basis lifecycle: operators and investigators register a draft and record its prerequisites;
/// an authority (not the registrant) authorises or refuses it with the decision's reference; an authority
/// or the DPO revokes it, which stops its deployments.
/// </summary>
internal static class LegalBasisApi
{
    public static IEndpointRouteBuilder MapLegalBasisApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/legal-bases").WithTags("Policy");
        group.MapGet("/", (LegalBasisStore store) => TypedResults.Ok(store.List())).Allow(Access.Staff);
        group.MapGet("/{id:long}", (LegalBasisStore store, long id) => TypedResults.Ok(store.Get(id))).Allow(Access.Staff);
        group.MapPost("/", async (LegalBasisStore store, ClaimsPrincipal user, LegalBasisDraft draft, CancellationToken ct) =>
        {
            var basis = await store.RegisterAsync(draft, user.Name(), ct);
            return TypedResults.Created($"/api/legal-bases/{basis.Id}", basis);
        }).Allow(Role.Operator, Role.Investigator);
        group.MapPost("/{id:long}/prerequisites", async (LegalBasisStore store, ClaimsPrincipal user, long id, Prerequisites prerequisites, CancellationToken ct) =>
            TypedResults.Ok(await store.RecordPrerequisitesAsync(id, prerequisites, user.Name(), ct))).Allow(Role.Operator, Role.Investigator);
        group.MapPost("/{id:long}/authorise", async (LegalBasisStore store, ClaimsPrincipal user, long id, AuthorityDecision decision, CancellationToken ct) =>
            TypedResults.Ok(await store.AuthoriseAsync(id, decision, user.Name(), ct))).Allow(Role.Authority);
        group.MapPost("/{id:long}/refuse", async (UrgencyGuard urgency, ClaimsPrincipal user, long id, AuthorityDecision decision, CancellationToken ct) =>
            TypedResults.Ok(await urgency.RefuseAsync(id, decision, user.Name(), ct))).Allow(Role.Authority);
        group.MapPost("/{id:long}/revoke", async (LegalBasisStore store, DeploymentStore deployments, ClaimsPrincipal user, long id, CancellationToken ct) =>
        {
            var basis = await store.RevokeAsync(id, user.Name(), ct);
            await deployments.StopForBasisAsync(id, user.Name(), "legal basis revoked", ct);
            return TypedResults.Ok(basis);
        }).Allow(Role.Authority, Role.DataProtectionOfficer);
        return app;
    }
}
