using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Cameras;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Vision;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace CityWatch.Server.Demo;

/// <summary>
/// Seeds the demo city once the server listens, as an outside client would: through the public API
/// (camera import, watchlist, a legal basis registered then activated, marked as a demonstration, and an
/// enrolment from a shared photo). Run again on the same data folder, it finds everything in place and
/// changes nothing.
/// </summary>
internal sealed partial class DemoCity(
    IServer server,
    IHostApplicationLifetime lifetime,
    ServerOptions options,
    Readiness readiness,
    TimeProvider time,
    ILogger<DemoCity> logger) : BackgroundService
{
    public const string WatchlistName = "Demo watchlist";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(stoppingToken);
        }

        try
        {
            await SeedAsync(stoppingToken);
            readiness.MarkReady();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailed(logger, e.Message);
            readiness.MarkFailed($"The demo city could not be set up: {e.Message}");
        }
    }

    private async Task SeedAsync(CancellationToken cancellationToken)
    {
        var assets = options.AssetsDirectory ?? throw new InvalidOperationException("The demo needs the assets folder (run `citywatch models fetch`).");
        var video = Path.Combine(assets, ModelCatalog.HamiltonClip);
        if (!File.Exists(video))
        {
            throw new InvalidOperationException($"Demo video missing at {video}: run `citywatch models fetch`.");
        }

        var address = server.Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
        using var client = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/") };

        var cameras = await GetAsync<Page<Camera>>(client, "api/cameras?limit=" + DemoInventory.Streaming, cancellationToken);
        if (cameras.Total == 0)
        {
            using var csv = new StringContent(DemoInventory.Csv(video), System.Text.Encoding.UTF8, "text/csv");
            await SendAsync<ImportResult>(client.PostAsync("api/cameras/import?format=csv", csv, cancellationToken), cancellationToken);
            cameras = await GetAsync<Page<Camera>>(client, "api/cameras?limit=" + DemoInventory.Streaming, cancellationToken);
        }

        var watchlists = await GetAsync<List<Watchlist>>(client, "api/watchlists", cancellationToken);
        var watchlist = watchlists.FirstOrDefault(w => w.Name == WatchlistName)
            ?? await SendAsync<Watchlist>(client.PostAsJsonAsync("api/watchlists", new WatchlistInput(WatchlistName, "People sought in the demonstration (photos from the shared test set)"), Json, cancellationToken), cancellationToken);

        var bases = await GetAsync<List<LegalBasis>>(client, "api/legal-bases", cancellationToken);
        var now = time.GetUtcNow();
        if (!bases.Any(b => b.IsDemonstration && b.IsInForceAt(now)))
        {
            var streaming = cameras.Items.Where(c => c.StreamUrl is not null && c.FaceRecognitionAllowed).Select(c => c.Id).ToList();
            var draft = new LegalBasisDraft(
                "DEMONSTRATION ONLY - not a real authorisation",
                "Demonstration: no legal instrument; shows how a basis is registered and enforced",
                "CityWatch demo",
                $"DEMO-{now:yyyyMMdd}",
                "Demonstration of a search for a person on a watchlist at a transport hub",
                [ProcessingPurpose.Live, ProcessingPurpose.Retrospective, ProcessingPurpose.Enrolment],
                streaming,
                [watchlist.Id],
                now.AddMinutes(-1),
                now.AddDays(30),
                IsDemonstration: true);
            var basis = await SendAsync<LegalBasis>(client.PostAsJsonAsync("api/legal-bases", draft, Json, cancellationToken), cancellationToken);
            await SendAsync<LegalBasis>(client.PostAsync($"api/legal-bases/{basis.Id}/activate", null, cancellationToken), cancellationToken);
        }

        var entries = await GetAsync<List<WatchlistEntry>>(client, $"api/watchlists/{watchlist.Id}/entries", cancellationToken);
        foreach (var (identity, photoPath) in ModelCatalog.HamiltonClipPeople)
        {
            if (entries.Any(e => e.Label == identity))
            {
                continue;
            }

            using var form = new MultipartFormDataContent();
            form.Add(new StringContent(identity), "label");
            form.Add(new StringContent("demonstration"), "category");
            form.Add(new StringContent($"shared test photo {photoPath}"), "imageSource");
            form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(Path.Combine(assets, photoPath), cancellationToken)), "photo", Path.GetFileName(photoPath));
            await SendAsync<WatchlistEntry>(client.PostAsync($"api/watchlists/{watchlist.Id}/entries", form, cancellationToken), cancellationToken);
        }

        LogReady(logger, cameras.Total, address);
    }

    private static async Task<T> GetAsync<T>(HttpClient client, string path, CancellationToken cancellationToken) =>
        await SendAsync<T>(client.GetAsync(path, cancellationToken), cancellationToken);

    private static async Task<T> SendAsync<T>(Task<HttpResponseMessage> request, CancellationToken cancellationToken)
    {
        using var response = await request;
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        return (await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken))!;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo city ready: {Cameras} cameras, a demonstration legal basis, a demo watchlist; open {Address}/api/alerts")]
    private static partial void LogReady(ILogger logger, int cameras, string address);

    [LoggerMessage(Level = LogLevel.Error, Message = "Demo city setup failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
