using System.Net;
using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Server.Identity;
using CityWatch.Settings;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Governance;

/// <summary>G12: the operating threshold and the model change only by a proposal a second person approves.</summary>
public sealed class SettingsGovernanceTests
{
    [Fact]
    public async Task Changing_the_threshold_alone_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var settings = server.Services.GetRequiredService<SettingsStore>();
        var before = settings.OperatingThreshold("fr_feature");
        // An account holding both roles that propose and approve still cannot approve its own proposal.
        var me = await server.Investigator.GetFromJsonAsync<CityWatch.Identity.Caller>("/api/auth/me", ApiCalls.Json);
        await server.ApproveAsync(await ApiCalls.ReadAsync<CityWatch.Identity.RoleGrant>(
            await server.Admin.PostAsJsonAsync($"/api/accounts/{me!.AccountId}/roles", new CityWatch.Identity.RoleGrantInput(CityWatch.Identity.Role.DataProtectionOfficer), ApiCalls.Json)));
        var proposal = await ApiCalls.ReadAsync<SettingProposal>(await server.Investigator.PostAsJsonAsync(
            "/api/settings/proposals", new ProposalInput(SettingsStore.ThresholdKey("fr_feature"), "0.2", "more alerts please"), ApiCalls.Json));

        using var self = await server.NewClient(await server.SignInAsync("investigator", RunningServer.Password)).PostAsync($"/api/settings/proposals/{proposal.Id}/approve", null);

        Assert.Equal(HttpStatusCode.Forbidden, self.StatusCode);
        Assert.Equal(before, settings.OperatingThreshold("fr_feature"));
        Assert.Contains("below the validated operating point", proposal.Warning);
        var audit = server.Services.GetRequiredService<AuditTrail>();
        Assert.Contains(audit.Read(0, 10_000, SessionAuthentication.Denied), a => a.Actor == "investigator" && a.Body.Contains("second person", StringComparison.Ordinal));
        Assert.Empty(audit.Read(0, 10_000, AuditActions.SettingChange));
    }

    [Fact]
    public async Task A_proposal_approved_by_a_second_person_changes_the_threshold_and_both_acts_are_logged()
    {
        await using var server = await RunningServer.StartAsync();
        var proposal = await ApiCalls.ReadAsync<SettingProposal>(await server.Admin.PostAsJsonAsync(
            "/api/settings/proposals", new ProposalInput(SettingsStore.ThresholdKey("fr_feature"), "0.5", "fewer false alerts at the station"), ApiCalls.Json));

        var approved = await ApiCalls.ReadAsync<SettingProposal>(await server.Dpo.PostAsync($"/api/settings/proposals/{proposal.Id}/approve", null));
        using var again = await server.Authority.PostAsync($"/api/settings/proposals/{proposal.Id}/approve", null);

        Assert.Equal(ProposalStatus.Approved, approved.Status);
        Assert.Equal("dpo", approved.DecidedBy);
        Assert.Null(proposal.Warning);
        Assert.Equal(0.5f, server.Services.GetRequiredService<SettingsStore>().OperatingThreshold("fr_feature"));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        var audit = server.Services.GetRequiredService<AuditTrail>();
        Assert.Single(audit.Read(0, 10_000, SettingProposals.Proposed));
        Assert.Single(audit.Read(0, 10_000, SettingProposals.Decided));
        Assert.Contains("approved by dpo", Assert.Single(audit.Read(0, 10_000, AuditActions.SettingChange)).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_settings_and_bad_values_are_refused()
    {
        await using var server = await RunningServer.StartAsync();

        using var unknown = await server.Admin.PostAsJsonAsync("/api/settings/proposals", new ProposalInput("retention.days", "1", "why not"), ApiCalls.Json);
        using var bad = await server.Admin.PostAsJsonAsync("/api/settings/proposals", new ProposalInput(SettingsStore.ThresholdKey("fr_feature"), "2", "x"), ApiCalls.Json);
        using var model = await server.Admin.PostAsJsonAsync("/api/settings/proposals", new ProposalInput(SettingProposals.ModelKey, "yunet", "x"), ApiCalls.Json);

        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, model.StatusCode);
    }
}
