using System.Security.Claims;
using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Server.Identity;

namespace CityWatch.Server.Policy;

/// <summary>
/// The legal-basis lifecycle: operators and investigators register a draft and record its prerequisites;
/// an authority (not the registrant) authorises or refuses it with the decision's reference; an authority
/// or the DPO revokes it, which stops its deployments (and destroys an urgent basis's outputs if it was never
/// authorised). Urgent use's requests to the authority are listed for the authority and the DPO, and counted in public.
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
        group.MapPost("/{id:long}/revoke", async (UrgencyGuard urgency, ClaimsPrincipal user, long id, CancellationToken ct) =>
            TypedResults.Ok(await urgency.RevokeAsync(id, user.Name(), ct))).Allow(Role.Authority, Role.DataProtectionOfficer);

        // Urgent use files a request with the authority, which answers it by authorising or refusing the basis.
        app.MapGet("/api/urgent-requests/", (UrgentRequestRegister requests) => TypedResults.Ok(requests.List()))
            .WithTags("Policy").Allow(Role.Authority, Role.DataProtectionOfficer);
        app.MapGet("/api/public/urgent-requests", (UrgentRequestRegister requests) => TypedResults.Ok(requests.Counts()))
            .WithTags("Transparency").Public();
        return app;
    }
}
