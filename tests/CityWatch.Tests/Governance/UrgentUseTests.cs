using System.Net;
using System.Net.Http.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;

namespace CityWatch.Tests.Governance;

/// <summary>
/// Issue 9, item 3, the urgent-use holes: revoking (instead of refusing) an urgent basis kept its outputs; a
/// refused urgent use restarted by registering the same basis again; urgent use asked no authority.
/// </summary>
public sealed class UrgentUseTests
{
    [Fact]
    public async Task Revoking_an_urgent_basis_that_was_never_authorised_destroys_its_outputs_like_a_refusal()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("C1");
        var basis = await city.PreparedBasisAsync(city.Draft([camera.Id], [1], ProcessingPurpose.Live, ProcessingPurpose.Enrolment) with { Urgent = true });
        city.EnsureWatchlists([1]);
        var entry = city.Watchlists.AddEntry(1, new EntryInput("sought", "test", "synthetic"), "test", [1, 0], [1], "investigator", basis.Id);
        await city.DeployAsync(basis.Id, [camera.Id], [1]);
        var grant = await city.Policy.RequireAsync(new PolicyRequest("camera-pipeline", ProcessingPurpose.Live, camera.Id, [1]));
        var alert = city.Alerts.Add(EvidenceFixture.New(EvidenceFixture.BlankCrop, camera.Id, 1, grant.LegalBasisId, city.Time.GetUtcNow()));
        var (_, keyId) = city.Alerts.CropLocation(alert.Id);

        var revoked = await city.Urgency.RevokeAsync(basis.Id, "test-dpo");

