using System.Net;
using CityWatch.Alerts;
using CityWatch.Identity;
using CityWatch.SubjectAccess;
using GovernanceKit = CityWatch.Tests.Governance.GovernanceKit;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using AccessTests = CityWatch.Tests.SubjectAccess.SubjectAccessTests;

namespace CityWatch.Tests.Cases;

/// <summary>
/// Issue 9 item 6 on the real server: a subject-access search runs only for a registered request, once,
/// and its answer stays sealed until someone other than the searcher approves its release.
/// </summary>
public sealed class SubjectAccessRequestTests
{
    [Fact]
    public async Task A_search_result_is_unreadable_until_a_second_dpo_approves_and_the_searcher_cannot_approve_it()
    {
        await using var server = await RunningServer.StartAsync();
        var shown = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"));
        server.AddAlert(EvidenceFixture.PhotoCrop("biden.jpg"));
        var secondDpo = await server.AccountAsync("dpo2", Role.DataProtectionOfficer);
        var request = await AccessTests.RegisterAsync(server);

        using var searchResponse = await AccessTests.SearchAsync(server, request.Id, "obama.jpg");
        var searchBody = await searchResponse.Content.ReadAsStringAsync();
        using var early = await server.Dpo.GetAsync($"/api/subject-access/requests/{request.Id}/answer");
        using var earlyForOther = await secondDpo.GetAsync($"/api/subject-access/requests/{request.Id}/answer");
        using var ownApproval = await server.Dpo.PostAsync($"/api/subject-access/requests/{request.Id}/approve", null);
        var stillSealed = await ApiCalls.ReadAsync<SubjectAccessRequest>(await server.Dpo.GetAsync($"/api/subject-access/requests/{request.Id}"));

        Assert.Equal(HttpStatusCode.OK, searchResponse.StatusCode);
        Assert.DoesNotContain("redactedCropJpeg", searchBody, StringComparison.OrdinalIgnoreCase); // the search answers its state, not its result
        Assert.Equal([HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden], new[] { early.StatusCode, earlyForOther.StatusCode, ownApproval.StatusCode });
        Assert.Equal(SubjectAccessState.Searched, stillSealed.State);
        var refusals = server.Logged(SubjectAccessActions.Refusal);
        Assert.Equal(2, refusals.Count(r => r.CaseId == request.Reference && r.Outcome.StartsWith($"the answer to request {request.Reference} is not released", StringComparison.Ordinal)));
        Assert.Contains(refusals, r => r.Actor == "dpo" && r.Outcome == $"dpo ran the search of request {request.Reference}; another DPO or an authority must approve its release");
        Assert.Empty(server.Logged(SubjectAccessActions.Approve));
        Assert.Empty(server.Logged(SubjectAccessActions.Release));

        // At rest the answer is sealed with its own evidence key; the requester's identity is only a salted hash.
        using (var connection = server.Services.GetRequiredService<CityWatch.Data.CityWatchDatabase>().Open())
        {
            var row = connection.QuerySingle<(byte[] Result, string ResultKey)>("SELECT result, result_key FROM subject_access_requests WHERE id = @id", new { id = request.Id });
            Assert.Equal("CWE1"u8.ToArray(), row.Result[..4]);
            Assert.Equal(1, connection.ExecuteScalar<int>("SELECT COUNT(*) FROM evidence_keys WHERE key_id = @k", new { k = row.ResultKey }));
        }

        Assert.DoesNotContain("X1234567", await File.ReadAllTextAsync(server.Services.GetRequiredService<CityWatch.Data.CityWatchDatabase>().Path), StringComparison.Ordinal);

        var released = await ApiCalls.ReadAsync<SubjectAccessRequest>(await secondDpo.PostAsync($"/api/subject-access/requests/{request.Id}/approve", null));
        var answer = await ApiCalls.ReadAsync<SubjectAccessAnswer>(await server.Dpo.GetAsync($"/api/subject-access/requests/{request.Id}/answer"));

        Assert.Equal((SubjectAccessState.Released, "dpo2", "dpo"), (released.State, released.ApprovedBy, released.SearchedBy));
        Assert.Equal([shown.Id], answer.Records.Select(r => r.AlertId));
        Assert.Equal("dpo2", Assert.Single(server.Logged(SubjectAccessActions.Approve)).Actor);
        Assert.Single(server.Logged(SubjectAccessActions.Release));
    }

    [Fact]
    public async Task A_request_is_searched_once_only_and_the_second_try_is_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        server.AddAlert(EvidenceFixture.PhotoCrop("biden.jpg"));
        var request = await AccessTests.RegisterAsync(server);
        (await AccessTests.SearchAsync(server, request.Id, "obama.jpg")).EnsureSuccessStatusCode();

        using var again = await AccessTests.SearchAsync(server, request.Id, "biden.jpg");

        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains(server.Logged(SubjectAccessActions.Refusal), r => r.Outcome == $"request {request.Reference} has already been searched");
        Assert.Single(server.Logged(EvidenceActions.SubjectAccess));
        Assert.Single(server.Logged(EvidenceActions.KeyRelease));
    }

    [Fact]
    public async Task An_authority_may_release_and_the_public_sees_how_many_were_answered_and_how_fast()
    {
        await using var server = await RunningServer.StartAsync();
        var answered = await AccessTests.RegisterAsync(server);
        await AccessTests.RegisterAsync(server);
        (await AccessTests.SearchAsync(server, answered.Id, "obama.jpg")).EnsureSuccessStatusCode();
        (await server.Authority.PostAsync($"/api/subject-access/requests/{answered.Id}/approve", null)).EnsureSuccessStatusCode();

        var counts = await ApiCalls.ReadAsync<SubjectAccessCounts>(await server.Anonymous.GetAsync("/api/public/subject-access"));

        Assert.Equal((2, 1), (counts.Received, counts.Answered));
        Assert.InRange(counts.MedianDaysToAnswer!.Value, 2.9, 3.1); // received three days before it was answered
        Assert.Equal("authority", Assert.Single(server.Logged(SubjectAccessActions.Approve)).Actor);
    }
}
