using System.Net;
using System.Net.Http.Json;
using CityWatch.Cameras;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Demo;

/// <summary>README command 1's promise, on the real server: the demo city is set up through the API and raises an alert.</summary>
public sealed class DemoCityTests
{
    [Fact]
    public async Task The_demo_city_has_1000_cameras_a_demonstration_basis_and_raises_an_alert_within_a_minute()
    {
        var data = TestPaths.NewScratchDirectory();
        await using (var server = await RunningServer.StartAsync(demo: true, runCameras: true, dataDirectory: data))
        {
            await RunningServer.WaitUntilAsync(async () => (await server.Anonymous.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "the demo to be ready");
            var client = await DemoOperatorAsync(server);

            var cameras = (await client.GetFromJsonAsync<Page<Camera>>("/api/cameras?limit=500"))!;
            Assert.Equal(1000, cameras.Total);
            Assert.Equal(800, (await client.GetFromJsonAsync<Page<Site>>("/api/sites?limit=1"))!.Total);
            var basis = Assert.Single((await client.GetFromJsonAsync<List<LegalBasis>>("/api/legal-bases", ApiCalls.Json))!);
            Assert.True(basis.IsDemonstration);
            Assert.Equal(LegalBasisStatus.Active, basis.Status);

            await RunningServer.WaitUntilAsync(async () => (await Alerts(client)).Total > 0, TimeSpan.FromSeconds(60), "the first alert");
            var alert = (await Alerts(client)).Items[^1];
            Assert.Contains(alert.Label, new[] { "lin_manuel_miranda", "obama" });
            Assert.Equal(basis.Id, alert.LegalBasisId);
        }

        // Run again on the same data: nothing is duplicated.
        await using (var again = await RunningServer.StartAsync(demo: true, runCameras: false, dataDirectory: data))
        {
            await RunningServer.WaitUntilAsync(async () => (await again.Anonymous.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "the demo to be ready again");
            var client = await DemoOperatorAsync(again);
            Assert.Equal(1000, (await client.GetFromJsonAsync<Page<Camera>>("/api/cameras?limit=1"))!.Total);
            Assert.Single((await client.GetFromJsonAsync<List<LegalBasis>>("/api/legal-bases", ApiCalls.Json))!);
            var counts = (await again.Anonymous.GetFromJsonAsync<Dictionary<string, int>>("/api/public/accounts"))!;
            Assert.Equal(2, counts["Verifier"]);
            Assert.Equal(1, counts["Administrator"]);
        }

        Directory.Delete(data, recursive: true);
    }

    private static async Task<HttpClient> DemoOperatorAsync(RunningServer server)
    {
        var line = (await File.ReadAllLinesAsync(Path.Combine(server.Options.DataDirectory, "demo-accounts.txt"))).Single(l => l.StartsWith("demo-operator ", StringComparison.Ordinal));
        server.RememberTotpSecret("demo-operator", line.Split(' ')[3]);
        return server.NewClient(await server.SignInAsync("demo-operator", line.Split(' ')[2]));
    }

    private static async Task<Page<CityWatch.Alerts.Alert>> Alerts(HttpClient client) =>
        (await client.GetFromJsonAsync<Page<CityWatch.Alerts.Alert>>("/api/alerts", ApiCalls.Json))!;
}