        Assert.Equal(LegalBasisStatus.Revoked, revoked.Status);
        Assert.Empty(city.Alerts.All());
        Assert.False(city.Alerts.Vault.Exists(keyId));
        Assert.Empty(Directory.EnumerateFiles(city.Alerts.EvidenceDirectory));
        Assert.DoesNotContain(city.Watchlists.Entries(1), e => e.Id == entry.Id);
        Assert.Empty(city.Deployments.Running());
        var destruction = Assert.Single(city.Audit.Read(0, 1000, GovernanceActions.UrgencyDestruction));
        Assert.Equal("destroyed: urgency use revoked before authorisation", destruction.Outcome);
        Assert.Equal(basis.Id, destruction.LegalBasisId);
        Assert.Contains($"\"alertIds\":\"{alert.Id}\"", destruction.Body, StringComparison.Ordinal);
        Assert.Contains($"\"entryIds\":\"1/{entry.Id}\"", destruction.Body, StringComparison.Ordinal);
        Assert.Equal(UrgentRequestOutcome.Withdrawn, Assert.Single(new UrgentRequestRegister(city.Database, city.Time).List()).Outcome);
    }

    [Fact]
    public async Task An_authorised_basis_revoked_later_keeps_its_confirmed_evidence_for_retention_to_delete()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("C1");
        var basis = await city.PreparedBasisAsync(city.Draft([camera.Id], [1], ProcessingPurpose.Live) with { Urgent = true });
        await city.LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision("COURT-1"), TestCity.AuthorityActor);
        var alert = city.Alerts.Add(EvidenceFixture.New(EvidenceFixture.BlankCrop, camera.Id, 1, basis.Id, city.Time.GetUtcNow()));

        await city.Urgency.RevokeAsync(basis.Id, "test-dpo");

        Assert.Equal(alert.Id, city.Alerts.Get(alert.Id).Id);
        Assert.Empty(city.Audit.Read(0, 1000, GovernanceActions.UrgencyDestruction));
    }

    [Fact]
    public async Task A_refused_or_lapsed_urgent_use_cannot_be_registered_again_as_urgent_and_the_refusal_is_logged()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var draft = ApiCalls.Draft([camera.Id], [watchlist.Id], ProcessingPurpose.Live) with { Urgent = true };
        var refused = await server.PreparedBasisAsync(draft);
        (await server.Authority.PostAsJsonAsync($"/api/legal-bases/{refused.Id}/refuse", new AuthorityDecision("COURT-NO", "not necessary"), ApiCalls.Json)).EnsureSuccessStatusCode();

        // The same use again, and a widened one that still shares the camera and the watchlist.
        var other = await server.AddCameraAsync("CAM-2", null);
        using var again = await server.Investigator.PostAsJsonAsync("/api/legal-bases", draft, ApiCalls.Json);
        using var widened = await server.Investigator.PostAsJsonAsync("/api/legal-bases", draft with { CameraIds = [camera.Id, other.Id], Title = "Another title" }, ApiCalls.Json);
        // Not urgent, it may be registered: the authority decides before any use.
        using var ordinary = await server.Investigator.PostAsJsonAsync("/api/legal-bases", draft with { Urgent = false }, ApiCalls.Json);

        foreach (var response in new[] { again, widened })
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains($"legal basis {refused.Id}", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.Created, ordinary.StatusCode);
        var refusals = server.Logged(GovernanceActions.Refusal).Where(r => r.Body.Contains("\"act\":\"register urgent\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, refusals.Count);
        Assert.All(refusals, r => Assert.Equal(refused.Id, r.LegalBasisId));
        Assert.Single((await server.Authority.GetFromJsonAsync<List<UrgentRequest>>("/api/urgent-requests", ApiCalls.Json))!);
    }

    [Fact]
    public async Task A_lapsed_urgent_use_cannot_be_registered_again_as_urgent()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("C1");
        var draft = city.Draft([camera.Id], [1], ProcessingPurpose.Live) with { Urgent = true };
        var lapsed = await city.PreparedBasisAsync(draft);
        city.Time.Advance(LegalBasis.LiveUrgency);
        await city.Urgency.EnforceAsync();
        Assert.Equal(LegalBasisStatus.Lapsed, city.LegalBases.Get(lapsed.Id).Status);

        await Assert.ThrowsAsync<PolicyRefusedException>(() => city.LegalBases.RegisterAsync(city.Draft([camera.Id], [1], ProcessingPurpose.Live) with { Urgent = true }, TestCity.Registrar));

        var refusal = Assert.Single(city.Audit.Read(0, 1000, GovernanceActions.Refusal));
        Assert.Equal(lapsed.Id, refusal.LegalBasisId);
        Assert.Contains("Lapsed", refusal.Outcome, StringComparison.Ordinal);
        Assert.Equal(UrgentRequestOutcome.Lapsed, Assert.Single(new UrgentRequestRegister(city.Database, city.Time).List()).Outcome);
    }

    [Fact]
    public async Task Urgent_use_files_a_request_the_authority_sees_and_answers_and_the_public_sees_the_counts()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var first = await server.PreparedBasisAsync(ApiCalls.Draft([camera.Id], [watchlist.Id], ProcessingPurpose.Live) with { Urgent = true });
        var second = await server.PreparedBasisAsync(ApiCalls.Draft([camera.Id], [watchlist.Id], ProcessingPurpose.Live) with { Urgent = true, Objective = LegalObjective.ImminentThreat });

        var pending = (await server.Authority.GetFromJsonAsync<List<UrgentRequest>>("/api/urgent-requests", ApiCalls.Json))!;
        using var byOperator = await server.Operator.GetAsync("/api/urgent-requests");
        Assert.Equal([first.Id, second.Id], pending.Select(r => r.LegalBasisId));
        Assert.All(pending, r => Assert.Equal(UrgentRequestOutcome.Pending, r.Outcome));
        Assert.All(pending, r => Assert.Equal("Test court", r.Authority));
        Assert.Equal(first.UrgencyDeadline, pending[0].Deadline);
        Assert.Equal(HttpStatusCode.Forbidden, byOperator.StatusCode);
        Assert.Equal(new UrgentRequestCounts(2, 0, 0, 0, 0, 0, 2), await server.Anonymous.GetFromJsonAsync<UrgentRequestCounts>("/api/public/urgent-requests", ApiCalls.Json));

        await server.AuthoriseAsync(first.Id);
        (await server.Authority.PostAsJsonAsync($"/api/legal-bases/{second.Id}/refuse", new AuthorityDecision("COURT-NO", "not necessary"), ApiCalls.Json)).EnsureSuccessStatusCode();

        var answered = (await server.Authority.GetFromJsonAsync<List<UrgentRequest>>("/api/urgent-requests", ApiCalls.Json))!;
        Assert.Equal([UrgentRequestOutcome.Authorised, UrgentRequestOutcome.Refused], answered.Select(r => r.Outcome));
        Assert.All(answered, r => Assert.Equal("authority", r.AnsweredBy));
        Assert.Equal(new UrgentRequestCounts(2, 2, 1, 1, 0, 0, 0), await server.Anonymous.GetFromJsonAsync<UrgentRequestCounts>("/api/public/urgent-requests", ApiCalls.Json));
        Assert.Contains(server.Logged(AuditActions.LegalBasisChange), r => r.LegalBasisId == first.Id && r.Outcome == "registered (urgent): request filed with the authority");
        Assert.Contains(server.Logged(AuditActions.LegalBasisChange), r => r.LegalBasisId == second.Id && r.Outcome == "refused by the authority");
    }
}
