using CityWatch.Audit;
using CityWatch.Server.Identity;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's audit-log page: the log's entries newest first, a page at a time, exactly as the signed leaves
/// state them (<see cref="AuditTrail.ReadSigned"/>, what <c>GET /audit/entries</c> gives anyone: commitments stay
/// commitments). Each entry's inclusion in the latest checkpoint is checked in the browser by the portal's script.
/// </summary>
internal static class ConsoleAuditApi
{
    /// <summary>Entries per page.</summary>
    public const int PageSize = 50;

    public static IEndpointRouteBuilder MapConsoleAudit(this IEndpointRouteBuilder app)
    {
        app.MapGet("/console/log", (AuditTrail trail, IAntiforgery antiforgery, HttpContext http, int? page) =>
        {
            var number = page ?? 1;
            var size = trail.Size;
            var pages = (int)Math.Max(1, (size + PageSize - 1) / PageSize);
            if (number < 1 || number > pages)
            {
                throw new InvalidRequestException($"page must be from 1 to {pages}: the log has {size} entries, {PageSize} a page, newest first.");
            }

            var end = size - ((long)(number - 1) * PageSize);
            var start = Math.Max(0, end - PageSize);
            var entries = trail.ReadSigned(start, (int)(end - start)).OrderByDescending(e => e.Index).ToList();
            return ConsoleApi.Page<AuditLogPage>(http, new AuditLogPageModel(ConsoleApi.Viewer(antiforgery, http), entries, size, number, pages, trail.VerifierKey));
        }).WithTags("Console").Allow(Access.Staff);
        return app;
    }
}
