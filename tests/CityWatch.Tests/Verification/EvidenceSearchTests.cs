using System.Net;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Investigations;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Verification;

/// <summary>Item 8 through the API: a probe photo against stored evidence, only for a registered case under an active retrospective authorisation.</summary>
public sealed class EvidenceSearchTests
{
    [Fact]
    public async Task A_retrospective_search_without_a_case_id_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("suspects");
        await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Retrospective);
        server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), watchlistId: watchlist.Id);

        using var response = await SearchAsync(server, "obama.jpg", caseId: null);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("case id", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var refusal = Assert.Single(server.Logged(AuditActions.PolicyRefusal));
        Assert.Equal(("investigator", "retrospective use needs a case id"), (refusal.Actor, refusal.Outcome));
        Assert.Empty(server.Logged(EvidenceActions.KeyRelease));
        Assert.Empty(server.Logged(EvidenceActions.EvidenceSearch));
    }

    [Fact]
    public async Task A_search_without_an_active_retrospective_authorisation_is_refused()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("suspects");
        await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Enrolment);
        server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), watchlistId: watchlist.Id);

        using var response = await SearchAsync(server, "obama.jpg", "CASE-1");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains(server.Logged(AuditActions.PolicyRefusal), r => r.CaseId == "CASE-1");
        Assert.Empty(server.Logged(EvidenceActions.KeyRelease));
    }

    [Fact]
    public async Task A_search_for_a_case_ranks_the_stored_evidence_that_shows_the_probe()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("suspects");
        var other = await server.AddWatchlistAsync("elsewhere");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id], ProcessingPurpose.Retrospective);
        await server.OpenCaseAsync(basis, "CASE-7", camera.Id);
        var obama = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), camera.Id, watchlist.Id);
        var biden = server.AddAlert(EvidenceFixture.PhotoCrop("biden.jpg"), camera.Id, watchlist.Id);
        var both = server.AddAlert(EvidenceFixture.PhotoCrop(Path.Combine("knn_examples", "test", "obama_and_biden.jpg")), camera.Id, watchlist.Id);
        var outside = server.AddAlert(EvidenceFixture.PhotoCrop("obama-480p.jpg"), camera.Id, other.Id);

        var result = await ApiCalls.ReadAsync<EvidenceSearchResult>(await SearchAsync(server, "obama.jpg", "CASE-7"));

        Assert.Equal(3, result.Searched); // the evidence of watchlists the authorisation covers
        Assert.Equal([obama.Id, both.Id], result.Matches.Select(m => m.AlertId).Order());
        Assert.True(result.Matches[0].Score >= result.Matches[1].Score);
        Assert.All(result.Matches, m => Assert.True(m.Score >= result.Threshold));
        Assert.DoesNotContain(result.Matches, m => m.AlertId == biden.Id || m.AlertId == outside.Id);
        var logged = Assert.Single(server.Logged(EvidenceActions.EvidenceSearch));
        Assert.Equal(("investigator", "CASE-7", 2), (logged.Actor, logged.CaseId, ResultCount(logged)));
        Assert.Contains(server.Logged(EvidenceActions.KeyRelease), r => r.CaseId == "CASE-7" && r.Outcome == "retrospective search");
    }

    internal static async Task<HttpResponseMessage> SearchAsync(RunningServer server, string photo, string? caseId)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(TestPaths.Faces("ageitgey", "examples", photo))), "photo", photo);
        if (caseId is not null)
        {
            form.Add(new StringContent(caseId), "case");
        }

        return await server.Investigator.PostAsync("/api/search", form);
    }

    internal static int ResultCount(LoggedAct act)
    {
        using var body = System.Text.Json.JsonDocument.Parse(act.Body);
        return body.RootElement.GetProperty("ResultCount").GetInt32();
    }
}
