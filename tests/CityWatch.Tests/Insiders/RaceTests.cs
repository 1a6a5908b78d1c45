using System.Net;
using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Settings;
using CityWatch.Tests.Governance;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Insiders;

/// <summary>
/// An insider who fires the same governed act many times at once, hoping that each request passes its check
/// before any of them writes: every check and its write are one transaction, so exactly as many succeed as
/// the rule allows, and every one refused is recorded.
/// </summary>
public sealed class RaceTests
{
    [Fact]
    public async Task Eight_concurrent_enrolments_under_a_basis_capped_at_one_store_one_and_refuse_and_record_seven()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var draft = ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Enrolment) with { MaxWatchlistEntries = 1 };
        var basis = await server.AuthoriseAsync((await server.PreparedBasisAsync(draft)).Id);
        var photo = await File.ReadAllBytesAsync(GovernanceKit.Photo);

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var form = new MultipartFormDataContent
            {
                { new StringContent($"person {i}"), "label" },
                { new StringContent("test"), "category" },
                { new StringContent("shared test photo"), "imageSource" },
                { new ByteArrayContent(photo), "photo", "face.png" },
            };
            using var response = await server.Investigator.PostAsync($"/api/watchlists/{watchlist.Id}/entries", form);
            return response.StatusCode;
        }));

        Assert.Equal(1, responses.Count(s => s == HttpStatusCode.Created || s == HttpStatusCode.OK));
        Assert.Equal(7, responses.Count(s => s == HttpStatusCode.Forbidden));
        Assert.Single(server.Services.GetRequiredService<WatchlistStore>().Entries(watchlist.Id));
        Assert.Single(server.Logged(AuditActions.Enrolment));
        var refusals = server.Logged(GovernanceActions.Refusal).Where(r => r.LegalBasisId == basis.Id && r.Body.Contains("at most 1 watchlist entries", StringComparison.Ordinal)).ToList();
        Assert.Equal(7, refusals.Count);
        Assert.All(refusals, r => Assert.Equal("investigator", r.Actor));
    }

    [Fact]
    public async Task Two_concurrent_approvals_of_one_setting_proposal_apply_it_once_and_the_other_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var proposal = await ApiCalls.ReadAsync<SettingProposal>(await server.Investigator.PostAsJsonAsync(
            "/api/settings/proposals", new ProposalInput(SettingsStore.ThresholdKey("fr_feature"), "0.5", "calibrated on our footage"), ApiCalls.Json));

        var statuses = await Task.WhenAll(
            ApproveAsync(server.Dpo, $"/api/settings/proposals/{proposal.Id}/approve"),
            ApproveAsync(server.Authority, $"/api/settings/proposals/{proposal.Id}/approve"));

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], statuses.Order());
        Assert.Single(server.Logged(AuditActions.SettingChange));
        Assert.Single(server.Logged(SettingProposals.Decided));
        var lost = Assert.Single(server.Logged(GovernanceActions.Refusal));
        Assert.Contains("approve setting proposal", lost.Body, StringComparison.Ordinal);
        var decided = server.Services.GetRequiredService<SettingProposals>().Get(proposal.Id);
        Assert.Equal(ProposalStatus.Approved, decided.Status);
        Assert.Equal(decided.DecidedBy, server.Logged(SettingProposals.Decided)[0].Actor);
        Assert.NotEqual(decided.DecidedBy, lost.Actor);
    }

    [Fact]
    public async Task Two_concurrent_approvals_of_one_watchlist_approve_it_once_and_the_other_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        await server.AuthoriseAsync((await server.PreparedBasisAsync(ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Enrolment))).Id);
        (await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", GovernanceKit.Photo, approve: false)).EnsureSuccessStatusCode();
        var secondAuthority = await server.AccountAsync("authority2", Role.Authority);

        var statuses = await Task.WhenAll(
            ApproveAsync(server.Authority, $"/api/watchlists/{watchlist.Id}/approve"),
            ApproveAsync(secondAuthority, $"/api/watchlists/{watchlist.Id}/approve"));

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], statuses.Order());
        Assert.Single(server.Logged(GovernanceActions.WatchlistApproval));
        Assert.Single(server.Logged(GovernanceActions.Refusal), r => r.Body.Contains("already approved", StringComparison.Ordinal));
        Assert.True(server.Services.GetRequiredService<WatchlistStore>().Get(watchlist.Id).Approved);
    }

    [Fact]
    public async Task Two_concurrent_stops_of_one_deployment_stop_it_once_and_log_one_stop()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("CAM-1", null);
        var watchlist = await server.AddWatchlistAsync("sought");
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        var deployment = Assert.Single(server.Services.GetRequiredService<DeploymentStore>().Running());

        var statuses = await Task.WhenAll(
            ApproveAsync(server.Operator, $"/api/deployments/{deployment.Id}/stop"),
            ApproveAsync(server.Dpo, $"/api/deployments/{deployment.Id}/stop"));

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], statuses.Order());
        Assert.Single(server.Logged(GovernanceActions.DeploymentStop));
        Assert.Empty(server.Services.GetRequiredService<DeploymentStore>().Running());
    }

    private static async Task<HttpStatusCode> ApproveAsync(HttpClient client, string path)
    {
        using var response = await client.PostAsJsonAsync(path, new { reason = "test" });
        return response.StatusCode;
    }
}
