using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// Registering a legal basis from the console in real Chromium against the real server: the form posts the
/// fields of <c>POST /api/legal-bases</c> to the same store, so a registered draft is listed and logged as one
/// registered through the API; a field the store refuses shows the problem's message on the page, keeps what
/// was typed and stores nothing; roles that may not register are offered no form and refused the post.
/// </summary>
public sealed class ConsoleBasisRegistrationTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task An_investigator_registers_a_basis_in_the_form_and_it_is_listed_as_a_draft_and_logged()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("BASIS-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var store = server.Services.GetRequiredService<LegalBasisStore>();
        var logged = server.Logged(AuditActions.LegalBasisChange).Count;

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "investigator");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Legal bases" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, "/console/bases").ToString());
        await visitor.AssertAccessibleAsync();
        var from = server.Services.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime.Date.AddDays(1);
        await FillAsync(visitor.Page, camera.Id, watchlist.Id, from, from.AddDays(7));
        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Register basis" }).ClickAsync();

        var registered = Assert.Single(store.List());
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, $"/console/bases#basis-{registered.Id}").ToString());
        Assert.Equal(
            ("Search for a missing child, Old Town", "Court order 2026/112", "Municipal court", LegalObjective.VictimOrMissingPersonSearch, "one missing child", LegalBasisStatus.Draft),
            (registered.Title, registered.Instrument, registered.Authority, registered.Objective, registered.ObjectiveDetail, registered.Status));
        Assert.Equal([ProcessingPurpose.Live, ProcessingPurpose.Retrospective], registered.Purposes.Order());
        // Each list compared by value, element by element (a tuple of arrays would compare the arrays by reference).
        Assert.Equal([camera.Id], registered.CameraIds);
        Assert.Equal([watchlist.Id], registered.WatchlistIds);
        Assert.Equal((new DateTimeOffset(from, TimeSpan.Zero), new DateTimeOffset(from.AddDays(7), TimeSpan.Zero), 14, 5), (registered.ValidFrom, registered.ValidUntil, registered.MaxRetentionDays, registered.MaxWatchlistEntries));
        var row = visitor.Page.Locator($"tr[data-basis='{registered.Id}']");
        await Assertions.Expect(row.Locator("th")).ToHaveTextAsync($"{registered.Id} · Search for a missing child, Old Town");
        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("draft");
        await visitor.ScreenshotAsync("console-basis-register");

        // The audit log gained the registration, by the investigator, under the new basis.
        var records = server.Logged(AuditActions.LegalBasisChange);
        Assert.Equal(logged + 1, records.Count);
        Assert.Equal(("investigator", "registered", (long?)registered.Id), (records[^1].Actor, records[^1].Outcome, records[^1].LegalBasisId));
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();

        // The registered basis then goes through its lifecycle on the existing page: its prerequisites recorded (API),
        // the authority (not the registrant) authorises it from the console, and the row shows the decision.
        var prepared = await ApiCalls.ReadAsync<LegalBasis>(await server.Investigator.PostAsJsonAsync($"/api/legal-bases/{registered.Id}/prerequisites", ApiCalls.SamplePrerequisites, ApiCalls.Json));
        Assert.Equal(LegalBasisStatus.PrerequisitesRecorded, prepared.Status);
        await using var authority = await chromium.VisitorAsync();
        await authority.SignInAsync(server, "authority", landing: "/console/deployments");
        await authority.OpenAsync(server.Address, "/console/bases");
        var decided = authority.Page.Locator($"tr[data-basis='{registered.Id}']");
        await decided.GetByLabel("Decision reference").FillAsync("COURT-2026-112");
        await decided.GetByRole(AriaRole.Button, new() { Name = $"Authorise basis {registered.Id}" }).ClickAsync();
        // Its window begins tomorrow: authorised, not yet in force.
        await Assertions.Expect(decided.Locator("td.status")).ToHaveAttributeAsync("data-status", nameof(LegalBasisStatus.Authorised));
        await Assertions.Expect(decided.Locator("td.status")).ToContainTextAsync("decision COURT-2026-112 by authority");
        Assert.Equal(LegalBasisStatus.Authorised, store.Get(registered.Id).Status);
        authority.AssertNoProblems();
    }

    [Fact]
    public async Task A_bad_field_shows_the_problem_on_the_page_keeps_the_form_and_stores_nothing()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("BASIS-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var store = server.Services.GetRequiredService<LegalBasisStore>();
        var logged = server.Logged(AuditActions.LegalBasisChange).Count;

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "operator");
        await visitor.OpenAsync(server.Address, "/console/bases");
        var from = server.Services.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime.Date.AddDays(1);
        await FillAsync(visitor.Page, camera.Id, watchlist.Id, from, from.AddDays(-1)); // ends before it starts
        var refused = await visitor.Page.RunAndWaitForResponseAsync(
            () => visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Register basis" }).ClickAsync(),
            r => r.Url.EndsWith("/console/bases", StringComparison.Ordinal) && r.Request.Method == "POST");
        Assert.Equal(400, refused.Status);
        await Assertions.Expect(visitor.Page.Locator("#register-error")).ToHaveTextAsync("Not registered: validUntil must be after validFrom.");
        await Assertions.Expect(visitor.Page.GetByLabel("Title", new() { Exact = true })).ToHaveValueAsync("Search for a missing child, Old Town");
        await Assertions.Expect(visitor.Page.GetByRole(AriaRole.Checkbox, new() { Name = "Retrospective" })).ToBeCheckedAsync();
        Assert.Empty(store.List());
        Assert.Equal(logged, server.Logged(AuditActions.LegalBasisChange).Count);
        await visitor.AssertAccessibleAsync();

        // A purpose is required, as through the API: the store's own message.
        await visitor.Page.GetByLabel("Valid until (UTC)").FillAsync(from.AddDays(7).ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture));
        foreach (var purpose in new[] { "Live", "Retrospective" })
        {
            await visitor.Page.GetByRole(AriaRole.Checkbox, new() { Name = purpose, Exact = true }).UncheckAsync();
        }

        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Register basis" }).ClickAsync();
        await Assertions.Expect(visitor.Page.Locator("#register-error")).ToHaveTextAsync("Not registered: A legal basis must name at least one purpose.");
        Assert.Empty(store.List());
        visitor.Problems.Clear(); // the refusals' 400, which Chromium reports as errors

        // Roles that may not register are offered no form, and their post is refused.
        await using var authority = await chromium.VisitorAsync();
        await authority.SignInAsync(server, "authority", landing: "/console/deployments");
        await authority.OpenAsync(server.Address, "/console/bases");
        Assert.Equal(0, await authority.Page.Locator("#register-basis").CountAsync());
        using var post = await server.Verifier.PostAsync("/console/bases", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        authority.AssertNoProblems();
    }

    private static async Task FillAsync(IPage page, long camera, long watchlist, DateTime from, DateTime until)
    {
        await page.GetByLabel("Title", new() { Exact = true }).FillAsync("Search for a missing child, Old Town");
        await page.GetByLabel("Instrument (the law, order or decision)").FillAsync("Court order 2026/112");
        await page.GetByLabel("Issuing authority").FillAsync("Municipal court");
        await page.GetByLabel("Objective", new() { Exact = true }).SelectOptionAsync(nameof(LegalObjective.VictimOrMissingPersonSearch));
        await page.GetByLabel("Objective in detail").FillAsync("one missing child");
        await page.GetByRole(AriaRole.Checkbox, new() { Name = "Live", Exact = true }).CheckAsync();
        await page.GetByRole(AriaRole.Checkbox, new() { Name = "Retrospective", Exact = true }).CheckAsync();
        await page.GetByLabel("Cameras", new() { Exact = true }).SelectOptionAsync(camera.ToString(CultureInfo.InvariantCulture));
        await page.GetByLabel("Watchlists", new() { Exact = true }).SelectOptionAsync(watchlist.ToString(CultureInfo.InvariantCulture));
        await page.GetByLabel("Valid from (UTC)").FillAsync(from.ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture));
        await page.GetByLabel("Valid until (UTC)").FillAsync(until.ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture));
        await page.GetByLabel("Longest retention (days)").FillAsync("14");
        await page.GetByLabel("Most watchlist entries").FillAsync("5");
    }
}
