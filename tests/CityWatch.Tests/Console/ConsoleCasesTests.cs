using System.Net;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console's case register in real Chromium against the real server: an investigator opens a case on the page
/// through the same store as the API (its checks hold: a duplicate number is refused), sees it in the register and
/// closes it; the authority reads and closes but may not open; a role outside the register gets 403; axe-clean.
/// </summary>
public sealed class ConsoleCasesTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task The_investigator_opens_a_case_from_the_console_sees_it_in_the_register_and_closes_it()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("CASE-1", null);
        var watchlist = await server.AddWatchlistAsync("suspects");
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id], ProcessingPurpose.Retrospective);
        var store = server.Services.GetRequiredService<CaseStore>();

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "investigator");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Cases" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, "/console/cases").ToString());
        await visitor.AssertAccessibleAsync();
        await visitor.Page.GetByLabel("Case number").FillAsync("PD-2026-0042");
        await visitor.Page.GetByLabel("Legal basis").SelectOptionAsync(basis.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await visitor.Page.GetByLabel("Offence").FillAsync(basis.Offence ?? "test offence");
        await visitor.Page.GetByLabel("Cameras").SelectOptionAsync(camera.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Open case" }).ClickAsync();

        var opened = store.Find("PD-2026-0042");
        Assert.NotNull(opened);
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, $"/console/cases/{opened.Id}").ToString());
        Assert.Equal((basis.Id, "investigator", basis.ValidUntil), (opened.LegalBasisId, opened.OpenedBy, opened.ExpiresAt));
        Assert.Equal([camera.Id], opened.CameraIds);
        await Assertions.Expect(visitor.Page.Locator("#case-state")).ToHaveTextAsync("open");
        await Assertions.Expect(visitor.Page.Locator("#case-basis")).ToContainTextAsync($"{basis.Id} · {basis.Title}");
        await Assertions.Expect(visitor.Page.Locator("#no-jobs")).ToBeVisibleAsync();
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-case");

        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Back to the cases" }).ClickAsync();
        var row = visitor.Page.Locator($"tr[data-case='{opened.Id}']");
        await Assertions.Expect(row.Locator("th")).ToHaveTextAsync("PD-2026-0042");
        await Assertions.Expect(row.Locator("td.state")).ToHaveTextAsync("open");
        await Assertions.Expect(row.Locator("td.jobs")).ToHaveTextAsync("0");
        await visitor.ScreenshotAsync("console-cases");

        // The same number again: refused by the store, with the API's 409, and nothing more registered.
        await visitor.Page.GetByLabel("Case number").FillAsync("PD-2026-0042");
        await visitor.Page.GetByLabel("Offence").FillAsync(basis.Offence ?? "test offence");
        var duplicate = await visitor.Page.RunAndWaitForResponseAsync(
            () => visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Open case" }).ClickAsync(),
            r => r.Url.EndsWith("/console/cases", StringComparison.Ordinal) && r.Request.Method == "POST");
        Assert.Equal(409, duplicate.Status);
        await Assertions.Expect(visitor.Page.Locator("#message")).ToContainTextAsync("already registered");
        Assert.Single(store.List());
        visitor.Problems.Clear(); // the refusal's 409, which Chromium reports as an error

        await visitor.OpenAsync(server.Address, $"/console/cases/{opened.Id}");
        await visitor.Page.GetByLabel("Reason").FillAsync("suspect identified by other means");
        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Close case PD-2026-0042" }).ClickAsync();
        await Assertions.Expect(visitor.Page.Locator("#case-state")).ToContainTextAsync("closed by investigator");
        await Assertions.Expect(visitor.Page.Locator("#case-state")).ToContainTextAsync("suspect identified by other means");
        Assert.Equal(0, await visitor.Page.Locator("#close-case").CountAsync());
        Assert.Equal(CaseStatus.Closed, store.Get(opened.Id).Status);
        Assert.Single(server.Logged(CaseActions.Close));
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task The_authority_reads_and_closes_a_case_without_an_open_form_and_an_operator_is_refused_the_register()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("suspects");
        var basis = await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Retrospective);
        var opened = await server.OpenCaseAsync(basis, "PD-2026-0043");

        await using var authority = await chromium.VisitorAsync();
        await authority.SignInAsync(server, "authority", landing: "/console/deployments");
        await authority.Page.GetByRole(AriaRole.Link, new() { Name = "Cases" }).ClickAsync();
        var row = authority.Page.Locator($"tr[data-case='{opened.Id}']");
        await Assertions.Expect(row.Locator("td.state")).ToHaveTextAsync("open");
        Assert.Equal(0, await authority.Page.Locator("#open-case").CountAsync());
        Assert.Equal(0, await authority.Page.Locator("td.jobs").CountAsync()); // jobs are the investigators' (GET /api/analyses)
        await authority.AssertAccessibleAsync();
        await row.GetByRole(AriaRole.Link, new() { Name = "PD-2026-0043" }).ClickAsync();
        await Assertions.Expect(authority.Page.Locator("#jobs-hidden")).ToBeVisibleAsync();
        await authority.Page.GetByRole(AriaRole.Button, new() { Name = "Close case PD-2026-0043" }).ClickAsync();
        await Assertions.Expect(authority.Page.Locator("#case-state")).ToContainTextAsync("closed by authority");
        await authority.AssertAccessibleAsync();
        authority.AssertNoProblems();

        using (var open = await server.Authority.PostAsync("/console/cases", new FormUrlEncodedContent([])))
        {
            Assert.Equal(HttpStatusCode.Forbidden, open.StatusCode);
        }

        await using var operatorView = await chromium.VisitorAsync();
        await operatorView.SignInAsync(server, "operator");
        Assert.Equal(0, await operatorView.Page.GetByRole(AriaRole.Link, new() { Name = "Cases" }).CountAsync());
        foreach (var path in new[] { "/console/cases", $"/console/cases/{opened.Id}" })
        {
            var refused = await operatorView.Page.GotoAsync(new Uri(server.Address, path).ToString());
            Assert.Equal(403, refused!.Status);
            Assert.DoesNotContain("PD-2026-0043", await operatorView.Page.ContentAsync(), StringComparison.Ordinal);
        }

        using var close = await server.Operator.PostAsync($"/console/cases/{opened.Id}/close", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.Forbidden, close.StatusCode);
    }
}
