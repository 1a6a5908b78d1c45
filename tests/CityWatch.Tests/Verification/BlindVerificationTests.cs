using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Investigations;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.SubjectAccess;
using CityWatch.Tests.Governance;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Verification;

/// <summary>
/// Issue 9, item 8: verification is really blind. An account holding the Verifier role learns nothing of
/// another verifier's decision on a candidate it has not decided, through any endpoint, whatever other roles
/// it holds; and the public log does not tell a confirmation from a rejection.
/// </summary>
public sealed class BlindVerificationTests
{
    private const string Note = "same scar above the left eye";

    [Fact]
    public async Task A_verifier_who_is_also_operator_investigator_and_dpo_sees_no_trace_of_the_first_decision_through_any_endpoint()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("suspects");
        var camera = await server.AddCameraAsync("BLIND-1", null);
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id], ProcessingPurpose.Retrospective);
        var registeredCase = await server.OpenCaseAsync(basis, "PD-2026-0001", camera.Id);
        var dual = await server.AccountAsync("dual", Role.Verifier, Role.Operator, Role.Investigator, Role.DataProtectionOfficer);
        var decided = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), camera.Id, watchlist.Id);
        var untouched = server.AddAlert(EvidenceFixture.PhotoCrop("obama-480p.jpg"), camera.Id, watchlist.Id);
        (await server.Verifier.PostAsJsonAsync($"/api/alerts/{decided.Id}/decisions", new { decision = "confirm", note = Note }, ApiCalls.Json)).EnsureSuccessStatusCode();

        // Every endpoint that shows an alert's standing, called by the dual-role account.
        var list = await ApiCalls.ReadAsync<Page<Alert>>(await dual.GetAsync("/api/alerts"));
        var one = await ApiCalls.ReadAsync<Alert>(await dual.GetAsync($"/api/alerts/{decided.Id}"));
        var queue = await ApiCalls.ReadAsync<List<CandidateView>>(await dual.GetAsync("/api/alerts/candidates"));
        using var decisions = await dual.GetAsync($"/api/alerts/{decided.Id}/decisions");
        using var export = await dual.PostAsJsonAsync($"/api/alerts/{decided.Id}/export", new { purpose = "court", recipient = "prosecutor" }, ApiCalls.Json);
        var search = await ApiCalls.ReadAsync<EvidenceSearchResult>(await PostPhotoAsync(dual, "/api/search", "case", registeredCase.Number));
        // A subject-access request: searched by the dual-role account, released by another DPO, read by the dual-role account.
        var request = await CityWatch.Tests.SubjectAccess.SubjectAccessTests.RegisterAsync(server);
        (await CityWatch.Tests.SubjectAccess.SubjectAccessTests.SearchAsync(server, request.Id, "obama.jpg", dual)).EnsureSuccessStatusCode();
        (await server.Dpo.PostAsync($"/api/subject-access/requests/{request.Id}/approve", null)).EnsureSuccessStatusCode();
        var access = await ApiCalls.ReadAsync<SubjectAccessAnswer>(await dual.GetAsync($"/api/subject-access/requests/{request.Id}/answer"));
        var entries = await dual.GetStringAsync("/audit/entries?start=0&count=1000");
        var report = await dual.GetStringAsync($"/api/reports/annual/{decided.At.Year}?format=md");

        // The decided alert looks exactly like the one nobody decided on.
        Assert.Equal(2, list.Items.Count);
        Assert.All(list.Items, a => Assert.Equal((AlertVerification.Pending, (DateTimeOffset?)null), (a.Status, a.SettledAt)));
        Assert.Equal(AlertVerification.Pending, one.Status);
        Assert.Equal([untouched.Id, decided.Id], queue.Select(c => c.Id));
        Assert.Equal(HttpStatusCode.Forbidden, decisions.StatusCode);
        Assert.Contains(server.Logged(SessionAuthentication.Denied), d => d.Actor == "dual" && d.Body.Contains($"/api/alerts/{decided.Id}/decisions", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Conflict, export.StatusCode); // only a confirmed alert leaves, and it is not
        Assert.Equal([decided.Id, untouched.Id], search.Matches.Select(m => m.AlertId).Order());
        Assert.All(search.Matches, m => Assert.Equal(AlertVerification.Pending, m.Status));
        Assert.Equal([decided.Id, untouched.Id], access.Records.Select(r => r.AlertId).Order());
        Assert.All(access.Records, r => Assert.Equal(AlertVerification.Pending, r.Status));
        var bodies = new[]
        {
            JsonSerializer.Serialize(list, ApiCalls.Json), JsonSerializer.Serialize(one, ApiCalls.Json), JsonSerializer.Serialize(queue, ApiCalls.Json),
            await decisions.Content.ReadAsStringAsync(), await export.Content.ReadAsStringAsync(),
            JsonSerializer.Serialize(search, ApiCalls.Json), JsonSerializer.Serialize(access, ApiCalls.Json), report,
        };
        foreach (var body in bodies.Append(entries))
        {
            Assert.DoesNotContain(Note, body, StringComparison.Ordinal);
            Assert.DoesNotContain("\"Confirm\"", body, StringComparison.OrdinalIgnoreCase);
        }

        // Only the public log names the first verifier: that they decided something, at a time (see the threat model's limits).
        Assert.All(bodies, body => Assert.DoesNotContain("\"verifier\"", body, StringComparison.Ordinal));

        // The public log has a decision by an account at a time, not on which alert nor what it was.
        var record = Assert.Single(server.Logged(EvidenceActions.Decision));
        Assert.DoesNotContain($"{decided.Id}", Parameters(record), StringComparison.Ordinal);

        // Once the account decides, it may see the others' decisions (a DPO's view), and the status.
        (await dual.PostAsJsonAsync($"/api/alerts/{decided.Id}/decisions", new { decision = "confirm" }, ApiCalls.Json)).EnsureSuccessStatusCode();
        var full = await ApiCalls.ReadAsync<List<AlertDecision>>(await dual.GetAsync($"/api/alerts/{decided.Id}/decisions"));
        Assert.Equal(["verifier", "dual"], full.Select(d => d.Account));
        Assert.Equal(AlertStore.Confirmed, (await ApiCalls.ReadAsync<Alert>(await dual.GetAsync($"/api/alerts/{decided.Id}"))).Status);
        Assert.Equal(AlertStore.Candidate, (await ApiCalls.ReadAsync<Alert>(await server.Operator.GetAsync($"/api/alerts/{untouched.Id}"))).Status); // no verifier role: not redacted
    }

    [Fact]
    public async Task The_public_records_of_a_confirmed_and_a_rejected_alert_are_indistinguishable()
    {
        await using var server = await RunningServer.StartAsync();
        var confirmed = server.AddAlert();
        var rejected = server.AddAlert();
        var before = server.Services.GetRequiredService<AuditTrail>().Size;

        // A first confirmation (which settles nothing), a settling confirmation and a settling rejection.
        var firstConfirm = await PublicEntriesOfAsync(server, () => DecideAsync(server.Verifier, confirmed.Id, "confirm"));
        var settlingConfirm = await PublicEntriesOfAsync(server, () => DecideAsync(server.SecondVerifier, confirmed.Id, "confirm"));
        var settlingReject = await PublicEntriesOfAsync(server, () => DecideAsync(server.Verifier, rejected.Id, "reject"));
        var refusedLate = await PublicEntriesOfAsync(server, async () =>
        {
            using var late = await server.SecondVerifier.PostAsJsonAsync($"/api/alerts/{rejected.Id}/decisions", new { decision = "confirm" }, ApiCalls.Json);
            Assert.Equal(HttpStatusCode.Conflict, late.StatusCode); // settled by the rejection: refused, and recorded
        });
        var refusedTwice = await PublicEntriesOfAsync(server, async () =>
        {
            using var again = await server.SecondVerifier.PostAsJsonAsync($"/api/alerts/{confirmed.Id}/decisions", new { decision = "reject" }, ApiCalls.Json);
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        });

        Assert.Equal(AlertStore.Confirmed, server.Services.GetRequiredService<AlertStore>().Get(confirmed.Id).Status);
        Assert.Equal(AlertStore.Rejected, server.Services.GetRequiredService<AlertStore>().Get(rejected.Id).Status);
        // Each decision is one entry of one shape (action, outcome, basis, case, parameter keys, commitments), whatever it decided.
        var decisionShape = Assert.Single(Shape(firstConfirm));
        Assert.Equal([decisionShape], Shape(settlingConfirm));
        Assert.Equal([decisionShape], Shape(settlingReject));
        Assert.StartsWith($"{EvidenceActions.Decision}|{AlertVerification.DecisionOutcome}|", decisionShape, StringComparison.Ordinal);
        // Refusals, whether the alert was settled or the account had decided, look alike too.
        Assert.Equal(Shape(refusedLate), Shape(refusedTwice));
        var refusal = Assert.Single(refusedLate);
        Assert.Equal((EvidenceActions.DecisionRefused, AlertVerification.DecisionRefusedOutcome), (refusal.Action, refusal.Outcome));
        Assert.StartsWith("c:", refusal.Actor, StringComparison.Ordinal); // the public leaf names no verifier, it commits to one
        Assert.Equal("verifier2", Assert.Single(server.Services.GetRequiredService<AuditTrail>().Read(refusal.Index, 1)).Actor);
        foreach (var entry in firstConfirm.Concat(settlingConfirm).Concat(settlingReject).Concat(refusedLate).Concat(refusedTwice))
        {
            Assert.DoesNotContain("confirm", entry.Body, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("reject", entry.Body, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain($"\"{confirmed.Id}\"", entry.Body, StringComparison.Ordinal);
            Assert.DoesNotContain($"\"{rejected.Id}\"", entry.Body, StringComparison.Ordinal);
        }

        Assert.Empty(server.Logged("alert.verdict"));
        Assert.DoesNotContain(server.Services.GetRequiredService<AuditTrail>().Read(before, 1000), e => e.Action == EvidenceActions.KeyRelease || e.Action == EvidenceActions.RetentionDeletion);

        // The DPO opens each commitment with the salt it reads with the decisions.
        foreach (var alert in new[] { confirmed, rejected })
        {
            foreach (var decision in await ApiCalls.ReadAsync<List<AlertDecision>>(await server.Dpo.GetAsync($"/api/alerts/{alert.Id}/decisions")))
            {
                var commitment = AlertVerification.Commitment(decision.Salt, alert.Id, decision.Decision);
                Assert.Contains(server.Logged(EvidenceActions.Decision), e => e.Actor == decision.Account && e.Body.Contains(commitment, StringComparison.Ordinal));
            }
        }
    }

    // The public entries written while `act` ran, read from the public endpoint.
    private static async Task<List<LoggedAct>> PublicEntriesOfAsync(RunningServer server, Func<Task> act)
    {
        var trail = server.Services.GetRequiredService<AuditTrail>();
        var start = trail.Size;
        await act();
        await trail.FlushAsync();
        // A key's first unwrap in this process is recorded when it is first used, whatever the verdict: not part of a decision's shape.
        return (await server.Anonymous.GetFromJsonAsync<List<LoggedAct>>($"/audit/entries?start={start}&count=1000", ApiCalls.Json))!
            .Where(e => e.Action != "key.unwrap").ToList();
    }

    // What an outsider can compare between two entries: action, outcome, legal basis, case, parameter keys, number and form of commitments.
    private static List<string> Shape(IEnumerable<LoggedAct> entries) => entries.Select(e =>
    {
        using var body = JsonDocument.Parse(e.Body);
        var root = body.RootElement;
        var keys = root.TryGetProperty("Parameters", out var p) && p.ValueKind == JsonValueKind.Object ? string.Join(",", p.EnumerateObject().Select(o => o.Name)) : "";
        var commitments = root.TryGetProperty("Commitments", out var c) && c.ValueKind == JsonValueKind.Array
            ? string.Join(",", c.EnumerateArray().Select(x => $"{x.GetString()!.Split(':')[0]}:{x.GetString()!.Length}"))
            : "";
        return $"{e.Action}|{e.Outcome}|{e.LegalBasisId}|{e.CaseId}|{keys}|{commitments}";
    }).ToList();

    private static string Parameters(LoggedAct act)
    {
        using var body = JsonDocument.Parse(act.Body);
        return body.RootElement.TryGetProperty("Parameters", out var p) ? p.GetRawText() : "";
    }

    private static async Task DecideAsync(HttpClient client, long alertId, string decision) =>
        (await client.PostAsJsonAsync($"/api/alerts/{alertId}/decisions", new { decision }, ApiCalls.Json)).EnsureSuccessStatusCode();

    private static async Task<HttpResponseMessage> PostPhotoAsync(HttpClient client, string path, string field, string value)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(TestPaths.Faces("ageitgey", "examples", "obama.jpg"))), "photo", "obama.jpg");
        form.Add(new StringContent(value), field);
        return await client.PostAsync(path, form);
    }
}
