using System.Net;
using System.Net.Http.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Investigations;
using CityWatch.Policy;
using GovernanceKit = CityWatch.Tests.Governance.GovernanceKit;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;

namespace CityWatch.Tests.Cases;

/// <summary>
/// Issue 9 item 6 on the real server: retrospective search and analysis name a registered, open case,
/// the case is opened only inside its basis's scope, and a search sees only the case's cameras and time.
/// </summary>
public sealed class CaseTests
{
    [Fact]
    public async Task A_free_text_case_is_refused_for_search_and_for_analysis_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id], ProcessingPurpose.Retrospective);
        await server.OpenCaseAsync(basis, "PD-2026-1", camera.Id);
        server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), camera.Id, watchlist.Id);

        using var typed = await EvidenceSearchTests.SearchAsync(server, "obama.jpg", "PD-2026-2");
        using var prose = await EvidenceSearchTests.SearchAsync(server, "obama.jpg", "whoever I am curious about");
        using var analyze = await GovernanceKit.AnalyzeAsync(server, "sought", "PD-2026-2");

        Assert.Equal([HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden], new[] { typed.StatusCode, prose.StatusCode, analyze.StatusCode });
        Assert.Contains("not a registered case", await typed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var refusals = server.Logged(AuditActions.PolicyRefusal);
        Assert.Equal(2, refusals.Count(r => r.Actor == "investigator" && r.CaseId == "PD-2026-2" && r.Outcome == "'PD-2026-2' is not a registered case"));
        Assert.Contains(refusals, r => r.CaseId == "whoever I am curious about" && r.Outcome.EndsWith("is not a registered case", StringComparison.Ordinal));
        Assert.Empty(server.Logged(EvidenceActions.KeyRelease));
        Assert.Empty(server.Logged(EvidenceActions.EvidenceSearch));
        Assert.Empty(server.Logged(AuditActions.Analysis));
        Assert.Empty(server.Logged(AuditActions.PolicyGrant));
    }

    [Fact]
    public async Task A_case_outside_its_basis_scope_is_refused_at_creation_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var inside = await server.AddCameraAsync("CAM-IN", null);
        var outside = await server.AddCameraAsync("CAM-OUT", null);
        var basis = await server.AddActiveBasisAsync([inside.Id], [watchlist.Id], ProcessingPurpose.Retrospective);
        var suspectDraft = ApiCalls.Draft([inside.Id], [watchlist.Id], ProcessingPurpose.Retrospective) with { Objective = LegalObjective.SeriousOffenceSuspect, Offence = "murder" };
        var murder = await server.AuthoriseAsync((await server.PreparedBasisAsync(suspectDraft)).Id);
        var enrolmentOnly = await server.AddActiveBasisAsync([inside.Id], [watchlist.Id], ProcessingPurpose.Enrolment);
        var fits = new CaseInput("PD-2026-1", basis.Id, "missing child", [inside.Id], basis.ValidFrom, basis.ValidUntil, basis.ValidUntil);

        var attempts = new (CaseInput Input, string Reason)[]
        {
            (fits with { CameraIds = [inside.Id, outside.Id] }, $"camera {outside.Id} is outside the scope of legal basis {basis.Id}"),
            (fits with { From = basis.ValidFrom.AddDays(-1) }, $"the time range is outside the window of legal basis {basis.Id}"),
            (fits with { Until = basis.ValidUntil.AddDays(1) }, $"the time range is outside the window of legal basis {basis.Id}"),
            (fits with { ExpiresAt = basis.ValidUntil.AddDays(30) }, $"the case cannot outlive legal basis {basis.Id}"),
            (fits with { LegalBasisId = murder.Id, Offence = "drug-trafficking", From = murder.ValidFrom, Until = murder.ValidUntil, ExpiresAt = murder.ValidUntil }, $"legal basis {murder.Id} allows the search for suspects of 'murder' only"),
            (fits with { LegalBasisId = enrolmentOnly.Id, From = enrolmentOnly.ValidFrom, Until = enrolmentOnly.ValidUntil, ExpiresAt = enrolmentOnly.ValidUntil }, $"legal basis {enrolmentOnly.Id} is Active: not in force for retrospective use"),
        };
        foreach (var (input, reason) in attempts)
        {
            using var response = await server.Investigator.PostAsJsonAsync("/api/cases", input, ApiCalls.Json);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains(server.Logged(CaseActions.Refusal), r => r.Actor == "investigator" && r.CaseId == "PD-2026-1" && r.Outcome.StartsWith(reason, StringComparison.Ordinal));
        }

        using var malformed = await server.Investigator.PostAsJsonAsync("/api/cases", fits with { Number = "my neighbour" }, ApiCalls.Json);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Empty((await server.Investigator.GetFromJsonAsync<List<Case>>("/api/cases", ApiCalls.Json))!);
        Assert.Empty(server.Logged(CaseActions.Open));

        // The murder basis takes a murder case, and the first basis the case that fits it.
        await ApiCalls.ReadAsync<Case>(await server.Investigator.PostAsJsonAsync("/api/cases", attempts[4].Input with { Number = "PD-2026-9", Offence = "murder" }, ApiCalls.Json));
        var opened = await ApiCalls.ReadAsync<Case>(await server.Investigator.PostAsJsonAsync("/api/cases", fits, ApiCalls.Json));
        Assert.Equal((CaseStatus.Open, "investigator"), (opened.Status, opened.OpenedBy));
        var logged = server.Logged(CaseActions.Open).Single(r => r.CaseId == "PD-2026-1");
        Assert.Equal(basis.Id, logged.LegalBasisId);
    }

    [Fact]
    public async Task A_search_sees_only_the_evidence_of_the_cases_cameras_and_time_range()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var cameraA = await server.AddCameraAsync("CAM-A", null);
        var cameraB = await server.AddCameraAsync("CAM-B", null);
        var now = TimeProvider.System.GetUtcNow();
        var draft = ApiCalls.Draft([cameraA.Id, cameraB.Id], [watchlist.Id], ProcessingPurpose.Retrospective) with { ValidFrom = now.AddDays(-10) };
        var basis = await server.AuthoriseAsync((await server.PreparedBasisAsync(draft)).Id);
        await ApiCalls.ReadAsync<Case>(await server.Investigator.PostAsJsonAsync(
            "/api/cases", new CaseInput("PD-2026-3", basis.Id, "missing child", [cameraA.Id], now.AddDays(-2), basis.ValidUntil, basis.ValidUntil), ApiCalls.Json));
        var inScope = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), cameraA.Id, watchlist.Id, basis.Id, now.AddHours(-1));
        var otherCamera = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), cameraB.Id, watchlist.Id, basis.Id, now.AddHours(-1));
        var tooEarly = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), cameraA.Id, watchlist.Id, basis.Id, now.AddDays(-5));

        var result = await ApiCalls.ReadAsync<EvidenceSearchResult>(await EvidenceSearchTests.SearchAsync(server, "obama.jpg", "PD-2026-3"));

        Assert.Equal(1, result.Searched);
        Assert.Equal([inScope.Id], result.Matches.Select(m => m.AlertId));
        var release = Assert.Single(server.Logged(EvidenceActions.KeyRelease));
        Assert.Contains($"\"alerts\":\"{inScope.Id}\"", release.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(result.Matches, m => m.AlertId == tooEarly.Id || m.AlertId == otherCamera.Id);
        Assert.Equal("PD-2026-3", Assert.Single(server.Logged(EvidenceActions.EvidenceSearch)).CaseId);
    }

    [Fact]
    public async Task A_closed_case_is_refused_for_search_and_analysis_and_cannot_be_closed_twice()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id], ProcessingPurpose.Retrospective);
        var opened = await server.OpenCaseAsync(basis, "PD-2026-4", camera.Id);
        server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), camera.Id, watchlist.Id);

        var closed = await ApiCalls.ReadAsync<Case>(await server.Investigator.PostAsJsonAsync($"/api/cases/{opened.Id}/close", new CaseClosure("suspect charged"), ApiCalls.Json));
        using var search = await EvidenceSearchTests.SearchAsync(server, "obama.jpg", "PD-2026-4");
        using var analyze = await GovernanceKit.AnalyzeAsync(server, "sought", "PD-2026-4");
        using var again = await server.Dpo.PostAsJsonAsync($"/api/cases/{opened.Id}/close", new CaseClosure("again"), ApiCalls.Json);

        Assert.Equal((CaseStatus.Closed, "investigator"), (closed.Status, closed.ClosedBy));
        Assert.Equal(HttpStatusCode.Forbidden, search.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, analyze.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(2, server.Logged(AuditActions.PolicyRefusal).Count(r => r.CaseId == "PD-2026-4" && r.Outcome == "case PD-2026-4 is closed"));
        Assert.Contains(server.Logged(CaseActions.Refusal), r => r.Actor == "dpo" && r.Outcome == "case PD-2026-4 is already closed");
        Assert.Single(server.Logged(CaseActions.Close));
        Assert.Empty(server.Logged(EvidenceActions.KeyRelease));
    }

    [Fact]
    public async Task A_duplicate_case_number_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var basis = await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Retrospective);
        await server.OpenCaseAsync(basis, "PD-2026-5");

        using var duplicate = await server.Investigator.PostAsJsonAsync(
            "/api/cases", new CaseInput("PD-2026-5", basis.Id, "another", [], basis.ValidFrom, basis.ValidUntil, basis.ValidUntil), ApiCalls.Json);

        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Contains(server.Logged(CaseActions.Refusal), r => r.Outcome == "case number PD-2026-5 is already registered");
        Assert.Single(server.Logged(CaseActions.Open));
    }

    [Fact]
    public async Task The_public_sees_cases_opened_and_closed_per_basis_and_month_without_numbers()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var basis = await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Retrospective);
        var first = await server.OpenCaseAsync(basis, "PD-2026-6");
        await server.OpenCaseAsync(basis, "PD-2026-7");
        (await server.Authority.PostAsJsonAsync($"/api/cases/{first.Id}/close", new CaseClosure("done"), ApiCalls.Json)).EnsureSuccessStatusCode();

        using var response = await server.Anonymous.GetAsync("/api/public/cases");
        var body = await response.Content.ReadAsStringAsync();
        var counts = System.Text.Json.JsonSerializer.Deserialize<List<CaseCount>>(body, ApiCalls.Json)!;

        var month = first.OpenedAt.UtcDateTime.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal([new CaseCount(basis.Id, month, 2, 1)], counts);
        Assert.DoesNotContain("PD-2026", body, StringComparison.Ordinal);
    }
}
