using System.Globalization;
using CityWatch.Identity;
using CityWatch.Server.Identity;
using CityWatch.Settings;
using CityWatch.Vision;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's governed settings (G12): each setting with its value, the open proposals and the latest
/// decisions; proposing, approving and rejecting through <see cref="SettingProposals"/>, the code behind
/// <c>/api/settings</c>, with the same roles. Its checks hold here as there: a known setting and a valid value,
/// a reason, and a second person (the proposer's own approval is refused with 403 and recorded).
/// </summary>
internal static class ConsoleSettingsApi
{
    private const string PagePath = "/console/settings";

    /// <summary>Who may propose, as <c>POST /api/settings/proposals</c>.</summary>
    internal static readonly Role[] Proposers = [Role.Administrator, Role.Investigator];

    /// <summary>Who may approve or reject, as <c>POST /api/settings/proposals/{id}/approve</c> and <c>/reject</c>.</summary>
    internal static readonly Role[] Deciders = [Role.DataProtectionOfficer, Role.Authority];

    private const int DecidedShown = 20;

    public static IEndpointRouteBuilder MapConsoleSettings(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/settings", (SettingsStore settings, SettingProposals proposals, IAntiforgery antiforgery, HttpContext http) =>
        {
            var caller = http.Caller();
            var all = proposals.List();
            return ConsoleApi.Page<SettingsPage>(http, new SettingsPageModel(
                ConsoleApi.Viewer(antiforgery, http),
                Governed(settings),
                all.Where(p => p.Status == ProposalStatus.Pending).ToList(),
                all.Where(p => p.Status != ProposalStatus.Pending).Take(DecidedShown).ToList(),
                Proposers.Any(caller.Has),
                Deciders.Any(caller.Has)));
        }).Allow(Access.Staff);
        console.MapPost("/settings/proposals", async Task<IResult> (SettingProposals proposals, IAntiforgery antiforgery, HttpContext http, CancellationToken ct) =>
        {
            var form = await ConsoleApi.FormAsync(antiforgery, http);
            return await ActAsync(antiforgery, http, "Proposal refused", () =>
                proposals.ProposeAsync(new ProposalInput(form["key"].ToString().Trim(), form["value"].ToString().Trim(), form["reason"].ToString().Trim()), http.User.Name(), ct));
        }).Allow(Proposers);
        console.MapPost("/settings/proposals/{id:long}/approve", async Task<IResult> (SettingProposals proposals, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
        {
            await ConsoleApi.FormAsync(antiforgery, http);
            return await ActAsync(antiforgery, http, "Approval refused", () => proposals.ApproveAsync(id, http.User.Name(), ct));
        }).Allow(Deciders);
        console.MapPost("/settings/proposals/{id:long}/reject", async Task<IResult> (SettingProposals proposals, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
        {
            await ConsoleApi.FormAsync(antiforgery, http);
            return await ActAsync(antiforgery, http, "Rejection refused", () => proposals.RejectAsync(id, http.User.Name(), ct));
        }).Allow(Deciders);
        return app;
    }

    /// <summary>
    /// Every governed setting: the embedder and the detector, and each embedder's operating threshold, with the
    /// approved value when one is stored, else what applies without one.
    /// </summary>
    private static List<GovernedSetting> Governed(SettingsStore settings)
    {
        var rows = new List<GovernedSetting>
        {
            Row(settings, SettingProposals.ModelKey, "the embedder configured at start"),
            Row(settings, SettingProposals.DetectorKey, "the detector configured at start"),
        };
        foreach (var card in ModelCards.All.Where(c => c.Role == ModelRole.Embedder))
        {
            string fallback;
            try
            {
                fallback = string.Create(CultureInfo.InvariantCulture, $"{settings.OperatingThreshold(card.Name):0.000} (the model card's threshold plus {SettingsStore.DefaultMargin})");
            }
            catch (InvalidRequestException)
            {
                fallback = "none: not calibrated";
            }

            rows.Add(Row(settings, SettingsStore.ThresholdKey(card.Name), fallback));
        }

        return rows;
    }

    private static GovernedSetting Row(SettingsStore settings, string key, string fallback) =>
        settings.Find(key) is { } stored ? new GovernedSetting(key, stored.Value, stored) : new GovernedSetting(key, fallback, null);

    /// <summary>Runs the act and goes back to the page; a refusal (invalid input, a conflict) is shown with the API's status. A 403 goes to the error page, recorded.</summary>
    private static async Task<IResult> ActAsync(IAntiforgery antiforgery, HttpContext http, string refusedTitle, Func<Task<SettingProposal>> act)
    {
        try
        {
            await act();
            return TypedResults.Redirect(PagePath);
        }
        catch (Exception refused) when (refused is ConflictException or InvalidRequestException or NotFoundException)
        {
            http.Response.StatusCode = ProblemMapping.StatusFor(refused);
            return ConsoleApi.Page<MessagePage>(http, new MessagePageModel(ConsoleApi.Viewer(antiforgery, http), refusedTitle, refused.Message, PagePath, "Back to the settings"));
        }
    }
}
