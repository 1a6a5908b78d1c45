using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Server.Identity;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Verification;

/// <summary>G7-G9 through the API: two different verifiers, blind to each other; no second decision; only confirmed evidence leaves.</summary>
public sealed class TwoPersonVerificationTests
{
    [Fact]
    public async Task An_alert_is_confirmed_only_when_two_different_verifiers_confirm_it()
    {
        await using var server = await RunningServer.StartAsync();
        var alert = server.AddAlert();

        var first = await DecideAsync(server.Verifier, alert.Id, "confirm");
        var afterOne = await ApiCalls.ReadAsync<Alert>(await server.Operator.GetAsync($"/api/alerts/{alert.Id}"));
        var second = await DecideAsync(server.SecondVerifier, alert.Id, "confirm");

        Assert.Equal(AlertStore.Candidate, (await ApiCalls.ReadAsync<DecisionReceipt>(first)).Status);
        Assert.Equal(AlertStore.Candidate, afterOne.Status);
        Assert.Equal(AlertStore.Confirmed, (await ApiCalls.ReadAsync<DecisionReceipt>(second)).Status);
        var decisions = server.Logged(EvidenceActions.Decision);
        Assert.Equal(["verifier", "verifier2"], decisions.Select(d => d.Actor));
        Assert.All(decisions, d => Assert.Equal(AlertVerification.DecisionOutcome, d.Outcome)); // no verdict in clear: see BlindVerificationTests
        var day = DateOnly.FromDateTime(alert.At.UtcDateTime);
        var statistics = Assert.Single(server.Services.GetRequiredService<AlertStatistics>().Statistics(day, day));
        Assert.Equal((1, 1, 0), (statistics.Raised, statistics.Confirmed, statistics.Rejected));
    }

    [Fact]
    public async Task The_same_account_verifying_twice_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var alert = server.AddAlert();
        (await DecideAsync(server.Verifier, alert.Id, "confirm")).EnsureSuccessStatusCode();

        using var again = await DecideAsync(server.Verifier, alert.Id, "confirm");

        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("nobody decides twice", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var refusal = Assert.Single(server.Logged(EvidenceActions.DecisionRefused));
        Assert.Equal("verifier", refusal.Actor);
        Assert.Equal(AlertStore.Candidate, server.Services.GetRequiredService<AlertStore>().Get(alert.Id).Status);
        Assert.Single(await DecisionsAsync(server, alert.Id));
    }

