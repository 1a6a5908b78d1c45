using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's legal-basis page: every basis with its status, and the lifecycle actions the caller's roles
/// allow. Each action admits exactly the roles of its <c>/api/legal-bases</c> endpoint and calls the same
/// store or guard (<see cref="LegalBasisStore.AuthoriseAsync"/>, <see cref="UrgencyGuard.RefuseAsync"/>,
/// <see cref="UrgencyGuard.RevokeAsync"/>), so the store's own checks (prerequisites on record, not the
/// registrant, urgency deadline) hold here as there. Forms carry the antiforgery token, checked on every post.
/// </summary>
internal static class ConsoleBasesApi
{
    private const string PagePath = "/console/bases";

    /// <summary>Who may revoke a basis, as <c>POST /api/legal-bases/{id}/revoke</c>.</summary>
    private static readonly Role[] Revokers = [Role.Authority, Role.DataProtectionOfficer];

    public static IEndpointRouteBuilder MapConsoleBases(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/bases", (LegalBasisStore store, IAntiforgery antiforgery, HttpContext http) =>
        {
            var caller = http.Caller();
            var bases = store.List().OrderByDescending(b => b.Id).ToList();
            return ConsoleApi.Page<BasesPage>(http, new BasesPageModel(ConsoleApi.Viewer(antiforgery, http), bases, caller.Has(Role.Authority), Revokers.Any(caller.Has)));
        }).Allow(Access.Staff);
        console.MapPost("/bases/{id:long}/authorise", (LegalBasisStore store, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
            ActAsync(antiforgery, http, "Authorisation refused", form => store.AuthoriseAsync(id, Decision(form), http.User.Name(), ct))).Allow(Role.Authority);
        console.MapPost("/bases/{id:long}/refuse", (UrgencyGuard urgency, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
            ActAsync(antiforgery, http, "Refusal not recorded", form => urgency.RefuseAsync(id, Decision(form), http.User.Name(), ct))).Allow(Role.Authority);
        console.MapPost("/bases/{id:long}/revoke", (UrgencyGuard urgency, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
            ActAsync(antiforgery, http, "Revocation refused", _ => urgency.RevokeAsync(id, http.User.Name(), ct))).Allow(Revokers);
        return app;
    }

    /// <summary>Whether the page offers the authority's decision on a basis: as the store decides it, an undecided basis with its prerequisites on record.</summary>
    public static bool Decidable(LegalBasis basis) => basis.Status is LegalBasisStatus.PrerequisitesRecorded or LegalBasisStatus.UrgentActive;

    /// <summary>Whether the page offers a refusal: any undecided basis, as <see cref="UrgencyGuard.RefuseAsync"/> accepts it.</summary>
    public static bool Refusable(LegalBasis basis) => basis.Status is LegalBasisStatus.Draft or LegalBasisStatus.PrerequisitesRecorded or LegalBasisStatus.UrgentActive;

    /// <summary>Whether the page offers revocation: a basis not already ended by refusal, lapse or revocation.</summary>
    public static bool Revocable(LegalBasis basis) => basis.Status is not (LegalBasisStatus.Revoked or LegalBasisStatus.Refused or LegalBasisStatus.Lapsed);

    private static AuthorityDecision Decision(IFormCollection form)
    {
        var reason = form["reason"].ToString();
        return new AuthorityDecision(form["decisionReference"].ToString(), string.IsNullOrWhiteSpace(reason) ? null : reason);
    }

    /// <summary>
    /// Checks the form's token, runs the action and goes back to the list; a refusal by the store (conflict, policy
    /// refusal, invalid input) is shown on a page with the status the API would answer.
    /// </summary>
    private static async Task<IResult> ActAsync(IAntiforgery antiforgery, HttpContext http, string refusedTitle, Func<IFormCollection, Task<LegalBasis>> act)
    {
        var form = await ConsoleApi.FormAsync(antiforgery, http);
        try
        {
            await act(form);
            return TypedResults.Redirect(PagePath);
        }
        catch (Exception refused) when (refused is ConflictException or PolicyRefusedException or InvalidRequestException)
        {
            http.Response.StatusCode = ProblemMapping.StatusFor(refused);
            return ConsoleApi.Page<MessagePage>(http, new MessagePageModel(ConsoleApi.Viewer(antiforgery, http), refusedTitle, refused.Message, PagePath, "Back to the legal bases"));
        }
    }
}
