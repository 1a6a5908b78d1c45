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
            var client = server.Client;
            await RunningServer.WaitUntilAsync(async () => (await client.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "the demo to be ready");

            var cameras = (await client.GetFromJsonAsync<Page<Camera>>("/api/cameras?limit=500"))!;
            Assert.Equal(1000, cameras.Total);
            Assert.Equal(800, (await client.GetFromJsonAsync<Page<Site>>("/api/sites?limit=1"))!.Total);
            var basis = Assert.Single((await client.GetFromJsonAsync<List<LegalBasis>>("/api/legal-bases", ApiCalls.Json))!);
            Assert.True(basis.IsDemonstration);
            Assert.Equal(LegalBasisStatus.Active, basis.Status);

            await RunningServer.WaitUntilAsync(async () => (await client.AlertsAsync()).Total > 0, TimeSpan.FromSeconds(60), "the first alert");
            var alert = (await client.AlertsAsync()).Items[^1];
            Assert.Contains(alert.Label, new[] { "lin_manuel_miranda", "obama" });
            Assert.Equal(basis.Id, alert.LegalBasisId);
        }

        // Run again on the same data: nothing is duplicated.
        await using (var again = await RunningServer.StartAsync(demo: true, runCameras: false, dataDirectory: data))
        {
            await RunningServer.WaitUntilAsync(async () => (await again.Client.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "the demo to be ready again");
            Assert.Equal(1000, (await again.Client.GetFromJsonAsync<Page<Camera>>("/api/cameras?limit=1"))!.Total);
            Assert.Single((await again.Client.GetFromJsonAsync<List<LegalBasis>>("/api/legal-bases", ApiCalls.Json))!);
        }

        Directory.Delete(data, recursive: true);
    }
}
