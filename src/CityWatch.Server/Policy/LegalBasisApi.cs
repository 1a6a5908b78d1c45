using CityWatch.Server.Identity;
using CityWatch.Identity;
using System.Security.Claims;
using CityWatch.Policy;

namespace CityWatch.Server.Policy;

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
        group.MapPost("/{id:long}/activate", async (LegalBasisStore store, ClaimsPrincipal user, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.ActivateAsync(id, user.Name(), ct))).Allow(Role.Authority);
        group.MapPost("/{id:long}/revoke", async (LegalBasisStore store, ClaimsPrincipal user, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.RevokeAsync(id, user.Name(), ct))).Allow(Role.Authority, Role.DataProtectionOfficer);
        return app;
    }
}
