using CityWatch.Alerts;
using CityWatch.Data;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.Portal;

/// <summary>The public statistics page in Chromium: a deployment's figures and rates, the model cards, accounts per role.</summary>
public sealed class StatisticsPageTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task A_citizen_sees_a_deployments_faces_alerts_and_false_alert_rates()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("CAM-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        var now = server.Services.GetRequiredService<TimeProvider>().GetUtcNow();
        var statistics = server.Services.GetRequiredService<AlertStatistics>();
        statistics.AddFaces(now, camera.Id, basis.Id, 1000);
        using (var connection = server.Services.GetRequiredService<CityWatchDatabase>().Open())
        using (var transaction = connection.BeginTransaction())
        {
            foreach (var counter in new[] { AlertStatistics.Raised, AlertStatistics.Raised, AlertStatistics.Raised, AlertStatistics.Raised, AlertStatistics.Confirmed, AlertStatistics.Rejected, AlertStatistics.Rejected })
            {
                AlertStatistics.Count(connection, transaction, counter, now, camera.Id, basis.Id);
            }

            transaction.Commit();
        }

        await using var visitor = await chromium.VisitorAsync();
        var response = await visitor.OpenAsync(server.Address, "/statistics");
        Assert.Equal("public, max-age=60", await response.HeaderValueAsync("cache-control"));
        var page = visitor.Page;
        var row = page.Locator("#statistics-table tbody tr");
        await Assertions.Expect(row).ToHaveCountAsync(1);
        await Assertions.Expect(row.Locator(".faces")).ToHaveTextAsync("1,000");
        await Assertions.Expect(row.Locator(".alerts")).ToHaveTextAsync("4");
        await Assertions.Expect(row.Locator(".confirmed")).ToHaveTextAsync("1");
        await Assertions.Expect(row.Locator(".rejected")).ToHaveTextAsync("2");
        await Assertions.Expect(row.Locator(".rate-faces")).ToHaveTextAsync("0.2 %");
        await Assertions.Expect(row.Locator(".rate-alerts")).ToHaveTextAsync("50 %");
        await Assertions.Expect(page.Locator("#statistics-chart g.bar")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator("#statistics-chart g.bar[data-name='rejected']")).ToContainTextAsync("2");
        await Assertions.Expect(page.Locator("#models-table tbody tr").First).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#accounts-table")).ToContainTextAsync("Verifier");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("statistics");
        visitor.AssertNoProblems();
    }
}
