using System.Net;
using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Governance;

/// <summary>G1, G4 on the real server: a basis grants nothing until its prerequisites are recorded and another account, an authority, authorises it.</summary>
public sealed class LifecycleTests
{
    [Fact]
    public async Task An_account_cannot_authorise_a_basis_it_registered_even_holding_the_authority_role()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var both = await server.AccountAsync("judge-and-party", Role.Investigator, Role.Authority);
        var basis = await ApiCalls.ReadAsync<LegalBasis>(await both.PostAsJsonAsync("/api/legal-bases", ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Enrolment), ApiCalls.Json));
        await ApiCalls.ReadAsync<LegalBasis>(await both.PostAsJsonAsync($"/api/legal-bases/{basis.Id}/prerequisites", ApiCalls.SamplePrerequisites, ApiCalls.Json));

        using var own = await both.PostAsJsonAsync($"/api/legal-bases/{basis.Id}/authorise", new AuthorityDecision("D-1"), ApiCalls.Json);
        using var enrol = await server.EnrolAsync(watchlist.Id, "someone", GovernanceKit.Photo);

        Assert.Equal(HttpStatusCode.Forbidden, own.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, enrol.StatusCode);
        var refusal = Assert.Single(server.Logged(GovernanceActions.Refusal));
        Assert.Equal("judge-and-party", refusal.Actor);
        Assert.Equal(basis.Id, refusal.LegalBasisId);
        Assert.Contains("another account must decide", refusal.Outcome, StringComparison.Ordinal);
        Assert.Equal(LegalBasisStatus.PrerequisitesRecorded, (await server.Authority.GetFromJsonAsync<LegalBasis>($"/api/legal-bases/{basis.Id}", ApiCalls.Json))!.Status);
        // Another authority may.
        Assert.Equal(LegalBasisStatus.Active, (await server.AuthoriseAsync(basis.Id)).Status);
    }

    [Fact]
    public async Task A_basis_without_its_prerequisites_cannot_be_authorised_and_grants_nothing()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var basis = await ApiCalls.ReadAsync<LegalBasis>(await server.Investigator.PostAsJsonAsync("/api/legal-bases", ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Enrolment), ApiCalls.Json));
        var incomplete = ApiCalls.SamplePrerequisites with { Fria = ApiCalls.SamplePrerequisites.Fria with { AffectedGroups = " " } };

        using var authorise = await server.Authority.PostAsJsonAsync($"/api/legal-bases/{basis.Id}/authorise", new AuthorityDecision("D-1"), ApiCalls.Json);
        using var partial = await server.Investigator.PostAsJsonAsync($"/api/legal-bases/{basis.Id}/prerequisites", incomplete, ApiCalls.Json);
        using var enrol = await server.EnrolAsync(watchlist.Id, "someone", GovernanceKit.Photo);

        Assert.Equal(HttpStatusCode.Forbidden, authorise.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, partial.StatusCode);
        Assert.Contains("fria.affectedGroups", await partial.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, enrol.StatusCode);
        var refusal = Assert.Single(server.Logged(GovernanceActions.Refusal));
        Assert.Equal("authority", refusal.Actor);
        Assert.Contains("no prerequisites on record", refusal.Outcome, StringComparison.Ordinal);
        Assert.Equal(LegalBasisStatus.Draft, (await server.Authority.GetFromJsonAsync<LegalBasis>($"/api/legal-bases/{basis.Id}", ApiCalls.Json))!.Status);
    }

    [Fact]
    public async Task Every_transition_is_logged_with_its_actor()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var basis = await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Enrolment);

        await ApiCalls.ReadAsync<LegalBasis>(await server.Dpo.PostAsync($"/api/legal-bases/{basis.Id}/revoke", null));

        var changes = server.Logged(AuditActions.LegalBasisChange).Where(c => c.LegalBasisId == basis.Id).Select(c => (c.Actor, c.Outcome)).ToList();
        Assert.Equal([("investigator", "registered"), ("investigator", "prerequisites recorded"), ("authority", "authorised"), ("dpo", "revoked")], changes);
        Assert.Equal(LegalBasisStatus.Revoked, (await server.Dpo.GetFromJsonAsync<LegalBasis>($"/api/legal-bases/{basis.Id}", ApiCalls.Json))!.Status);
    }

    [Theory]
    [InlineData(LegalObjective.SeriousOffenceSuspect, null)]
    [InlineData(LegalObjective.SeriousOffenceSuspect, "shoplifting")]
    [InlineData(LegalObjective.ImminentThreat, "terrorism")]
    public async Task An_objective_outside_article_5_1_h_is_refused(LegalObjective objective, string? offence)
    {
        await using var server = await RunningServer.StartAsync();
        var draft = ApiCalls.Draft([], [1], ProcessingPurpose.Enrolment) with { Objective = objective, Offence = offence };

        using var response = await server.Investigator.PostAsJsonAsync("/api/legal-bases", draft, ApiCalls.Json);
        using var unknown = await server.Investigator.PostAsync(
            "/api/legal-bases", new StringContent(System.Text.Json.JsonSerializer.Serialize(draft, ApiCalls.Json).Replace(objective.ToString(), "CrowdControl", StringComparison.Ordinal), System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
    }
}
