using System.Net.Http.Json;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console's legal-basis page in real Chromium against the real server: the authority decides on a
/// pending basis through the same store as the API; a role that may not act is offered no action; under the
/// strict CSP and without serious accessibility violations.
/// </summary>
public sealed class ConsoleBasesTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task The_authority_authorises_a_pending_basis_from_the_console_and_the_page_then_shows_it_in_force()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var pending = await server.PreparedBasisAsync(ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Retrospective));
        Assert.Equal(LegalBasisStatus.PrerequisitesRecorded, pending.Status);

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "authority", landing: "/console/deployments");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Legal bases" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, "/console/bases").ToString());
        var row = visitor.Page.Locator($"tr[data-basis='{pending.Id}']");
        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("pending the authority's decision");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-bases");

        await row.GetByLabel("Decision reference").FillAsync("COURT-2026-17");
        await row.GetByRole(AriaRole.Button, new() { Name = $"Authorise basis {pending.Id}" }).ClickAsync();

        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("in force");
        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("decision COURT-2026-17 by authority");
        Assert.Equal(0, await row.GetByRole(AriaRole.Button, new() { Name = $"Authorise basis {pending.Id}" }).CountAsync());
        var stored = server.Services.GetRequiredService<LegalBasisStore>().Get(pending.Id);
        Assert.Equal(LegalBasisStatus.Active, stored.Status);
        Assert.Equal(("COURT-2026-17", "authority"), (stored.DecisionReference, stored.DecidedBy));
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task A_draft_offers_the_authority_no_authorisation_only_a_refusal_which_the_store_records()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var draft = await ApiCalls.ReadAsync<LegalBasis>(await server.Investigator.PostAsJsonAsync("/api/legal-bases", ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Retrospective), ApiCalls.Json));

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "authority", landing: "/console/deployments");
        await visitor.OpenAsync(server.Address, "/console/bases");
        var row = visitor.Page.Locator($"tr[data-basis='{draft.Id}']");
        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("draft");
        Assert.Equal(0, await row.GetByRole(AriaRole.Button, new() { Name = $"Authorise basis {draft.Id}" }).CountAsync());

        // A refusal is offered for a draft; it goes through the urgency guard like the API's.
        await row.GetByLabel("Refusal reference").FillAsync("COURT-2026-18");
        await row.GetByLabel("Reason").FillAsync("no impact assessment");
        await row.GetByRole(AriaRole.Button, new() { Name = $"Refuse basis {draft.Id}" }).ClickAsync();
        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("refused");
        await Assertions.Expect(row.Locator("td.status")).ToContainTextAsync("no impact assessment");
        Assert.Equal(LegalBasisStatus.Refused, server.Services.GetRequiredService<LegalBasisStore>().Get(draft.Id).Status);
        Assert.Equal(0, await row.Locator("button").CountAsync());
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task A_verifier_sees_the_bases_but_no_action_and_the_page_has_no_serious_accessibility_violation()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var pending = await server.PreparedBasisAsync(ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Retrospective));
        var active = await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Retrospective);

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "verifier");
        await visitor.OpenAsync(server.Address, "/console/bases");
        await Assertions.Expect(visitor.Page.Locator("#bases tbody tr")).ToHaveCountAsync(2);
        await Assertions.Expect(visitor.Page.Locator($"tr[data-basis='{pending.Id}'] td.status")).ToContainTextAsync("pending");
        await Assertions.Expect(visitor.Page.Locator($"tr[data-basis='{active.Id}'] td.status")).ToContainTextAsync("in force");
        Assert.Equal(0, await visitor.Page.Locator("#bases form, #bases button").CountAsync());
        await visitor.AssertAccessibleAsync();

        // The DPO may revoke, as through the API, but not decide.
        await using var dpo = await chromium.VisitorAsync();
        await dpo.SignInAsync(server, "dpo");
        await dpo.OpenAsync(server.Address, "/console/bases");
        Assert.Equal(0, await dpo.Page.GetByRole(AriaRole.Button, new() { NameRegex = new System.Text.RegularExpressions.Regex("^(Authorise|Refuse)") }).CountAsync());
        await dpo.Page.GetByRole(AriaRole.Button, new() { Name = $"Revoke basis {active.Id}" }).ClickAsync();
        await Assertions.Expect(dpo.Page.Locator($"tr[data-basis='{active.Id}'] td.status")).ToContainTextAsync("revoked by dpo");
        Assert.Equal(LegalBasisStatus.Revoked, server.Services.GetRequiredService<LegalBasisStore>().Get(active.Id).Status);
        visitor.AssertNoProblems();
        dpo.AssertNoProblems();
    }
}
