using System.Globalization;
using CityWatch.Cameras;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's legal-basis page: every basis with its status, and the lifecycle actions the caller's roles
/// allow, and the form that registers a draft (operators and investigators, as <c>POST /api/legal-bases</c>,
/// through <see cref="LegalBasisStore.RegisterAsync"/>: its validation and its audit record are the API's). Each action admits exactly the roles of its <c>/api/legal-bases</c> endpoint and calls the same
/// store or guard (<see cref="LegalBasisStore.AuthoriseAsync"/>, <see cref="UrgencyGuard.RefuseAsync"/>,
/// <see cref="UrgencyGuard.RevokeAsync"/>), so the store's own checks (prerequisites on record, not the
/// registrant, urgency deadline) hold here as there. Forms carry the antiforgery token, checked on every post.
/// </summary>
internal static class ConsoleBasesApi
{
    private const string PagePath = "/console/bases";

    /// <summary>Who may register a draft, as <c>POST /api/legal-bases</c>.</summary>
    internal static readonly Role[] Registrants = [Role.Operator, Role.Investigator];

    /// <summary>Who may revoke a basis, as <c>POST /api/legal-bases/{id}/revoke</c>.</summary>
    private static readonly Role[] Revokers = [Role.Authority, Role.DataProtectionOfficer];

    public static IEndpointRouteBuilder MapConsoleBases(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/bases", (LegalBasisStore store, CameraStore cameras, WatchlistStore watchlists, IAntiforgery antiforgery, HttpContext http) =>
            ListPage(store, cameras, watchlists, antiforgery, http, null, null)).Allow(Access.Staff);
        console.MapPost("/bases", async Task<IResult> (LegalBasisStore store, CameraStore cameras, WatchlistStore watchlists, IAntiforgery antiforgery, HttpContext http, CancellationToken ct) =>
        {
            var form = await ConsoleApi.FormAsync(antiforgery, http);
            try
            {
                var basis = await store.RegisterAsync(Draft(form), http.User.Name(), ct);
                return TypedResults.Redirect($"{PagePath}#basis-{basis.Id}");
            }
            catch (Exception refused) when (refused is ConflictException or PolicyRefusedException or InvalidRequestException)
            {
                // The page again, with the problem's message beside the form and what was typed still in it.
                http.Response.StatusCode = ProblemMapping.StatusFor(refused);
                return ListPage(store, cameras, watchlists, antiforgery, http, refused.Message, form);
            }
        }).Allow(Registrants);
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

    private static IResult ListPage(LegalBasisStore store, CameraStore cameras, WatchlistStore watchlists, IAntiforgery antiforgery, HttpContext http, string? error, IFormCollection? posted)
    {
        var caller = http.Caller();
        var bases = store.List().OrderByDescending(b => b.Id).ToList();
        var register = Registrants.Any(caller.Has)
            ? new BasisForm(
                ConsoleApi.CameraChoices(cameras),
                watchlists.List().Select(w => new CaseCamera(w.Id, w.Name)).ToList(),
                error,
                posted)
            : null;
        return ConsoleApi.Page<BasesPage>(http, new BasesPageModel(ConsoleApi.Viewer(antiforgery, http), bases, caller.Has(Role.Authority), Revokers.Any(caller.Has), register));
    }

    /// <summary>
    /// The draft as <c>POST /api/legal-bases</c> takes it, from the form's fields of the same names; what the form
    /// cannot even read (a number, a date, an option that does not exist) is refused here with the field's name, and
    /// everything else by the store's own validation. Times are UTC (<c>datetime-local</c> fields).
    /// </summary>
    internal static LegalBasisDraft Draft(IFormCollection form)
    {
        var objective = Text(form, "objective");
        if (!Enum.GetNames<LegalObjective>().Contains(objective))
        {
            throw new InvalidRequestException($"'objective' must be one of {string.Join(", ", Enum.GetNames<LegalObjective>())}.");
        }

        var purposes = new List<ProcessingPurpose>();
        foreach (var value in form["purposes"])
        {
            purposes.Add(Enum.GetNames<ProcessingPurpose>().Contains(value)
                ? Enum.Parse<ProcessingPurpose>(value!)
                : throw new InvalidRequestException($"'{value}' is not a purpose: one of {string.Join(", ", Enum.GetNames<ProcessingPurpose>())}."));
        }

        var offence = Text(form, "offence");
        return new LegalBasisDraft(
            Text(form, "title"),
            Text(form, "instrument"),
            Text(form, "authority"),
            Enum.Parse<LegalObjective>(objective),
            Text(form, "objectiveDetail"),
            purposes,
            Ids(form, "cameraIds", "camera"),
            Ids(form, "watchlistIds", "watchlist"),
            When(form, "validFrom"),
            When(form, "validUntil"),
            Number(form, "maxRetentionDays", 30),
            Number(form, "maxWatchlistEntries", 100),
            offence.Length == 0 ? null : offence,
            Area(Text(form, "area")),
            Urgent: Checked(form, "urgent"),
            IsDemonstration: Checked(form, "isDemonstration"));
    }

    private static string Text(IFormCollection form, string field) => form[field].ToString().Trim();

    private static bool Checked(IFormCollection form, string field) => form[field].ToString() is "on" or "true";

    private static List<long> Ids(IFormCollection form, string field, string what)
    {
        var ids = new List<long>();
        foreach (var value in form[field])
        {
            ids.Add(long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                ? id
                : throw new InvalidRequestException($"'{field}': '{value}' is not a {what} id."));
        }

        return ids;
    }

    private static DateTimeOffset When(IFormCollection form, string field)
    {
        var value = Text(form, field);
        if (value.Length == 0)
        {
            throw new InvalidRequestException($"'{field}' is required: a date and time (UTC).");
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            ? at
            : throw new InvalidRequestException($"'{field}' must be a date and time (UTC), not '{value}'.");
    }

    private static int Number(IFormCollection form, string field, int otherwise)
    {
        var value = Text(form, field);
        if (value.Length == 0)
        {
            return otherwise;
        }

        return int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new InvalidRequestException($"'{field}' must be a whole number, not '{value}'.");
    }

    /// <summary>The area as the form takes it: one point a line, "latitude, longitude" (the store checks the polygon); none when empty.</summary>
    private static List<GeoPoint>? Area(string text)
    {
        if (text.Length == 0)
        {
            return null;
        }

        var points = new List<GeoPoint>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2
                || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var latitude)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var longitude))
            {
                throw new InvalidRequestException($"'area': '{line}' is not a point: write one \"latitude, longitude\" a line.");
            }

            points.Add(new GeoPoint(latitude, longitude));
        }

        return points;
    }

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
