using System.Security.Claims;
using CityWatch.Identity;
using CityWatch.Server.Identity;
using CityWatch.Settings;

namespace CityWatch.Server.Settings;

/// <summary>Governed settings: read by staff, changed only by a proposal that a second person approves.</summary>
internal static class SettingsApi
{
    public static IEndpointRouteBuilder MapSettingsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/settings").WithTags("Governance");
        group.MapGet("/", (SettingsStore settings) => TypedResults.Ok(settings.List())).Allow(Access.Staff);
        group.MapGet("/proposals", (SettingProposals proposals) => TypedResults.Ok(proposals.List())).Allow(Access.Staff);
        group.MapPost("/proposals", async (SettingProposals proposals, ClaimsPrincipal user, ProposalInput input, CancellationToken ct) =>
        {
            var proposal = await proposals.ProposeAsync(input, user.Name(), ct);
            return TypedResults.Created($"/api/settings/proposals/{proposal.Id}", proposal);
        }).Allow(Role.Administrator, Role.Investigator);
        group.MapPost("/proposals/{id:long}/approve", async (SettingProposals proposals, ClaimsPrincipal user, long id, CancellationToken ct) =>
            TypedResults.Ok(await proposals.ApproveAsync(id, user.Name(), ct))).Allow(Role.DataProtectionOfficer, Role.Authority);
        group.MapPost("/proposals/{id:long}/reject", async (SettingProposals proposals, ClaimsPrincipal user, long id, CancellationToken ct) =>
            TypedResults.Ok(await proposals.RejectAsync(id, user.Name(), ct))).Allow(Role.DataProtectionOfficer, Role.Authority);
        return app;
    }
}
