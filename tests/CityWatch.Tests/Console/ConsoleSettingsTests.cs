using System.Net;
using System.Net.Http.Json;
using CityWatch.Settings;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console's governed settings in real Chromium against the real server: a proposal made on the page, approved
/// by a second person on the page, changes the value the matcher uses; the proposer's own approval is refused as
/// through the API; roles that may neither propose nor decide get no form; axe-clean under the strict CSP.
/// </summary>
public sealed class ConsoleSettingsTests(Chromium chromium) : IClassFixture<Chromium>
{
    private static readonly string Threshold = SettingsStore.ThresholdKey("fr_feature");

    [Fact]
    public async Task The_administrator_proposes_a_threshold_a_dpo_approves_it_on_the_page_and_the_value_changes()
    {
        await using var server = await RunningServer.StartAsync();
        var settings = server.Services.GetRequiredService<SettingsStore>();
        Assert.NotEqual(0.5f, settings.OperatingThreshold("fr_feature"));

        await using var admin = await chromium.VisitorAsync();
        await admin.SignInAsync(server, "admin", landing: "/console/deployments");
        await admin.Page.GetByRole(AriaRole.Link, new() { Name = "Settings" }).ClickAsync();
        await admin.Page.WaitForURLAsync(new Uri(server.Address, "/console/settings").ToString());
        await Assertions.Expect(admin.Page.Locator($"tr[data-setting='{Threshold}'] td.changed")).ToContainTextAsync("never");
        await admin.Page.GetByLabel("Setting").SelectOptionAsync(Threshold);
        await admin.Page.GetByLabel("New value").FillAsync("0.5");
        await admin.Page.GetByLabel("Reason").FillAsync("fewer false alerts at the station");
        await admin.Page.GetByRole(AriaRole.Button, new() { Name = "Propose" }).ClickAsync();
        var proposal = Assert.Single(server.Services.GetRequiredService<SettingProposals>().List());
        var row = admin.Page.Locator($"#proposals tr[data-proposal='{proposal.Id}']");
        await Assertions.Expect(row.Locator("td.change")).ToContainTextAsync($"{Threshold} to 0.5");
        await Assertions.Expect(row.Locator("td.proposed")).ToContainTextAsync("by admin");
        Assert.Equal(0, await row.Locator("button").CountAsync()); // the administrator does not decide
        await admin.AssertAccessibleAsync();
        admin.AssertNoProblems();

        await using var dpo = await chromium.VisitorAsync();
        await dpo.SignInAsync(server, "dpo");
        await dpo.OpenAsync(server.Address, "/console/settings");
        await dpo.AssertAccessibleAsync();
        await dpo.ScreenshotAsync("console-settings");
        await dpo.Page.GetByRole(AriaRole.Button, new() { Name = $"Approve proposal {proposal.Id}" }).ClickAsync();

        await Assertions.Expect(dpo.Page.Locator($"tr[data-setting='{Threshold}'] td.value")).ToHaveTextAsync("0.5");
        await Assertions.Expect(dpo.Page.Locator($"tr[data-setting='{Threshold}'] td.changed")).ToContainTextAsync("by dpo");
        await Assertions.Expect(dpo.Page.Locator($"#decided tr[data-proposal='{proposal.Id}'] td.status")).ToContainTextAsync("approved by dpo");
        await Assertions.Expect(dpo.Page.Locator("#no-proposals")).ToBeVisibleAsync();
        Assert.Equal(0.5f, settings.OperatingThreshold("fr_feature"));
        Assert.Equal(ProposalStatus.Approved, server.Services.GetRequiredService<SettingProposals>().Get(proposal.Id).Status);
        Assert.Single(server.Logged(SettingProposals.Decided));
        dpo.AssertNoProblems();
    }

