using CityWatch.Identity;
using CityWatch.Server.Identity;
using CityWatch.Transparency;

namespace CityWatch.Server.Transparency;

/// <summary>The reports for the regulator, the data-protection authority and the public, as Markdown or HTML.</summary>
internal static class ReportApi
{
    public static IEndpointRouteBuilder MapReportApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/reports").WithTags("Transparency");
        // The notification of a use goes to the authorities: the authority and the data-protection officer read it.
        group.MapGet("/uses/{legalBasisId:long}", (Reports reports, long legalBasisId, string? format) => Send(reports.UseNotification(legalBasisId), format))
            .Allow(Role.Authority, Role.DataProtectionOfficer);
        // The yearly report, with per-deployment statistics and the assessment summaries, is public (G17, G18).
        group.MapGet("/annual/{year:int}", (Reports reports, int year, string? format) => Send(reports.AnnualReport(year), format))
            .Public();
        return app;
    }

    private static IResult Send(Report report, string? format) => (format ?? "html").ToLowerInvariant() switch
    {
        "html" => TypedResults.Text(report.Html, "text/html; charset=utf-8"),
        "md" or "markdown" => TypedResults.Text(report.Markdown, "text/markdown; charset=utf-8"),
        var other => throw new InvalidRequestException($"Unknown report format '{other}': use html or md."),
    };
}