    [Fact]
    public async Task The_second_verifier_does_not_see_the_first_verifiers_decision()
    {
        await using var server = await RunningServer.StartAsync();
        var alert = server.AddAlert();
        (await DecideAsync(server.Verifier, alert.Id, "confirm", "sure, same person")).EnsureSuccessStatusCode();

        var queue = await server.SecondVerifier.GetStringAsync("/api/alerts/candidates");
        var single = await server.SecondVerifier.GetStringAsync($"/api/alerts/{alert.Id}");
        using var decisions = await server.SecondVerifier.GetAsync($"/api/alerts/{alert.Id}/decisions");
        var firstQueue = await ApiCalls.ReadAsync<List<CandidateView>>(await server.Verifier.GetAsync("/api/alerts/candidates"));

        var view = Assert.Single(JsonSerializer.Deserialize<List<CandidateView>>(queue, ApiCalls.Json)!);
        Assert.Equal(alert.Id, view.Id);
        foreach (var leak in new[] { "confirm", "verifier", "same person", "decision" })
        {
            Assert.DoesNotContain(leak, queue, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(leak, single, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal(HttpStatusCode.Forbidden, decisions.StatusCode);
        Assert.Contains(server.Logged(SessionAuthentication.Denied), d => d.Actor == "verifier2" && d.Body.Contains("/decisions", StringComparison.Ordinal));
        Assert.Empty(firstQueue); // the first verifier's queue no longer holds what they decided
        // The public log names who decided, but holds the alert and the verdict only as a commitment.
        var logged = Assert.Single(server.Logged(EvidenceActions.Decision));
        Assert.DoesNotContain("Confirm", logged.Body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain($"\"{alert.Id}\"", logged.Body, StringComparison.Ordinal);
        // The DPO sees the decision in full.
        var full = Assert.Single(await DecisionsAsync(server, alert.Id));
        Assert.Equal(("verifier", VerificationDecision.Confirm, "sure, same person"), (full.Account, full.Decision, full.Note));
    }

    [Fact]
    public async Task Any_rejection_rejects_the_alert_and_it_takes_no_further_decision()
    {
        await using var server = await RunningServer.StartAsync();
        var alert = server.AddAlert();

        var receipt = await ApiCalls.ReadAsync<DecisionReceipt>(await DecideAsync(server.Verifier, alert.Id, "reject", "different person"));
        using var late = await DecideAsync(server.SecondVerifier, alert.Id, "confirm");

        Assert.Equal(AlertStore.Rejected, receipt.Status);
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Empty(await ApiCalls.ReadAsync<List<CandidateView>>(await server.SecondVerifier.GetAsync("/api/alerts/candidates")));
        Assert.Equal(AlertStore.Rejected, server.Services.GetRequiredService<AlertStore>().Get(alert.Id).Status);
        Assert.Contains(server.Logged(EvidenceActions.DecisionRefused), r => r.Actor == "verifier2");
    }

    [Fact]
    public async Task A_non_verifier_deciding_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var alert = server.AddAlert();

        foreach (var (name, client) in new[] { ("operator", server.Operator), ("investigator", server.Investigator), ("dpo", server.Dpo), ("admin", server.Admin), ("authority", server.Authority) })
        {
            using var response = await DecideAsync(client, alert.Id, "confirm");
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains(server.Logged(SessionAuthentication.Denied), d => d.Actor == name && d.Body.Contains($"/api/alerts/{alert.Id}/decisions", StringComparison.Ordinal));
        }

        using var anonymous = await DecideAsync(server.Anonymous, alert.Id, "confirm");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Empty(await DecisionsAsync(server, alert.Id));
        Assert.Empty(server.Logged(EvidenceActions.Decision));
    }

    [Fact]
    public async Task A_decision_must_say_confirm_or_reject()
    {
        await using var server = await RunningServer.StartAsync();
        var alert = server.AddAlert();

        using var empty = await server.Verifier.PostAsJsonAsync($"/api/alerts/{alert.Id}/decisions", new { note = "hm" });
        using var odd = await server.Verifier.PostAsJsonAsync($"/api/alerts/{alert.Id}/decisions", new { decision = "maybe" });

        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, odd.StatusCode);
        Assert.Empty(await DecisionsAsync(server, alert.Id));
    }

    [Fact]
    public async Task Exporting_an_unconfirmed_alert_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        var alert = server.AddAlert();
        (await DecideAsync(server.Verifier, alert.Id, "confirm")).EnsureSuccessStatusCode();

        using var response = await ExportAsync(server, alert.Id);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var refusal = Assert.Single(server.Logged(EvidenceActions.ExportRefused));
        Assert.Equal("investigator", refusal.Actor);
        Assert.Empty(server.Logged(EvidenceActions.Export));
        Assert.Empty(server.Logged(EvidenceActions.KeyRelease)); // no key was released for it
    }

    [Fact]
    public async Task A_confirmed_alert_exports_as_a_hashed_bundle_bound_to_the_log()
    {
        await using var server = await RunningServer.StartAsync();
        var crop = EvidenceFixture.PhotoCrop("obama_small.jpg");
        var alert = server.AddAlert(crop);
        (await DecideAsync(server.Verifier, alert.Id, "confirm")).EnsureSuccessStatusCode();
        (await DecideAsync(server.SecondVerifier, alert.Id, "confirm")).EnsureSuccessStatusCode();

        using var response = await ExportAsync(server, alert.Id);

        response.EnsureSuccessStatusCode();
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        using var zip = new ZipArchive(await response.Content.ReadAsStreamAsync());
        Assert.Equal(["alert.json", "crop.jpg", "decisions.json", "manifest.json"], zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
        var files = zip.Entries.ToDictionary(e => e.FullName, Read);
        Assert.Equal(crop, files["crop.jpg"]);
        using var manifest = JsonDocument.Parse(files["manifest.json"]);
        foreach (var name in new[] { "alert.json", "crop.jpg", "decisions.json" })
        {
            Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(files[name])), manifest.RootElement.GetProperty("files").GetProperty(name).GetString());
        }

        var manifestHash = Convert.ToHexStringLower(SHA256.HashData(files["manifest.json"]));
        Assert.Equal(manifestHash, response.Headers.GetValues("X-Manifest-Sha256").Single());
        var exported = Assert.Single(server.Logged(EvidenceActions.Export));
        Assert.Contains(manifestHash, exported.Body, StringComparison.Ordinal);
        Assert.Contains(server.Logged(EvidenceActions.KeyRelease), r => r.Outcome == "export" && r.Actor == "investigator");
    }

    [Fact]
    public async Task The_candidate_view_shows_score_threshold_quality_and_top_candidates()
    {
        await using var server = await RunningServer.StartAsync();
        var alert = server.AddAlert();

        var view = Assert.Single(await ApiCalls.ReadAsync<List<CandidateView>>(await server.Verifier.GetAsync("/api/alerts/candidates")));

        Assert.Equal((alert.Id, 0.61f, 0.45f, 0.83f), (view.Id, view.Score, view.Threshold, view.Quality));
        Assert.Equal([7L, 9L], view.TopCandidates.Select(c => c.EntryId));
    }

    [Fact]
    public async Task Viewing_a_crop_releases_its_key_and_the_release_is_logged()
    {
        await using var server = await RunningServer.StartAsync();
        var crop = EvidenceFixture.PhotoCrop("obama_small.jpg");
        var alert = server.AddAlert(crop);
        var stored = server.Services.GetRequiredService<AlertStore>();
        var onDisk = await File.ReadAllBytesAsync(Path.Combine(stored.EvidenceDirectory, stored.CropLocation(alert.Id).File));

        var shown = await server.Verifier.GetByteArrayAsync($"/api/alerts/{alert.Id}/crop");

        Assert.Equal(crop, shown);
        Assert.NotEqual(crop, onDisk);
        Assert.False(onDisk.AsSpan().IndexOf(crop.AsSpan(0, 64)) >= 0, "the file on disk holds the JPEG in clear");
        var release = Assert.Single(server.Logged(EvidenceActions.KeyRelease));
        Assert.Equal(("verifier", "view"), (release.Actor, release.Outcome));
    }

    private static Task<HttpResponseMessage> DecideAsync(HttpClient client, long alertId, string decision, string? note = null) =>
        client.PostAsJsonAsync($"/api/alerts/{alertId}/decisions", new { decision, note });

    private static Task<HttpResponseMessage> ExportAsync(RunningServer server, long alertId) =>
        server.Investigator.PostAsJsonAsync($"/api/alerts/{alertId}/export", new { purpose = "prosecution file 17", recipient = "public prosecutor" });

    private static async Task<List<AlertDecision>> DecisionsAsync(RunningServer server, long alertId) =>
        await ApiCalls.ReadAsync<List<AlertDecision>>(await server.Dpo.GetAsync($"/api/alerts/{alertId}/decisions"));

    private static byte[] Read(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
