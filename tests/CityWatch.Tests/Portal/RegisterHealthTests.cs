using CityWatch.Cameras;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.Portal;

/// <summary>The register's 30-day health, from the durable samples, in real Chromium.</summary>
public sealed class RegisterHealthTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task The_register_shows_each_cameras_share_up_over_30_days_and_counts_those_up_less_than_half()
    {
        await using var server = await RunningServer.StartAsync();
        var good = await server.AddCameraAsync("GOOD-1", null);
        var poor = await server.AddCameraAsync("POOR-1", null);
        await server.AddCameraAsync("NEW-1", null);
        var uptime = server.Services.GetRequiredService<CameraUptime>();
        var now = server.Services.GetRequiredService<TimeProvider>().GetUtcNow();
        // GOOD-1: 97 of 100 minutes up, spread over two days; POOR-1: 1 of 4 up.
        for (var i = 0; i < 100; i++)
        {
            uptime.Record(good.Id, now.AddDays(-i % 2).AddMinutes(-i), up: i >= 3);
        }

        for (var i = 0; i < 4; i++)
        {
            uptime.Record(poor.Id, now.AddMinutes(-i), up: i == 0);
        }

        await using var visitor = await chromium.VisitorAsync();
        await visitor.OpenAsync(server.Address, "/register");
        var page = visitor.Page;
        await Assertions.Expect(page.Locator("tr[data-camera='GOOD-1'] td.health .uptime")).ToHaveTextAsync("up 97% of the last 30 days");
        await Assertions.Expect(page.Locator("tr[data-camera='POOR-1'] td.health .uptime")).ToHaveTextAsync("up 25% of the last 30 days");
        await Assertions.Expect(page.Locator("tr[data-camera='NEW-1'] td.health .uptime")).ToHaveTextAsync("no data");
        await Assertions.Expect(page.Locator("#register-table caption")).ToContainTextAsync("1 camera was up less than half of the last 30 days");
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();
    }
}