    [Fact]
    public async Task An_account_holding_both_roles_is_refused_its_own_approval_and_a_second_person_rejects()
    {
        await using var server = await RunningServer.StartAsync();
        var settings = server.Services.GetRequiredService<SettingsStore>();
        var before = settings.OperatingThreshold("fr_feature");
        var me = await server.Investigator.GetFromJsonAsync<CityWatch.Identity.Caller>("/api/auth/me", ApiCalls.Json);
        await server.ApproveAsync(await ApiCalls.ReadAsync<CityWatch.Identity.RoleGrant>(
            await server.Admin.PostAsJsonAsync($"/api/accounts/{me!.AccountId}/roles", new CityWatch.Identity.RoleGrantInput(CityWatch.Identity.Role.DataProtectionOfficer), ApiCalls.Json)));

        await using var both = await chromium.VisitorAsync();
        await both.SignInAsync(server, "investigator");
        await both.OpenAsync(server.Address, "/console/settings");
        await both.Page.GetByLabel("Setting").SelectOptionAsync(Threshold);
        await both.Page.GetByLabel("New value").FillAsync("0.2");
        await both.Page.GetByLabel("Reason").FillAsync("more alerts please");
        await both.Page.GetByRole(AriaRole.Button, new() { Name = "Propose" }).ClickAsync();
        var proposal = Assert.Single(server.Services.GetRequiredService<SettingProposals>().List());
        var row = both.Page.Locator($"#proposals tr[data-proposal='{proposal.Id}']");
        await Assertions.Expect(row.Locator("td.change")).ToContainTextAsync("below the validated operating point");
        await Assertions.Expect(row.Locator(".own")).ToContainTextAsync("another person must decide it");

        var refused = await both.Page.RunAndWaitForResponseAsync(
            () => row.GetByRole(AriaRole.Button, new() { Name = $"Approve proposal {proposal.Id}" }).ClickAsync(),
            r => r.Url.EndsWith($"/console/settings/proposals/{proposal.Id}/approve", StringComparison.Ordinal));
        Assert.Equal(403, refused.Status);
        Assert.Contains("second person", await both.Page.ContentAsync(), StringComparison.Ordinal);
        Assert.Equal(before, settings.OperatingThreshold("fr_feature"));
        Assert.Equal(ProposalStatus.Pending, server.Services.GetRequiredService<SettingProposals>().Get(proposal.Id).Status);
        Assert.Contains(server.Logged(CityWatch.Server.Identity.SessionAuthentication.Denied), a => a.Actor == "investigator" && a.Body.Contains("second person", StringComparison.Ordinal));
        both.Problems.Clear(); // the refusal's 403, which Chromium reports as an error

        await using var authority = await chromium.VisitorAsync();
        await authority.SignInAsync(server, "authority", landing: "/console/deployments");
        await authority.OpenAsync(server.Address, "/console/settings");
        await authority.Page.GetByRole(AriaRole.Button, new() { Name = $"Reject proposal {proposal.Id}" }).ClickAsync();
        await Assertions.Expect(authority.Page.Locator($"#decided tr[data-proposal='{proposal.Id}'] td.status")).ToContainTextAsync("rejected by authority");
        Assert.Equal(before, settings.OperatingThreshold("fr_feature"));
        authority.AssertNoProblems();
    }

    [Fact]
    public async Task A_verifier_sees_the_settings_with_no_form_and_a_post_by_a_role_the_api_denies_is_403()
    {
        await using var server = await RunningServer.StartAsync();
        var proposal = await ApiCalls.ReadAsync<SettingProposal>(await server.Admin.PostAsJsonAsync(
            "/api/settings/proposals", new ProposalInput(Threshold, "0.5", "fewer false alerts"), ApiCalls.Json));

        await using var verifier = await chromium.VisitorAsync();
        await verifier.SignInAsync(server, "verifier");
        await verifier.Page.GetByRole(AriaRole.Link, new() { Name = "Settings" }).ClickAsync();
        await Assertions.Expect(verifier.Page.Locator($"#proposals tr[data-proposal='{proposal.Id}']")).ToBeVisibleAsync();
        Assert.Equal(0, await verifier.Page.Locator("main form, main button").CountAsync());
        await verifier.AssertAccessibleAsync();
        verifier.AssertNoProblems();

        using (var approve = await server.Admin.PostAsync($"/console/settings/proposals/{proposal.Id}/approve", new FormUrlEncodedContent([])))
        {
            Assert.Equal(HttpStatusCode.Forbidden, approve.StatusCode);
        }

        using (var propose = await server.Verifier.PostAsync("/console/settings/proposals", new FormUrlEncodedContent([])))
        {
            Assert.Equal(HttpStatusCode.Forbidden, propose.StatusCode);
        }

        Assert.Equal(ProposalStatus.Pending, server.Services.GetRequiredService<SettingProposals>().Get(proposal.Id).Status);
    }
}
