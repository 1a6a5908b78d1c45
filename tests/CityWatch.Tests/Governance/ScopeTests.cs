using System.Net;
using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Governance;

/// <summary>G1, G2, G6 on the real server: each attempt to process outside a legal basis's scope is refused and recorded.</summary>
public sealed class ScopeTests
{
    [Fact]
    public async Task Processing_with_no_legal_basis_is_refused_on_every_path_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);

        using var enrol = await server.EnrolAsync(watchlist.Id, "someone", GovernanceKit.Photo);
        using var analyze = await server.AnalyzeAsync("sought", "CASE-1");
        var live = await server.CameraPathAsync(camera.Id);

        Assert.Equal(HttpStatusCode.Forbidden, enrol.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, analyze.StatusCode);
        Assert.Equal("no legal basis is in force", live.RefusalReason);
        var refusals = server.Logged(AuditActions.PolicyRefusal);
        Assert.Contains(refusals, r => r.Actor == "investigator" && r.Body.Contains("Enrolment", StringComparison.Ordinal));
        Assert.Contains(refusals, r => r.Actor == "investigator" && r.CaseId == "CASE-1");
        Assert.Contains(refusals, r => r.Actor == "camera-pipeline" && r.Outcome == "no legal basis is in force");
        Assert.Empty(server.Logged(AuditActions.PolicyGrant));
    }

    [Fact]
    public async Task A_camera_outside_the_basis_cannot_be_deployed_on_nor_processed()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var inside = await server.AddCameraAsync("CAM-IN", null);
        var outside = await server.AddCameraAsync("CAM-OUT", null);
        var basis = await server.AddActiveBasisAsync([inside.Id], [watchlist.Id]);

        using var deploy = await server.Operator.PostAsJsonAsync("/api/deployments", new DeploymentInput(basis.Id, [inside.Id, outside.Id], [watchlist.Id]), ApiCalls.Json);
        var live = await server.CameraPathAsync(outside.Id);

        Assert.Equal(HttpStatusCode.Forbidden, deploy.StatusCode);
        Assert.Contains(server.Logged(GovernanceActions.Refusal), r => r.Actor == "operator" && r.Outcome == $"camera {outside.Id} is outside the scope of legal basis {basis.Id}");
        Assert.Equal($"camera {outside.Id} is outside the scope of every legal basis in force", live.RefusalReason);
        Assert.Contains(server.Logged(AuditActions.PolicyRefusal), r => r.Outcome == live.RefusalReason);
        Assert.True((await server.CameraPathAsync(inside.Id)).IsGranted);
    }

    [Fact]
    public async Task After_its_window_a_basis_grants_nothing_and_reports_expired()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var now = TimeProvider.System.GetUtcNow();
        var draft = ApiCalls.Draft([camera.Id], [watchlist.Id]) with { ValidFrom = now.AddMinutes(-5), ValidUntil = now.AddSeconds(3) };
        var basis = await server.AuthoriseAsync((await server.PreparedBasisAsync(draft)).Id);
        await server.DeployAsync(basis.Id, [camera.Id], [watchlist.Id]);
        var during = await server.CameraPathAsync(camera.Id);

        await RunningServer.WaitUntilAsync(() => Task.FromResult(TimeProvider.System.GetUtcNow() > draft.ValidUntil), TimeSpan.FromSeconds(10), "the window to end");
        var after = await server.CameraPathAsync(camera.Id);
        using var deployAgain = await server.Operator.PostAsJsonAsync("/api/deployments", new DeploymentInput(basis.Id, [camera.Id], [watchlist.Id]), ApiCalls.Json);

        Assert.True(during.IsGranted);
        Assert.True(during.Grant!.ExpiresAt <= draft.ValidUntil, "a grant never outlives the window");
        Assert.Equal("no legal basis is in force", after.RefusalReason);
        Assert.Equal(HttpStatusCode.Forbidden, deployAgain.StatusCode);
        Assert.Equal(LegalBasisStatus.Expired, (await server.Operator.GetFromJsonAsync<LegalBasis>($"/api/legal-bases/{basis.Id}", ApiCalls.Json))!.Status);
        Assert.Contains(server.Logged(AuditActions.PolicyRefusal), r => r.Actor == "camera-pipeline" && r.Outcome == "no legal basis is in force");
        Assert.Contains(server.Logged(GovernanceActions.Refusal), r => r.Actor == "operator" && r.Outcome.Contains("Expired", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_watchlist_outside_the_basis_is_never_deployed_nor_searched()
    {
        await using var server = await RunningServer.StartAsync();
        var covered = await server.AddWatchlistAsync("covered");
        var other = await server.AddWatchlistAsync("other");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var basis = await server.AddActiveBasisAsync([camera.Id], [covered.Id]);
        await server.OpenCaseAsync(basis, "CASE-1");
        await server.ApproveIfChangedAsync(other.Id);

        using var deploy = await server.Operator.PostAsJsonAsync("/api/deployments", new DeploymentInput(basis.Id, [camera.Id], [other.Id]), ApiCalls.Json);
        using var analyze = await server.AnalyzeAsync("other", "CASE-1");
        var live = await server.CameraPathAsync(camera.Id);

        Assert.Equal(HttpStatusCode.Forbidden, deploy.StatusCode);
        Assert.Contains(server.Logged(GovernanceActions.Refusal), r => r.Outcome == $"watchlist {other.Id} is outside the scope of legal basis {basis.Id}");
        Assert.Equal(HttpStatusCode.Forbidden, analyze.StatusCode);
        Assert.Contains(server.Logged(AuditActions.PolicyRefusal), r => r.CaseId == "CASE-1" && r.Outcome.Contains($"watchlist {other.Id}", StringComparison.Ordinal));
        // The camera path asks for every list and gets only the covered one.
        Assert.Equal([covered.Id], live.Grant!.WatchlistIds);
    }

    [Fact]
    public async Task A_retrospective_search_with_no_case_id_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Retrospective);

        using var response = await server.AnalyzeAsync("sought", caseId: null);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var refusal = Assert.Single(server.Logged(AuditActions.PolicyRefusal));
        Assert.Equal("retrospective use needs a case id", refusal.Outcome);
        Assert.Equal("investigator", refusal.Actor);
        Assert.Empty(server.Logged(AuditActions.Analysis));
    }
}
