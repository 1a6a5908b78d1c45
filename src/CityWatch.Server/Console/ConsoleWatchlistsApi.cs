using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Server.Matching;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's watchlist pages: every watchlist with its entry count, approval state (G5) and the legal bases
/// that name it; one watchlist's entries; and the approval, for exactly the roles of <c>/api/watchlists</c> and
/// through the same <see cref="Enrolment.ApproveAsync"/> (so its second-person rule and its logging hold here too).
/// </summary>
internal static class ConsoleWatchlistsApi
{
    private const string ListPath = "/console/watchlists";

    public static IEndpointRouteBuilder MapConsoleWatchlists(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/watchlists", (WatchlistStore watchlists, LegalBasisStore bases, IAntiforgery antiforgery, HttpContext http) =>
        {
            var all = bases.List();
            var rows = watchlists.List().OrderBy(w => w.Id).Select(w => Named(w, all)).ToList();
            return ConsoleApi.Page<WatchlistsPage>(http, new WatchlistsPageModel(ConsoleApi.Viewer(antiforgery, http), rows, CanApprove(http)));
        }).Allow(WatchlistApi.Viewers);
        // As GET /api/watchlists/{id}/entries: the entries' records, never a template or a photo.
        console.MapGet("/watchlists/{id:long}", (WatchlistStore watchlists, LegalBasisStore bases, IAntiforgery antiforgery, HttpContext http, long id) =>
        {
            var watchlist = Named(watchlists.Get(id), bases.List());
            return ConsoleApi.Page<WatchlistPage>(http, new WatchlistPageModel(ConsoleApi.Viewer(antiforgery, http), watchlist, watchlists.Entries(id), CanApprove(http)));
        }).Allow(WatchlistApi.Viewers);
        console.MapPost("/watchlists/{id:long}/approve", async Task<IResult> (Enrolment enrolment, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
        {
            var form = await ConsoleApi.FormAsync(antiforgery, http);
            var toWatchlist = form["back"].ToString() == "watchlist"; // one of two fixed places, never a posted URL
            var back = toWatchlist ? $"{ListPath}/{id}" : ListPath;
            try
            {
                await enrolment.ApproveAsync(id, http.User.Name(), ct);
                return TypedResults.Redirect(back);
            }
            catch (Exception refused) when (refused is ConflictException or PolicyRefusedException)
            {
                http.Response.StatusCode = ProblemMapping.StatusFor(refused);
                return ConsoleApi.Page<MessagePage>(http, new MessagePageModel(ConsoleApi.Viewer(antiforgery, http), "Approval refused", refused.Message, back, toWatchlist ? "Back to the watchlist" : "Back to the watchlists"));
            }
        }).Allow(WatchlistApi.Approvers);
        return app;
    }

    private static bool CanApprove(HttpContext http) => WatchlistApi.Approvers.Any(http.Caller().Has);

    private static ConsoleWatchlist Named(Watchlist watchlist, IReadOnlyList<LegalBasis> bases) =>
        new(watchlist, bases.Where(b => b.WatchlistIds.Contains(watchlist.Id)).OrderByDescending(b => b.Id).ToList());
}
