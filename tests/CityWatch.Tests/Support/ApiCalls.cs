using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using CityWatch.Alerts;
using CityWatch.Cameras;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;

namespace CityWatch.Tests.Support;

/// <summary>The calls a city makes through the API, each by the role that may make it, for tests that drive the real server.</summary>
public static class ApiCalls
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public static async Task<Camera> AddCameraAsync(this RunningServer server, string code, string? streamUrl, bool faceRecognition = true)
    {
        using var site = await server.Admin.PostAsJsonAsync("/api/sites", new SiteInput($"S-{code}", "Test square", 44.8, 20.4, "Test city"), Json);
        site.EnsureSuccessStatusCode();
        return await ReadAsync<Camera>(await server.Admin.PostAsJsonAsync(
            "/api/cameras", new CameraInput(code, $"S-{code}", $"Camera {code}", "Test city", "test", streamUrl, faceRecognition, AnalysisFps: 2, AnalysisWidth: 640), Json));
    }

    public static async Task<Watchlist> AddWatchlistAsync(this RunningServer server, string name) =>
        await ReadAsync<Watchlist>(await server.Investigator.PostAsJsonAsync("/api/watchlists", new WatchlistInput(name, "test"), Json));

    /// <summary>Prerequisites with every field filled.</summary>
    public static Prerequisites SamplePrerequisites => TestCity.SamplePrerequisites;

    /// <summary>A draft covering the given cameras and watchlists from a minute ago for a day.</summary>
    public static LegalBasisDraft Draft(long[] cameras, long[] watchlists, params ProcessingPurpose[] purposes)
    {
        var now = TimeProvider.System.GetUtcNow();
        return new LegalBasisDraft(
            "Test basis", "Test Act s.1", "Test court", LegalObjective.VictimOrMissingPersonSearch, "test",
            purposes.Length == 0 ? [ProcessingPurpose.Live, ProcessingPurpose.Enrolment, ProcessingPurpose.Retrospective] : purposes,
            cameras, watchlists, now.AddMinutes(-1), now.AddDays(1));
    }

    /// <summary>An investigator registers the draft and records its prerequisites.</summary>
    public static async Task<LegalBasis> PreparedBasisAsync(this RunningServer server, LegalBasisDraft draft)
    {
        var basis = await ReadAsync<LegalBasis>(await server.Investigator.PostAsJsonAsync("/api/legal-bases", draft, Json));
        return await ReadAsync<LegalBasis>(await server.Investigator.PostAsJsonAsync($"/api/legal-bases/{basis.Id}/prerequisites", SamplePrerequisites, Json));
    }

    public static async Task<LegalBasis> AuthoriseAsync(this RunningServer server, long basisId) =>
        await ReadAsync<LegalBasis>(await server.Authority.PostAsJsonAsync($"/api/legal-bases/{basisId}/authorise", new AuthorityDecision($"T-{basisId}"), Json));

    /// <summary>
    /// The whole lifecycle through the API: an investigator registers the basis and records its
    /// prerequisites, the authority authorises it; for live use on cameras the authority approves the
    /// watchlists and an operator starts a deployment of them.
    /// </summary>
    public static async Task<LegalBasis> AddActiveBasisAsync(this RunningServer server, long[] cameras, long[] watchlists, params ProcessingPurpose[] purposes)
    {
        var draft = Draft(cameras, watchlists, purposes);
        var basis = await server.AuthoriseAsync((await server.PreparedBasisAsync(draft)).Id);
        if (draft.Purposes.Contains(ProcessingPurpose.Live) && cameras.Length > 0)
        {
            await server.DeployAsync(basis.Id, cameras, watchlists);
        }

        return basis;
    }

    /// <summary>The authority approves each watchlist not approved as it stands; an operator starts a deployment of them.</summary>
    public static async Task<Deployment> DeployAsync(this RunningServer server, long basisId, long[] cameras, long[] watchlists)
    {
        foreach (var id in watchlists)
        {
            await server.ApproveIfChangedAsync(id);
        }

        return await ReadAsync<Deployment>(await server.Operator.PostAsJsonAsync("/api/deployments", new DeploymentInput(basisId, cameras, watchlists), Json));
    }

    public static async Task ApproveIfChangedAsync(this RunningServer server, long watchlistId)
    {
        var watchlist = (await server.Authority.GetFromJsonAsync<Watchlist>($"/api/watchlists/{watchlistId}", Json))!;
        if (!watchlist.Approved)
        {
            await ReadAsync<Watchlist>(await server.Authority.PostAsync($"/api/watchlists/{watchlistId}/approve", null));
        }
    }

    /// <summary>
    /// An investigator enrols a person. When it succeeds and <paramref name="approve"/> holds, the authority
    /// re-approves the changed watchlist and the operator replaces each running deployment of it with one of
    /// the new version (a deployment uses the version approved when it started).
    /// </summary>
    public static async Task<HttpResponseMessage> EnrolAsync(this RunningServer server, long watchlistId, string label, string photoPath, bool approve = true)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent(label), "label");
        form.Add(new StringContent("test"), "category");
        form.Add(new StringContent("shared test photo"), "imageSource");
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(photoPath)), "photo", Path.GetFileName(photoPath));
        var response = await server.Investigator.PostAsync($"/api/watchlists/{watchlistId}/entries", form);
        if (response.IsSuccessStatusCode && approve)
        {
            await server.ApproveIfChangedAsync(watchlistId);
            var deployments = (await server.Operator.GetFromJsonAsync<List<Deployment>>("/api/deployments", Json))!;
            foreach (var stale in deployments.Where(d => d.Running && d.Watchlists.Any(w => w.WatchlistId == watchlistId)))
            {
                await ReadAsync<Deployment>(await server.Operator.PostAsJsonAsync($"/api/deployments/{stale.Id}/stop", new DeploymentStop("watchlist re-approved"), Json));
                await ReadAsync<Deployment>(await server.Operator.PostAsJsonAsync(
                    "/api/deployments", new DeploymentInput(stale.LegalBasisId, stale.CameraIds.ToArray(), stale.Watchlists.Select(w => w.WatchlistId).ToArray()), Json));
            }
        }

        return response;
    }

    /// <summary>
    /// The investigator opens a case under <paramref name="basis"/> covering its whole window, on the given
    /// cameras (none: supplied media only), expiring with the basis; the offence is the basis's own listed
    /// offence, or a description.
    /// </summary>
    public static async Task<Case> OpenCaseAsync(this RunningServer server, LegalBasis basis, string number, params long[] cameras) =>
        await ReadAsync<Case>(await server.Investigator.PostAsJsonAsync(
            "/api/cases", new CaseInput(number, basis.Id, basis.Offence ?? "test offence", cameras, basis.ValidFrom, basis.ValidUntil, basis.ValidUntil), Json));

    public static async Task<CameraHealthView?> HealthAsync(this RunningServer server, long cameraId)
    {
        using var response = await server.Operator.GetAsync($"/api/cameras/{cameraId}/health");
        return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<CameraHealthView>(Json) : null;
    }

    public static async Task<Page<Alert>> AlertsAsync(this RunningServer server) =>
        (await server.Operator.GetFromJsonAsync<Page<Alert>>("/api/alerts", Json))!;

    public static async Task<T> ReadAsync<T>(HttpResponseMessage response)
    {
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                Assert.Fail($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }

            return (await response.Content.ReadFromJsonAsync<T>(Json))!;
        }
    }
}
