using System.Net;
using System.Net.Http.Json;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console's watchlist pages in real Chromium against the real server: the list with entry counts, approval
/// state and naming bases; the approval through the same code as the API, with its second-person rule; the
/// entries without any image; each page for exactly the API's roles; under the strict CSP and axe-clean.
/// </summary>
public sealed class ConsoleWatchlistsTests(Chromium chromium) : IClassFixture<Chromium>
{
    private static readonly string Photo = TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png");

    [Fact]
    public async Task The_authority_sees_a_pending_watchlist_with_its_count_approves_it_from_the_console_and_the_api_then_shows_it_approved()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var basis = await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Enrolment);
        (await server.EnrolAsync(watchlist.Id, "MP-2026-041", Photo, approve: false)).EnsureSuccessStatusCode();

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "authority", landing: "/console/deployments");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Watchlists" }).ClickAsync();
        await Assertions.Expect(visitor.Page).ToHaveURLAsync(new Uri(server.Address, "/console/watchlists").ToString());
        var row = visitor.Page.Locator($"tr[data-watchlist='{watchlist.Id}']");
        await Assertions.Expect(row.Locator("td.count")).ToHaveTextAsync("1");
        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("pending approval");
        await Assertions.Expect(row.Locator("td.bases")).ToContainTextAsync($"{basis.Id} · {basis.Title}");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-watchlists");

        await row.GetByRole(AriaRole.Button, new() { Name = $"Approve watchlist {watchlist.Id}" }).ClickAsync();
        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("approved by authority");
        Assert.Equal(0, await row.Locator("button").CountAsync());
        var fromApi = await ApiCalls.ReadAsync<Watchlist>(await server.Authority.GetAsync($"/api/watchlists/{watchlist.Id}"));
        Assert.True(fromApi.Approved);
        Assert.Equal("authority", fromApi.ApprovedBy);

        // The entries: reference, when and by whom; no image of a face anywhere on the page.
        await row.GetByRole(AriaRole.Link, new() { Name = $"{watchlist.Id} · missing persons" }).ClickAsync();
        await Assertions.Expect(visitor.Page).ToHaveURLAsync(new Uri(server.Address, $"/console/watchlists/{watchlist.Id}").ToString());
        var entry = visitor.Page.Locator("#entries tbody tr");
        await Assertions.Expect(entry).ToHaveCountAsync(1);
        await Assertions.Expect(entry.Locator("td.reference")).ToHaveTextAsync("MP-2026-041");
        await Assertions.Expect(entry.Locator("td.enrolled")).ToContainTextAsync("by investigator");
        Assert.Equal(0, await visitor.Page.Locator("img, picture, canvas, video").CountAsync());
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-watchlist");
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task The_investigator_who_enrolled_is_refused_the_approval_as_through_the_api_and_the_list_stays_pending()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("missing persons");
        await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Enrolment);
        (await server.EnrolAsync(watchlist.Id, "MP-2026-042", Photo, approve: false)).EnsureSuccessStatusCode();

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "investigator");
        await visitor.OpenAsync(server.Address, "/console/watchlists");
        var response = await visitor.Page.RunAndWaitForResponseAsync(
            () => visitor.Page.GetByRole(AriaRole.Button, new() { Name = $"Approve watchlist {watchlist.Id}" }).ClickAsync(),
            r => r.Url.EndsWith($"/console/watchlists/{watchlist.Id}/approve", StringComparison.Ordinal));
        Assert.Equal(403, response.Status);
        await Assertions.Expect(visitor.Page.Locator("#message")).ToContainTextAsync("another account must approve it");
        Assert.False((await ApiCalls.ReadAsync<Watchlist>(await server.Authority.GetAsync($"/api/watchlists/{watchlist.Id}"))).Approved);
        visitor.Problems.Clear(); // the refusal's 403, which Chromium reports as an error
    }

    [Fact]
    public async Task A_role_the_api_denies_the_watchlists_gets_403_and_no_link_and_a_verifier_sees_them_without_an_approve_button()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("missing persons");

        await using var admin = await chromium.VisitorAsync();
        await admin.SignInAsync(server, "admin", landing: "/console/deployments");
        Assert.Equal(0, await admin.Page.GetByRole(AriaRole.Link, new() { Name = "Watchlists" }).CountAsync());
        foreach (var path in new[] { "/console/watchlists", $"/console/watchlists/{watchlist.Id}" })
        {
            var refused = await admin.Page.GotoAsync(new Uri(server.Address, path).ToString());
            Assert.Equal(403, refused!.Status);
            Assert.DoesNotContain("missing persons", await admin.Page.ContentAsync(), StringComparison.Ordinal);
        }

        using var post = await server.Admin.PostAsync($"/console/watchlists/{watchlist.Id}/approve", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);

        await using var verifier = await chromium.VisitorAsync();
        await verifier.SignInAsync(server, "verifier");
        await verifier.Page.GetByRole(AriaRole.Link, new() { Name = "Watchlists" }).ClickAsync();
        await Assertions.Expect(verifier.Page.Locator($"tr[data-watchlist='{watchlist.Id}'] td.count")).ToHaveTextAsync("0");
        Assert.Equal(0, await verifier.Page.Locator("#watchlists form, #watchlists button").CountAsync());
        await verifier.AssertAccessibleAsync();
        verifier.AssertNoProblems();
    }
}
