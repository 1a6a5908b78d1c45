using System.Globalization;
using CityWatch.Cameras;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Investigations;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Server.Investigations;
using CityWatch.Server.Portal;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's case register: every case with its number, basis, state and analysis jobs; opening a case
/// (Investigator) and closing one (Investigator, Authority, DPO) through <see cref="CaseStore"/>, the code
/// behind <c>/api/cases</c>, with the same roles, so its checks (number format, basis in force for
/// retrospective use, scope, window, expiry, unique number; closing once) hold here as there. Jobs are shown
/// as <c>GET /api/analyses</c> shows them: to investigators, within their camera scope.
/// </summary>
internal static class ConsoleCasesApi
{
    private const string ListPath = "/console/cases";

    /// <summary>Who reads the register and may close a case, as <c>GET /api/cases</c> and <c>POST /api/cases/{id}/close</c>.</summary>
    internal static readonly Role[] Readers = [Role.Investigator, Role.Authority, Role.DataProtectionOfficer];

    public static IEndpointRouteBuilder MapConsoleCases(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/cases", (CaseStore cases, LegalBasisStore bases, CameraStore cameras, AnalysisJobStore jobs, IAntiforgery antiforgery, HttpContext http) =>
        {
            var caller = http.Caller();
            var allBases = bases.List();
            var shownJobs = Jobs(jobs, cases, cameras, http);
            var rows = cases.List().OrderByDescending(c => c.Id)
                .Select(c => Row(c, allBases, shownJobs)).ToList();
            var canOpen = caller.Has(Role.Investigator);
            return ConsoleApi.Page<CasesPage>(http, new CasesPageModel(
                ConsoleApi.Viewer(antiforgery, http),
                rows,
                canOpen,
                canOpen ? allBases.Where(b => b.Purposes.Contains(ProcessingPurpose.Retrospective)).OrderByDescending(b => b.Id).ToList() : [],
                canOpen ? ConsoleApi.CameraChoices(cameras) : [],
                shownJobs is not null));
        }).Allow(Readers);
        console.MapGet("/cases/{id:long}", (CaseStore cases, LegalBasisStore bases, CameraStore cameras, AnalysisJobStore jobs, IAntiforgery antiforgery, HttpContext http, long id) =>
        {
            var shownJobs = Jobs(jobs, cases, cameras, http);
            var row = Row(cases.Get(id), bases.List(), shownJobs);
            var cameraNames = row.Case.CameraIds.Select(c => Camera(cameras, c)).ToList();
            return ConsoleApi.Page<CasePage>(http, new CasePageModel(ConsoleApi.Viewer(antiforgery, http), row, cameraNames, shownJobs is not null));
        }).Allow(Readers);
        console.MapPost("/cases", async Task<IResult> (CaseStore cases, LegalBasisStore bases, IAntiforgery antiforgery, HttpContext http, CancellationToken ct) =>
        {
            var form = await ConsoleApi.FormAsync(antiforgery, http);
            try
            {
                var opened = await cases.OpenAsync(Input(form, bases), http.User.Name(), ct);
                return TypedResults.Redirect($"{ListPath}/{opened.Id}");
            }
            catch (Exception refused) when (refused is ConflictException or PolicyRefusedException or InvalidRequestException or NotFoundException)
            {
                return Refused(antiforgery, http, "Case not opened", refused, ListPath, "Back to the cases");
            }
        }).Allow(Role.Investigator);
        console.MapPost("/cases/{id:long}/close", async Task<IResult> (CaseStore cases, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
        {
            var form = await ConsoleApi.FormAsync(antiforgery, http);
            var reason = form["reason"].ToString().Trim();
            try
            {
                await cases.CloseAsync(id, reason.Length == 0 ? null : reason, http.User.Name(), ct);
                return TypedResults.Redirect($"{ListPath}/{id}");
            }
            catch (ConflictException refused)
            {
                return Refused(antiforgery, http, "Case not closed", refused, $"{ListPath}/{id}", "Back to the case");
            }
        }).Allow(Readers);
        return app;
    }

    /// <summary>
    /// What the form asks, as <c>POST /api/cases</c> takes it; the times are UTC (<c>datetime-local</c> fields),
    /// and those left empty take the basis's window (from its start, until and expiring at its end).
    /// </summary>
    private static CaseInput Input(IFormCollection form, LegalBasisStore bases)
    {
        if (!long.TryParse(form["legalBasisId"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var basisId))
        {
            throw new InvalidRequestException("Choose the legal basis the case is opened under.");
        }

        var basis = bases.Get(basisId);
        var cameraIds = new List<long>();
        foreach (var value in form["cameraIds"])
        {
            cameraIds.Add(long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var camera)
                ? camera
                : throw new InvalidRequestException($"'{value}' is not a camera id."));
        }

        return new CaseInput(
            form["number"].ToString().Trim(),
            basis.Id,
            form["offence"].ToString().Trim(),
            cameraIds,
            When(form, "from") ?? basis.ValidFrom,
            When(form, "until") ?? basis.ValidUntil,
            When(form, "expiresAt") ?? basis.ValidUntil);
    }

    private static DateTimeOffset? When(IFormCollection form, string field)
    {
        var value = form[field].ToString().Trim();
        if (value.Length == 0)
        {
            return null;
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            ? at
            : throw new InvalidRequestException($"'{field}' must be a date and time (UTC), not '{value}'.");
    }

    /// <summary>The analysis jobs the caller may see, as <c>GET /api/analyses</c> shows them; null for a caller who sees none (not an investigator).</summary>
    private static IReadOnlyList<AnalysisJob>? Jobs(AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, HttpContext http)
    {
        if (!http.Caller().Has(Role.Investigator))
        {
            return null;
        }

        var scope = AnalysisJobApi.Scope(http, cameras);
        return jobs.List(1000).Where(j => AnalysisJobApi.Sees(scope, cases, j)).ToList();
    }

    private static ConsoleCase Row(Case found, IReadOnlyList<LegalBasis> bases, IReadOnlyList<AnalysisJob>? jobs) =>
        new(found,
            bases.FirstOrDefault(b => b.Id == found.LegalBasisId) is { } basis ? $"{basis.Id} · {basis.Title}" : $"{found.LegalBasisId}",
            jobs?.Where(j => j.CaseNumber == found.Number).OrderByDescending(j => j.Id).ToList() ?? []);

    private static string Camera(CameraStore cameras, long id)
    {
        try
        {
            var camera = cameras.Get(id);
            return $"{camera.Code} ({camera.Name})";
        }
        catch (NotFoundException)
        {
            return $"camera {id} (removed)";
        }
    }

    private static IResult Refused(IAntiforgery antiforgery, HttpContext http, string title, Exception refused, string back, string backText)
    {
        http.Response.StatusCode = ProblemMapping.StatusFor(refused);
        return ConsoleApi.Page<MessagePage>(http, new MessagePageModel(ConsoleApi.Viewer(antiforgery, http), title, refused.Message, back, backText));
    }
}

/// <summary>How the console states where a case stands.</summary>
internal static class CaseText
{
    public static string State(Case found) => found.Status switch
    {
        CaseStatus.Open => "open",
        CaseStatus.Closed => $"closed by {found.ClosedBy}{(found.ClosedAt is { } at ? $", {PortalFormat.When(at)}" : "")}{(string.IsNullOrWhiteSpace(found.CloseReason) ? "" : $": {found.CloseReason}")}",
        CaseStatus.Expired => $"expired {PortalFormat.When(found.ExpiresAt)}",
        _ => found.Status.ToString(),
    };
}
