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
            // Not the operator: the demo signs in as the operator on each run, and each TOTP code is good once.
            var client = await DemoPersonAsync(server, "demo-verifier-1");

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
            var health = "";
            await RunningServer.WaitUntilAsync(
                async () =>
                {
                    using var response = await again.Anonymous.GetAsync("/healthz");
                    health = await response.Content.ReadAsStringAsync();
                    return response.StatusCode == HttpStatusCode.OK || health.Contains("could not be set up", StringComparison.Ordinal);
                },
                TimeSpan.FromSeconds(60),
                "the demo to be ready again");
            Assert.True(!health.Contains("could not be set up", StringComparison.Ordinal), health);
            var client = await DemoPersonAsync(again, "demo-verifier-2");
            Assert.Equal(1000, (await client.GetFromJsonAsync<Page<Camera>>("/api/cameras?limit=1"))!.Total);
            Assert.Single((await client.GetFromJsonAsync<List<LegalBasis>>("/api/legal-bases", ApiCalls.Json))!);
            var counts = (await again.Anonymous.GetFromJsonAsync<Dictionary<string, int>>("/api/public/accounts"))!;
            Assert.Equal(2, counts["Verifier"]);
            Assert.Equal(1, counts["Administrator"]);
        }

        Directory.Delete(data, recursive: true);
    }

    /// <summary>Signs in as a demo person with the password and TOTP secret the demo wrote to its accounts file.</summary>
    private static async Task<HttpClient> DemoPersonAsync(RunningServer server, string name)
    {
        var fields = (await File.ReadAllLinesAsync(Path.Combine(server.Options.DataDirectory, "demo-accounts.txt"))).Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ');
        server.RememberTotpSecret(name, fields[3]);
        return server.NewClient(await server.SignInAsync(name, fields[2]));
    }

    private static async Task<Page<CityWatch.Alerts.Alert>> Alerts(HttpClient client) =>
        (await client.GetFromJsonAsync<Page<CityWatch.Alerts.Alert>>("/api/alerts", ApiCalls.Json))!;
}
