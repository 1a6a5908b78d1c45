using System.Net;
using CityWatch.Alerts;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The operator console in real Chromium against the real server: signing in, the live queue, blind
/// two-person verification by keyboard, stopping a deployment; under the strict CSP (a violation or script
/// error fails the test) and without serious accessibility violations.
/// </summary>
public sealed class ConsoleTests(Chromium chromium) : IClassFixture<Chromium>
{
    private static readonly string[] ConsolePages = ["/console/alerts", "/console/alerts/1", "/console/deployments", "/console/alerts/stream", "/console/cameras", "/console/cameras/1", "/console/reports", "/console/reports/annual/2026", "/console/reports/uses/1", "/console/bases", "/console/watchlists", "/console/watchlists/1", "/console/log", "/console/settings", "/console/cases", "/console/cases/1", "/console/jobs", "/console/jobs/1", "/console/jobs/1/stream"];

    [Fact]
    public async Task A_signed_out_visitor_reaching_any_console_page_is_sent_to_sign_in_and_sees_none_of_it()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("CAM-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var alert = server.AddAlert(EvidenceFixture.BlankCrop, camera.Id, watchlist.Id);
        await using var visitor = await chromium.VisitorAsync();
        foreach (var path in ConsolePages.Append($"/console/alerts/{alert.Id}"))
        {
            var response = await visitor.OpenAsync(server.Address, path);
            Assert.Equal(new Uri(server.Address, "/console/sign-in").ToString(), visitor.Page.Url);
            Assert.Equal(0, await visitor.Page.GetByText("entry-7").CountAsync());
            Assert.Equal("Sign in · CityWatch console", await visitor.Page.TitleAsync());
            Assert.Equal(200, response.Status);
        }

        // Another client, not a browser, gets the API's refusal.
        foreach (var path in ConsolePages)
        {
            using var refused = await server.Anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task A_verifier_signs_in_and_a_new_candidate_appears_in_the_queue_without_reload()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("LIVE-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        await using var visitor = await chromium.VisitorAsync();

        // A wrong code is refused on the page, with nothing signed in.
        await visitor.OpenAsync(server.Address, "/console/sign-in");
        await FillSignInAsync(visitor.Page, "verifier", RunningServer.Password, "000000");
        await Assertions.Expect(visitor.Page.Locator("#sign-in-error")).ToContainTextAsync("Sign-in failed");
        Assert.DoesNotContain(await visitor.Page.Context.CookiesAsync(), c => c.Name == Access.SessionCookie);
        Assert.Equal(["console: Failed to load resource: the server responded with a status of 401 (Unauthorized)"], visitor.Problems.Select(p => p.Split(" (http", 2)[0]));
        visitor.Problems.Clear(); // the refused sign-in's 401, which Chromium reports as an error

        await visitor.SignInAsync(server, "verifier");
        await Assertions.Expect(visitor.Page.GetByRole(AriaRole.Heading, new() { Name = "Alerts", Exact = true })).ToBeVisibleAsync();
        await Assertions.Expect(visitor.Page.Locator("#queue-empty")).ToBeVisibleAsync();

        var first = server.AddAlert(EvidenceFixture.BlankCrop, camera.Id, watchlist.Id);
        var item = visitor.Page.Locator($"li[data-alert='{first.Id}']");
        await Assertions.Expect(item).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Assertions.Expect(item).ToContainTextAsync("LIVE-1");
        await Assertions.Expect(item).ToContainTextAsync("pending");
        Assert.Equal(1, await visitor.Page.Locator("section.track").CountAsync());

        // A second alert of the same track joins its group; one of another track gets its own.
        var store = server.Services.GetRequiredService<AlertStore>();
        var sameTrack = store.Add(EvidenceFixture.New(EvidenceFixture.BlankCrop, camera.Id, watchlist.Id, 1, first.At) with { TrackId = Guid.Parse(first.TrackId!) });
        var otherTrack = server.AddAlert(EvidenceFixture.BlankCrop, camera.Id, watchlist.Id);
        await Assertions.Expect(visitor.Page.Locator($"li[data-alert='{otherTrack.Id}']")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Assertions.Expect(visitor.Page.Locator("section.track")).ToHaveCountAsync(2);
        var group = visitor.Page.Locator($"section.track:has(li[data-alert='{first.Id}'])");
        await Assertions.Expect(group.Locator("li")).ToHaveCountAsync(2);
        await Assertions.Expect(group.Locator($"li[data-alert='{sameTrack.Id}']")).ToBeVisibleAsync();

        // A keyboard user on an alert stays on it when the queue is replaced by the next update.
        var link = visitor.Page.Locator($"li[data-alert='{first.Id}'] a").First;
        await link.FocusAsync();
        var later = server.AddAlert(EvidenceFixture.BlankCrop, camera.Id, watchlist.Id);
        await Assertions.Expect(visitor.Page.Locator($"li[data-alert='{later.Id}']")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        await Assertions.Expect(link).ToBeFocusedAsync();
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task Two_verifiers_confirm_by_keyboard_the_second_sees_no_trace_of_the_first_and_nobody_decides_twice()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("VER-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var alert = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), camera.Id, watchlist.Id);
        var path = $"/console/alerts/{alert.Id}";

        await using var first = await chromium.VisitorAsync();
        await first.SignInAsync(server, "verifier");
        await first.OpenAsync(server.Address, path);
        var stale = await first.Page.Context.NewPageAsync(); // the same alert left open in a second tab
        await stale.GotoAsync(new Uri(server.Address, path).ToString());
        await Assertions.Expect(first.Page.Locator("#probe")).ToBeVisibleAsync();
        Assert.True(await first.Page.Locator("#probe").EvaluateAsync<bool>("img => img.complete && img.naturalWidth > 0"));
        await Assertions.Expect(first.Page.Locator("#score")).ToContainTextAsync("0.61 against a threshold of 0.45");
        await first.Page.Keyboard.PressAsync("c");
        await first.Page.WaitForURLAsync(new Uri(server.Address, "/console/alerts").ToString());
        Assert.Single(server.Services.GetRequiredService<AlertVerification>().Decisions(alert.Id));

        // The same verifier again, from the tab still open: refused, and nothing more is recorded.
        await stale.Keyboard.PressAsync("c");
        await Assertions.Expect(stale.Locator("#message")).ToContainTextAsync("already decided");
        await first.OpenAsync(server.Address, path);
        await Assertions.Expect(first.Page.Locator("#decided")).ToBeVisibleAsync();
        Assert.Equal(0, await first.Page.Locator("#confirm, #reject").CountAsync());
        Assert.Single(server.Services.GetRequiredService<AlertVerification>().Decisions(alert.Id));

        // The second verifier sees the candidate exactly as if nobody had decided.
        await using var second = await chromium.VisitorAsync();
        await second.SignInAsync(server, "verifier2");
        await Assertions.Expect(second.Page.Locator($"li[data-alert='{alert.Id}']")).ToContainTextAsync("pending");
        await second.OpenAsync(server.Address, path);
        await Assertions.Expect(second.Page.Locator("#status")).ToHaveTextAsync(AlertVerification.Pending);
        var seen = await second.Page.ContentAsync();
        Assert.DoesNotContain("\"verifier\"", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("(verifier ", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("confirmed", seen, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("You have decided", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("decision refused", seen, StringComparison.OrdinalIgnoreCase);
        await second.AssertAccessibleAsync();
        await second.ScreenshotAsync("console-candidate");
        await second.Page.Keyboard.PressAsync("c");
        await second.Page.WaitForURLAsync(new Uri(server.Address, "/console/alerts").ToString());

        Assert.Equal(AlertStore.Confirmed, server.Services.GetRequiredService<AlertStore>().Get(alert.Id).Status);
        Assert.Equal(["verifier", "verifier2"], server.Services.GetRequiredService<AlertVerification>().Decisions(alert.Id).Select(d => d.Account));
        first.AssertNoProblems();
        second.AssertNoProblems();
    }

    [Fact]
    public async Task An_overseer_stops_a_deployment_from_the_console_and_it_stops_at_once()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("DEP-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        var deployment = server.Services.GetRequiredService<DeploymentStore>().Running().Single();

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "authority", landing: "/console/deployments");
        Assert.Equal(0, await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Alerts" }).CountAsync()); // an authority does not see alerts
        var row = visitor.Page.Locator($"tr[data-deployment='{deployment.Id}']");
        await Assertions.Expect(row.Locator("td.state")).ToContainTextAsync("running");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-deployments");
        await row.GetByLabel("Reason").FillAsync("oversight check");
        await row.GetByRole(AriaRole.Button, new() { Name = $"Stop deployment {deployment.Id}" }).ClickAsync();

        await Assertions.Expect(row.Locator("td.state")).ToContainTextAsync("stopped");
        await Assertions.Expect(row.Locator("td.state")).ToContainTextAsync("by authority");
        Assert.Empty(server.Services.GetRequiredService<DeploymentStore>().Running());
        Assert.Equal("oversight check", server.Services.GetRequiredService<DeploymentStore>().Get(deployment.Id).StopReason);
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task A_verifier_sees_no_stop_button_and_the_console_pages_have_no_serious_accessibility_violation()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("AXE-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        server.AddAlert(EvidenceFixture.BlankCrop, camera.Id, watchlist.Id);

        await using (var signedOut = await chromium.VisitorAsync())
        {
            await signedOut.OpenAsync(server.Address, "/console/sign-in");
            await signedOut.AssertAccessibleAsync();
            await signedOut.ScreenshotAsync("console-sign-in");
        }

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "verifier");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-alerts");
        await visitor.OpenAsync(server.Address, "/console/deployments");
        await Assertions.Expect(visitor.Page.Locator("#deployments tbody tr")).ToHaveCountAsync(1);
        Assert.Equal(0, await visitor.Page.GetByRole(AriaRole.Button, new() { NameRegex = new System.Text.RegularExpressions.Regex("^Stop") }).CountAsync());
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();
    }


    private static async Task FillSignInAsync(IPage page, string username, string password, string code)
    {
        await page.GetByLabel("Username").FillAsync(username);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByLabel("Authenticator code").FillAsync(code);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
    }
}
