using System.Net;
using System.Net.Http.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Dapper;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Governance;

/// <summary>
/// G3: urgent use runs before authorisation only until its deadline (24 h live, 48 h retrospective); refused
/// or late, it stops and everything it produced is destroyed, with a deletion record in the log.
/// </summary>
public sealed class UrgencyTests
{
    [Fact]
    public async Task An_urgent_use_past_its_deadline_is_stopped_and_its_alerts_crops_and_enrolments_destroyed()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        // Started (nearly) 24 hours ago, so that its deadline falls within the test.
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(20);
        var draft = ApiCalls.Draft([camera.Id], [watchlist.Id], ProcessingPurpose.Live, ProcessingPurpose.Enrolment) with
        {
            Urgent = true,
            ValidFrom = deadline - LegalBasis.LiveUrgency,
        };
        var basis = await server.PreparedBasisAsync(draft);
        Assert.Equal(LegalBasisStatus.UrgentActive, basis.Status);
        Assert.Equal(deadline, basis.UrgencyDeadline);
        (await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", GovernanceKit.Photo)).EnsureSuccessStatusCode();
        var deployment = await server.DeployAsync(basis.Id, [camera.Id], [watchlist.Id]);
        var grant = (await server.CameraPathAsync(camera.Id)).Grant!;
        Assert.True(grant.ExpiresAt <= deadline, "a grant never outlives the urgency deadline");
        var alert = RaiseAlert(server.Services.GetRequiredService<AlertStore>(), grant, camera.Id, watchlist.Id);
        var crop = Path.Combine(server.Options.EvidenceDirectory, server.Services.GetRequiredService<AlertStore>().CropLocation(alert.Id).File);
        Assert.True(File.Exists(crop));

        await RunningServer.WaitUntilAsync(() => Task.FromResult(TimeProvider.System.GetUtcNow() >= deadline), TimeSpan.FromSeconds(40), "the urgency deadline");
        var late = await server.CameraPathAsync(camera.Id);
        using var authorise = await server.Authority.PostAsJsonAsync($"/api/legal-bases/{basis.Id}/authorise", new AuthorityDecision("TOO-LATE"), ApiCalls.Json);

        Assert.Null(late.Grant);
        Assert.Equal(HttpStatusCode.Forbidden, authorise.StatusCode);
        Assert.Equal(0, (await server.AlertsAsync()).Total);
        Assert.False(File.Exists(crop));
        Assert.Empty(await server.Investigator.GetFromJsonAsync<List<WatchlistEntry>>($"/api/watchlists/{watchlist.Id}/entries", ApiCalls.Json) ?? []);
        Assert.Equal(LegalBasisStatus.Lapsed, (await server.Authority.GetFromJsonAsync<LegalBasis>($"/api/legal-bases/{basis.Id}", ApiCalls.Json))!.Status);
        Assert.False((await server.Operator.GetFromJsonAsync<Deployment>($"/api/deployments/{deployment.Id}", ApiCalls.Json))!.Running);
        var destruction = Assert.Single(server.Logged(GovernanceActions.UrgencyDestruction));
        Assert.Equal(basis.Id, destruction.LegalBasisId);
        Assert.Contains($"\"alertIds\":\"{alert.Id}\"", destruction.Body, StringComparison.Ordinal);
        Assert.Contains("\"alerts\":\"1\"", destruction.Body, StringComparison.Ordinal);
        Assert.Contains("\"entries\":\"1\"", destruction.Body, StringComparison.Ordinal);
        Assert.Contains(server.Logged(AuditActions.PolicyRefusal), r => r.Actor == "camera-pipeline" && r.Outcome == late.RefusalReason);
        Assert.Contains(server.Logged(GovernanceActions.Refusal), r => r.Actor == "authority" && r.Outcome.Contains("Lapsed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_no_traffic_the_background_sweep_destroys_an_urgent_use_left_unauthorised()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("C1");
        var basis = await city.PreparedBasisAsync(city.Draft([camera.Id], [1], ProcessingPurpose.Live) with { Urgent = true });
        city.EnsureWatchlists([1]);
        var entry = city.Watchlists.AddEntry(1, new EntryInput("sought", "test", "synthetic"), "test", [1, 0], [1], "investigator", basis.Id);
        await city.DeployAsync(basis.Id, [camera.Id], [1]);
        var grant = await city.Policy.RequireAsync(new PolicyRequest("camera-pipeline", ProcessingPurpose.Live, camera.Id, [1]));
        var alert = RaiseAlert(city.Alerts, grant, camera.Id, 1);
        var cropFile = Path.Combine(city.Alerts.EvidenceDirectory, city.Alerts.CropLocation(alert.Id).File);
        var job = city.NewGovernanceJob();
        await job.StartAsync(CancellationToken.None);
        try
        {
            city.Time.Advance(TimeSpan.FromHours(23));
            Assert.True((await city.Policy.AuthorizeAsync(new PolicyRequest("camera-pipeline", ProcessingPurpose.Live, camera.Id, [1]))).IsGranted);
            city.Time.Advance(TimeSpan.FromHours(1) + GovernanceJob.Period);
            await RunningServer.WaitUntilAsync(
                () => Task.FromResult(city.Audit.Read(0, 1000, GovernanceActions.UrgencyDestruction).Count == 1), TimeSpan.FromSeconds(20), "the sweep to destroy the urgent use");
        }
        finally
        {
            await job.StopAsync(CancellationToken.None);
        }

        using (var connection = city.Database.Open())
        {
            Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM alerts"));
        }

        Assert.False(File.Exists(cropFile));
        Assert.DoesNotContain(city.Watchlists.Entries(1), e => e.Id == entry.Id);
        Assert.Equal(LegalBasisStatus.Lapsed, city.LegalBases.Get(basis.Id).Status);
        Assert.Contains(city.Audit.Read(0, 1000, AuditActions.LegalBasisChange), c => c.Actor == UrgencyGuard.SystemActor && c.Outcome.StartsWith("lapsed", StringComparison.Ordinal));
        var refused = await city.Policy.AuthorizeAsync(new PolicyRequest("camera-pipeline", ProcessingPurpose.Live, camera.Id, [1]));
        Assert.Equal("no legal basis is in force", refused.RefusalReason);
    }

    [Fact]
    public async Task An_urgent_use_the_authority_refuses_is_stopped_and_destroyed_at_once()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("C1");
        var basis = await city.PreparedBasisAsync(city.Draft([camera.Id], [1], ProcessingPurpose.Live) with { Urgent = true });
        await city.DeployAsync(basis.Id, [camera.Id], [1]);
        var grant = await city.Policy.RequireAsync(new PolicyRequest("camera-pipeline", ProcessingPurpose.Live, camera.Id, [1]));
        RaiseAlert(city.Alerts, grant, camera.Id, 1);

        var refused = await city.Urgency.RefuseAsync(basis.Id, new AuthorityDecision("COURT-REFUSAL-1", "not necessary"), TestCity.AuthorityActor);

        Assert.Equal(LegalBasisStatus.Refused, refused.Status);
        var destruction = Assert.Single(city.Audit.Read(0, 1000, GovernanceActions.UrgencyDestruction));
        Assert.Equal("destroyed: urgency use refused", destruction.Outcome);
        Assert.Empty(Directory.EnumerateFiles(city.Alerts.EvidenceDirectory));
        Assert.Empty(city.Deployments.Running());
        Assert.Null((await city.Policy.AuthorizeAsync(new PolicyRequest("camera-pipeline", ProcessingPurpose.Live, camera.Id, [1]))).Grant);
    }

    [Fact]
    public async Task An_urgent_use_authorised_in_time_keeps_its_data_and_goes_on_past_the_deadline()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("C1");
        var draft = city.Draft([camera.Id], [1], ProcessingPurpose.Live);
        var basis = await city.PreparedBasisAsync(draft with { Urgent = true, ValidUntil = draft.ValidFrom.AddDays(3) });
        await city.DeployAsync(basis.Id, [camera.Id], [1]);
        var grant = await city.Policy.RequireAsync(new PolicyRequest("camera-pipeline", ProcessingPurpose.Live, camera.Id, [1]));
        RaiseAlert(city.Alerts, grant, camera.Id, 1);

        city.Time.Advance(TimeSpan.FromHours(12));
        await city.LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision("COURT-1"), TestCity.AuthorityActor);
        city.Time.Advance(TimeSpan.FromHours(13));
        var settled = await city.NewGovernanceJob().SweepAsync();

        Assert.Equal(0, settled.UrgentSettled);
        Assert.Single(Directory.EnumerateFiles(city.Alerts.EvidenceDirectory));
        Assert.True((await city.Policy.AuthorizeAsync(new PolicyRequest("camera-pipeline", ProcessingPurpose.Live, camera.Id, [1]))).IsGranted);
    }

    private static Alert RaiseAlert(AlertStore alerts, ProcessingGrant grant, long cameraId, long watchlistId) =>
        alerts.Add(new NewAlert(cameraId, watchlistId, 1, "sought", grant.LegalBasisId, grant.Id, grant.IssuedAt, 0.9f, 0.5f, new FaceBox(1, 1, 10, 10), [0xFF, 0xD8, 0xFF, 0xD9]));
}
