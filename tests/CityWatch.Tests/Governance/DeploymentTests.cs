using System.Net;
using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Tests.Ingest;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Governance;

/// <summary>G9, G13 and revocation: live processing runs only inside a running deployment, which an overseer stops at once.</summary>
public sealed class DeploymentTests
{
    private static readonly string Clip = TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4");

    [Fact]
    public async Task Revoking_a_basis_stops_a_running_stream_within_the_grant_lifetime()
    {
        using var rtsp = await RtspTestServer.StartAsync(Clip);
        await using var server = await RunningServer.StartAsync(runCameras: true);
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", rtsp.Url);
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        await RunningServer.WaitUntilAsync(async () => (await server.HealthAsync(camera.Id))?.FramesAnalysed > 2, TimeSpan.FromSeconds(90), "frames to be analysed");

        await ApiCalls.ReadAsync<LegalBasis>(await server.Dpo.PostAsync($"/api/legal-bases/{basis.Id}/revoke", null));
        await RunningServer.WaitUntilAsync(
            async () => (await server.HealthAsync(camera.Id))?.PolicyRefusal is not null, PolicyEngine.GrantLifetime * 3, "the stream to be refused");
        var stopped = (await server.HealthAsync(camera.Id))!;
        await RunningServer.WaitUntilAsync(
            async () => (await server.HealthAsync(camera.Id))!.FramesDecoded > stopped.FramesDecoded + 6, TimeSpan.FromSeconds(30), "more frames to arrive");

        var later = (await server.HealthAsync(camera.Id))!;
        Assert.Equal(stopped.FramesAnalysed, later.FramesAnalysed);
        Assert.Equal("no legal basis is in force", later.PolicyRefusal);
        Assert.Contains(server.Logged(AuditActions.LegalBasisChange), c => c.Actor == "dpo" && c.Outcome == "revoked");
        Assert.Contains(server.Logged(GovernanceActions.DeploymentStop), c => c.Actor == "dpo" && c.Outcome == "legal basis revoked");
        Assert.Contains(server.Logged(AuditActions.PolicyRefusal), r => r.Actor == "camera-pipeline" && r.Outcome == "no legal basis is in force");
    }

    [Fact]
    public async Task Only_its_operator_or_an_overseer_stops_a_deployment_and_then_nothing_is_granted()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        var deployment = Assert.Single((await server.Operator.GetFromJsonAsync<List<Deployment>>("/api/deployments", ApiCalls.Json))!);
        var otherOperator = await server.AccountAsync("operator2", Role.Operator);

        using var byOther = await otherOperator.PostAsJsonAsync($"/api/deployments/{deployment.Id}/stop", new DeploymentStop("not mine"), ApiCalls.Json);
        Assert.Equal(HttpStatusCode.Forbidden, byOther.StatusCode);
        Assert.True((await server.CameraPathAsync(camera.Id)).IsGranted);

        var stopped = await ApiCalls.ReadAsync<Deployment>(await server.Authority.PostAsJsonAsync($"/api/deployments/{deployment.Id}/stop", new DeploymentStop("overseer stop"), ApiCalls.Json));
        var live = await server.CameraPathAsync(camera.Id);

        Assert.Equal("authority", stopped.StoppedBy);
        Assert.Equal($"no deployment is running on camera {camera.Id}", live.RefusalReason);
        Assert.Contains(server.Logged(GovernanceActions.Refusal), r => r.Actor == "operator2" && r.LegalBasisId == basis.Id);
        var start = Assert.Single(server.Logged(GovernanceActions.DeploymentStart));
        var stop = Assert.Single(server.Logged(GovernanceActions.DeploymentStop));
        Assert.Equal("operator", start.Actor);
        Assert.Equal("authority", stop.Actor);
        // Both name the watchlist version (its approved digest).
        var digest = deployment.Watchlists.Single().Digest;
        Assert.Contains(digest, start.Body, StringComparison.Ordinal);
        Assert.Contains(digest, stop.Body, StringComparison.Ordinal);
    }
}
