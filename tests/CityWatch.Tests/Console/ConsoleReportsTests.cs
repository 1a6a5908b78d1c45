using System.Globalization;
using System.Net;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console's reports in real Chromium against the real server: the DPO opens the notification of a use and the
/// annual report, rendered in the console from the same reports the API serves, and downloads the Markdown; an operator
/// reads the annual report only, as the API allows; axe-clean, no CSP violation.
/// </summary>
public sealed class ConsoleReportsTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task The_dpo_opens_the_notification_of_a_use_and_the_annual_report()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("REP-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        var year = TimeProvider.System.GetUtcNow().Year.ToString(CultureInfo.InvariantCulture);

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "dpo");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Reports", Exact = true }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, "/console/reports").ToString());
        await Assertions.Expect(visitor.Page.Locator($"#annual-reports li[data-year='{year}']")).ToBeVisibleAsync();
        await Assertions.Expect(visitor.Page.Locator($"#use-reports tr[data-basis='{basis.Id}'] th")).ToHaveTextAsync($"{basis.Id} · {basis.Title}");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-reports");

        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = $"Notification of use for basis {basis.Id}" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, $"/console/reports/uses/{basis.Id}").ToString());
        await Assertions.Expect(visitor.Page.Locator("main > h1")).ToHaveTextAsync($"Notification of use: legal basis {basis.Id}, {basis.Title}");
        await Assertions.Expect(visitor.Page.Locator("#report")).ToContainTextAsync(basis.Instrument);
        await Assertions.Expect(visitor.Page.Locator("#report")).ToContainTextAsync("REP-1");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-report");

        // The download is the API's Markdown of the same report, with the browser's session.
        var markdown = await visitor.Page.APIRequest.GetAsync(new Uri(server.Address, await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Download as Markdown" }).GetAttributeAsync("href")).ToString());
        Assert.Equal(200, markdown.Status);
        Assert.StartsWith($"# Notification of use: legal basis {basis.Id}", await markdown.TextAsync(), StringComparison.Ordinal);

        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Back to the reports" }).ClickAsync();
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = $"Annual report {year}" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, $"/console/reports/annual/{year}").ToString());
        await Assertions.Expect(visitor.Page.Locator("main > h1")).ToContainTextAsync($"Annual report {year}");
        await Assertions.Expect(visitor.Page.Locator("#report")).ToContainTextAsync(basis.Title);
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task An_operator_reads_the_annual_report_but_no_notification_of_use()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("REP-2", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "operator");
        await visitor.OpenAsync(server.Address, "/console/reports");
        Assert.Equal(0, await visitor.Page.Locator("#use-reports").CountAsync());
        Assert.Equal(1, await visitor.Page.Locator("#annual-reports li").CountAsync());

        using var refused = await server.Operator.GetAsync($"/console/reports/uses/{basis.Id}");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        using var annual = await server.Operator.GetAsync($"/console/reports/annual/{TimeProvider.System.GetUtcNow().Year}");
        Assert.Equal(HttpStatusCode.OK, annual.StatusCode);
        using var authority = await server.Authority.GetAsync($"/console/reports/uses/{basis.Id}");
        Assert.Equal(HttpStatusCode.OK, authority.StatusCode);
        visitor.AssertNoProblems();
    }
}
