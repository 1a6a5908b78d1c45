using System.Net;
using System.Net.Http.Json;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Governance;

/// <summary>G5: entries carry their governance fields; a changed list is not used until a second account re-approves it; a basis caps its entries; expired entries go.</summary>
public sealed class WatchlistGovernanceTests
{
    [Fact]
    public async Task A_watchlist_changed_since_its_approval_is_not_used_until_another_account_re_approves_it()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        Assert.True((await server.CameraPathAsync(camera.Id)).IsGranted);

        // A change after approval, by the investigator.
        (await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", GovernanceKit.Photo, approve: false)).EnsureSuccessStatusCode();
        var live = await server.CameraPathAsync(camera.Id);
        using var redeploy = await server.Operator.PostAsJsonAsync("/api/deployments", new DeploymentInput(basis.Id, [camera.Id], [watchlist.Id]), ApiCalls.Json);
        using var selfApproval = await server.Investigator.PostAsync($"/api/watchlists/{watchlist.Id}/approve", null);

        Assert.Null(live.Grant);
        Assert.Contains($"watchlist {watchlist.Id} changed since its approval", live.RefusalReason, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, redeploy.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, selfApproval.StatusCode);
        var refusals = server.Logged(GovernanceActions.Refusal);
        Assert.Contains(refusals, r => r.Actor == "operator" && r.Outcome.Contains("changed since its last approval", StringComparison.Ordinal));
        Assert.Contains(refusals, r => r.Actor == "investigator" && r.Outcome.Contains("another account must approve", StringComparison.Ordinal));
        Assert.Contains(server.Logged(CityWatch.Audit.AuditActions.PolicyRefusal), r => r.Actor == "camera-pipeline" && r.Outcome == live.RefusalReason);

        // The authority re-approves; a new deployment of the new version is granted, the stale one still is not used.
        var approved = await ApiCalls.ReadAsync<Watchlist>(await server.Authority.PostAsync($"/api/watchlists/{watchlist.Id}/approve", null));
        var entry = Assert.Single(await server.Authority.GetFromJsonAsync<List<WatchlistEntry>>($"/api/watchlists/{watchlist.Id}/entries", ApiCalls.Json) ?? []);
        var deployment = await ApiCalls.ReadAsync<Deployment>(await server.Operator.PostAsJsonAsync("/api/deployments", new DeploymentInput(basis.Id, [camera.Id], [watchlist.Id]), ApiCalls.Json));

        Assert.True(approved.Approved);
        Assert.Equal("authority", entry.ApprovedBy);
        Assert.Equal("investigator", entry.EnrolledBy);
        Assert.Equal(basis.Id, entry.LegalBasisId);
        Assert.Equal(basis.ValidUntil, entry.ExpiresAt);
        Assert.Equal(approved.CurrentDigest, Assert.Single(deployment.Watchlists).Digest);
        Assert.True((await server.CameraPathAsync(camera.Id)).IsGranted);
    }

    [Fact]
    public async Task Enrolling_beyond_the_basis_size_cap_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var draft = ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Enrolment) with { MaxWatchlistEntries = 1 };
        var basis = await server.AuthoriseAsync((await server.PreparedBasisAsync(draft)).Id);
        (await server.EnrolAsync(watchlist.Id, "first", GovernanceKit.Photo)).EnsureSuccessStatusCode();

        using var second = await server.EnrolAsync(watchlist.Id, "second", GovernanceKit.OtherPhoto);

        Assert.Equal(HttpStatusCode.Forbidden, second.StatusCode);
        var refusal = Assert.Single(server.Logged(GovernanceActions.Refusal));
        Assert.Equal(basis.Id, refusal.LegalBasisId);
        Assert.Equal($"legal basis {basis.Id} allows at most 1 watchlist entries and has 1", refusal.Outcome);
        Assert.Single(await server.Investigator.GetFromJsonAsync<List<WatchlistEntry>>($"/api/watchlists/{watchlist.Id}/entries", ApiCalls.Json) ?? []);
    }

    [Fact]
    public async Task Expired_entries_are_removed_by_the_background_sweep_and_logged()
    {
        using var city = new TestCity();
        var list = city.Watchlists.Create(new WatchlistInput("sought", ""), "investigator");
        var now = city.Time.GetUtcNow();
        var soon = city.Watchlists.AddEntry(list.Id, new EntryInput("soon", "test", "synthetic", now.AddHours(1)), "test", [1, 0], [1], "investigator");
        var later = city.Watchlists.AddEntry(list.Id, new EntryInput("later", "test", "synthetic", now.AddDays(3)), "test", [0, 1], [2], "investigator");
        var job = city.NewGovernanceJob();
        await job.StartAsync(CancellationToken.None);
        try
        {
            city.Time.Advance(TimeSpan.FromHours(2));
            await RunningServer.WaitUntilAsync(
                () => Task.FromResult(city.Watchlists.Entries(list.Id).Count == 1), TimeSpan.FromSeconds(20), "the sweep to remove the expired entry");
        }
        finally
        {
            await job.StopAsync(CancellationToken.None);
        }

        Assert.Equal(later.Id, Assert.Single(city.Watchlists.Entries(list.Id)).Id);
        var logged = Assert.Single(city.Audit.Read(0, 100, GovernanceActions.WatchlistExpiry));
        Assert.Equal(GovernanceJob.SystemActor, logged.Actor);
        Assert.Contains($"\"entries\":\"{soon.Id}\"", logged.Body, StringComparison.Ordinal);
        Assert.False(city.Watchlists.Get(list.Id).Approved);
    }
}
