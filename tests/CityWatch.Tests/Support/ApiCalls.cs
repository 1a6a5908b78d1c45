using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using CityWatch.Alerts;
using CityWatch.Cameras;
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

    /// <summary>An investigator registers the basis; the authority activates it.</summary>
    public static async Task<LegalBasis> AddActiveBasisAsync(this RunningServer server, long[] cameras, long[] watchlists, params ProcessingPurpose[] purposes)
    {
        var now = TimeProvider.System.GetUtcNow();
        var draft = new LegalBasisDraft(
            "Test basis", "Test Act s.1", "Test court", "T-1", "test",
            purposes.Length == 0 ? [ProcessingPurpose.Live, ProcessingPurpose.Enrolment, ProcessingPurpose.Retrospective] : purposes,
            cameras, watchlists, now.AddMinutes(-1), now.AddDays(1));
        var basis = await ReadAsync<LegalBasis>(await server.Investigator.PostAsJsonAsync("/api/legal-bases", draft, Json));
        return await ReadAsync<LegalBasis>(await server.Authority.PostAsync($"/api/legal-bases/{basis.Id}/activate", null));
    }

    public static async Task<HttpResponseMessage> EnrolAsync(this RunningServer server, long watchlistId, string label, string photoPath)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent(label), "label");
        form.Add(new StringContent("test"), "category");
        form.Add(new StringContent("shared test photo"), "imageSource");
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(photoPath)), "photo", Path.GetFileName(photoPath));
        return await server.Investigator.PostAsync($"/api/watchlists/{watchlistId}/entries", form);
    }

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
