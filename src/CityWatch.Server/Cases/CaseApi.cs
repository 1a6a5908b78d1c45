using System.Security.Claims;
using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Server.Identity;

namespace CityWatch.Server.Cases;

/// <summary>
/// The case register: an investigator opens a case under a legal basis in force for retrospective use and
/// inside its scope; investigators, the authority and the DPO read the register and may close a case. The
/// public sees counts per basis and month, never case numbers.
/// </summary>
internal static class CaseApi
{
    private static readonly Role[] Readers = [Role.Investigator, Role.Authority, Role.DataProtectionOfficer];

    public static IEndpointRouteBuilder MapCaseApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/cases").WithTags("Cases");
        group.MapGet("/", (CaseStore store) => TypedResults.Ok(store.List())).Allow(Readers);
        group.MapGet("/{id:long}", (CaseStore store, long id) => TypedResults.Ok(store.Get(id))).Allow(Readers);
        group.MapPost("/", async (CaseStore store, ClaimsPrincipal user, CaseInput input, CancellationToken ct) =>
        {
            var opened = await store.OpenAsync(input, user.Name(), ct);
            return TypedResults.Created($"/api/cases/{opened.Id}", opened);
        }).Allow(Role.Investigator);
        group.MapPost("/{id:long}/close", async (CaseStore store, ClaimsPrincipal user, long id, CaseClosure? closure, CancellationToken ct) =>
            TypedResults.Ok(await store.CloseAsync(id, closure?.Reason, user.Name(), ct))).Allow(Readers);

        app.MapGet("/api/public/cases", (CaseStore store) => TypedResults.Ok(store.Counts())).Public().WithTags("Transparency");
        return app;
    }
}
