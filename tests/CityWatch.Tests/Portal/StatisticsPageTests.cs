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

    [Fact]
    public async Task The_year_table_shows_each_years_stored_statistics_summed_over_cameras_and_bases()
    {
        await using var server = await RunningServer.StartAsync();
        var first = await server.AddCameraAsync("CAM-1", null);
        var second = await server.AddCameraAsync("CAM-2", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var basis = await server.AddActiveBasisAsync([first.Id, second.Id], [watchlist.Id]);
        var now = server.Services.GetRequiredService<TimeProvider>().GetUtcNow();
        var lastYear = now.AddYears(-1);
        var statistics = server.Services.GetRequiredService<AlertStatistics>();
        statistics.AddFaces(now, first.Id, basis.Id, 600);
        statistics.AddFaces(now, second.Id, basis.Id, 400);
        statistics.AddFaces(lastYear, first.Id, basis.Id, 250);
        statistics.AddFaces(lastYear, null, basis.Id, 50); // a retrospective analysis: no camera
        using (var connection = server.Services.GetRequiredService<CityWatchDatabase>().Open())
        using (var transaction = connection.BeginTransaction())
        {
            foreach (var (counter, at, camera) in new (string, DateTimeOffset, long?)[]
            {
                (AlertStatistics.Raised, now, first.Id), (AlertStatistics.Raised, now, second.Id), (AlertStatistics.Raised, now, second.Id),
                (AlertStatistics.Confirmed, now, first.Id), (AlertStatistics.Rejected, now, second.Id),
                (AlertStatistics.Raised, lastYear, first.Id), (AlertStatistics.Raised, lastYear, null), (AlertStatistics.Rejected, lastYear, null),
            })
            {
                AlertStatistics.Count(connection, transaction, counter, at, camera, basis.Id);
            }

            transaction.Commit();
        }

        await using var visitor = await chromium.VisitorAsync();
        var response = await visitor.OpenAsync(server.Address, "/statistics");
        Assert.Equal("public, max-age=60", await response.HeaderValueAsync("cache-control"));
        var rows = visitor.Page.Locator("#year-table tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        // Newest first, each year as the stored statistics sum it.
        var stored = statistics.Statistics(DateOnly.MinValue, DateOnly.FromDateTime(now.UtcDateTime)).GroupBy(d => d.Day.Year).OrderByDescending(g => g.Key).ToList();
        Assert.Equal([now.Year, lastYear.Year], stored.Select(g => g.Key));
        for (var i = 0; i < stored.Count; i++)
        {
            var row = rows.Nth(i);
            var year = stored[i];
            await Assertions.Expect(row).ToHaveAttributeAsync("data-year", year.Key.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await Assertions.Expect(row.Locator(".faces")).ToHaveTextAsync(year.Sum(d => d.Faces).ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
            await Assertions.Expect(row.Locator(".alerts")).ToHaveTextAsync(year.Sum(d => d.Raised).ToString(System.Globalization.CultureInfo.InvariantCulture));
            await Assertions.Expect(row.Locator(".confirmed")).ToHaveTextAsync(year.Sum(d => d.Confirmed).ToString(System.Globalization.CultureInfo.InvariantCulture));
            await Assertions.Expect(row.Locator(".rejected")).ToHaveTextAsync(year.Sum(d => d.Rejected).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        // The same figures written out: this year 1,000 faces, 3 alerts, 1 confirmed, 1 false; last year 300, 2, 0, 1.
        await Assertions.Expect(rows.Nth(0).Locator("td")).ToHaveTextAsync(["1,000", "3", "1", "1", "0.1 %", "33.3333 %"]);
        await Assertions.Expect(rows.Nth(1).Locator("td")).ToHaveTextAsync(["300", "2", "0", "1", "0.3333 %", "50 %"]);
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();
    }
}
