using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Transparency;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's reports: the annual report (public in the API, so every staff member reads it here) and the
/// notification of each use (the authority and the DPO, as <c>GET /api/reports/uses/{id}</c>), each rendered in the
/// console from the same <see cref="Reports"/> and linked to the API's Markdown for download.
/// </summary>
internal static class ConsoleReportsApi
{
    /// <summary>Who reads a notification of use, as <c>GET /api/reports/uses/{legalBasisId}</c>.</summary>
    internal static readonly Role[] UseReaders = [Role.Authority, Role.DataProtectionOfficer];

    public static IEndpointRouteBuilder MapConsoleReports(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/reports", (DeploymentStore deployments, LegalBasisStore bases, TimeProvider time, IAntiforgery antiforgery, HttpContext http) =>
        {
            var now = time.GetUtcNow().Year;
            var started = deployments.List();
            var first = started.Count == 0 ? now : Math.Min(now, started.Min(d => d.StartedAt.Year));
            var years = Enumerable.Range(first, now - first + 1).Reverse().ToList();
            var readsUses = UseReaders.Any(http.Caller().Has);
            return ConsoleApi.Page<ReportsPage>(http, new ReportsPageModel(
                ConsoleApi.Viewer(antiforgery, http), years, readsUses ? bases.List().OrderByDescending(b => b.Id).ToList() : null));
        }).Allow(Access.Staff);
        console.MapGet("/reports/annual/{year:int}", (Reports reports, IAntiforgery antiforgery, HttpContext http, int year) =>
            Show(reports.AnnualReport(year), $"/api/reports/annual/{year}?format=md", antiforgery, http)).Allow(Access.Staff);
        console.MapGet("/reports/uses/{legalBasisId:long}", (Reports reports, IAntiforgery antiforgery, HttpContext http, long legalBasisId) =>
            Show(reports.UseNotification(legalBasisId), $"/api/reports/uses/{legalBasisId}?format=md", antiforgery, http)).Allow(UseReaders);
        return app;
    }

    private static IResult Show(Report report, string download, IAntiforgery antiforgery, HttpContext http) =>
        ConsoleApi.Page<ReportPage>(http, new ReportPageModel(ConsoleApi.Viewer(antiforgery, http), report.Title, report.Body, download));
}
