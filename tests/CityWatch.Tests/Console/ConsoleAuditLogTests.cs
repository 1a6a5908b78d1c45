using System.Net;
using System.Text.RegularExpressions;
using CityWatch.Audit;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console's audit-log page in real Chromium: newest entries first, and each entry's inclusion in the latest
/// signed checkpoint checked in the browser by the portal's own script; a tampered proof fails.
/// </summary>
public sealed class ConsoleAuditLogTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task The_log_page_shows_the_newest_entries_first_and_verifies_an_entrys_inclusion_in_the_browser()
    {
        await using var server = await RunningServer.StartAsync();
        await server.AddCameraAsync("CAM-1", null);
        await server.AddCameraAsync("CAM-2", null);
        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "dpo");
        var size = await PublishedSizeAsync(server);

        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Audit log" }).ClickAsync();
        await Assertions.Expect(visitor.Page).ToHaveURLAsync(new Uri(server.Address, "/console/log").ToString());
        var indexes = await visitor.Page.Locator("#audit-log tbody tr").EvaluateAllAsync<long[]>("rows => rows.map(r => Number(r.dataset.index))");
        var newest = size - 1;
        Assert.Equal(Enumerable.Range(0, (int)Math.Min(size, 50)).Select(i => newest - i).ToArray(), indexes);
        await Assertions.Expect(visitor.Page.Locator("#audit-log")).ToContainTextAsync("camera.change");

        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = $"Verify inclusion of entry {newest}" }).ClickAsync();
        var result = visitor.Page.Locator($"#verified-{newest}");
        await Assertions.Expect(result).ToHaveAttributeAsync("data-outcome", "verified");
        await Assertions.Expect(result).ToContainTextAsync($"Verified against checkpoint of size {size} (its signature checked)");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-log");

        // A page outside the log is a clear 400, not an empty page.
        using var outside = await server.Dpo.GetAsync("/console/log?page=0");
        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task A_tampered_inclusion_proof_shows_the_failure_on_the_log_page()
    {
        await using var server = await RunningServer.StartAsync();
        await server.AddCameraAsync("CAM-1", null);
        await server.AddCameraAsync("CAM-2", null);
        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "operator");
        await PublishedSizeAsync(server);
        var tampered = 0;
        await visitor.Page.RouteAsync("**/audit/proof/inclusion*", async route =>
        {
            var original = await route.FetchAsync();
            var lines = (await original.TextAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var hash = Convert.FromBase64String(lines[0]);
            hash[3] ^= 0x80;
            lines[0] = Convert.ToBase64String(hash);
            Interlocked.Increment(ref tampered);
            await route.FulfillAsync(new RouteFulfillOptions { Response = original, Body = string.Concat(lines.Select(l => l + "\n")) });
        });

        await visitor.OpenAsync(server.Address, "/console/log");
        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Verify inclusion of entry 0" }).ClickAsync();
        var result = visitor.Page.Locator("#verified-0");
        await Assertions.Expect(result).ToHaveAttributeAsync("data-outcome", "fail");
        await Assertions.Expect(result).ToContainTextAsync(new Regex("^Not verified: entry 0 and its inclusion proof do not give the root of the signed checkpoint of size [0-9]+"));
        Assert.Equal(1, tampered);
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task The_log_is_paged_newest_first_and_every_entry_is_on_exactly_one_page()
    {
        await using var server = await RunningServer.StartAsync();
        var trail = server.Services.GetRequiredService<AuditTrail>();
        for (var i = 0; i < 100 && trail.Size <= 60; i++)
        {
            await server.AddCameraAsync($"CAM-{i}", null); // each logs a camera change
            await trail.FlushAsync();
        }

        var size = await PublishedSizeAsync(server);
        Assert.True(size > 50, $"the log has {size} entries; the test needs more than one page");
        var pages = (int)((size + 49) / 50);
        var seen = new List<long>();
        for (var page = 1; page <= pages; page++)
        {
            var html = await server.Dpo.GetStringAsync(new Uri($"console/log?page={page}", UriKind.Relative));
            var rows = Regex.Matches(html, "<tr data-index=\"([0-9]+)\"").Select(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(page < pages ? 50 : size - (50 * (pages - 1)), rows.Count);
            Assert.Equal(page < pages, html.Contains($"href=\"/console/log?page={page + 1}\"", StringComparison.Ordinal));
            seen.AddRange(rows);
        }

        Assert.Equal(Enumerable.Range(0, (int)size).Select(i => size - 1 - i).ToList(), seen);
        using var beyond = await server.Dpo.GetAsync($"/console/log?page={pages + 1}");
        Assert.Equal(HttpStatusCode.BadRequest, beyond.StatusCode);
    }

    /// <summary>Flushes the log and waits until the published checkpoint covers every entry (at least two); returns its size.</summary>
    private static async Task<long> PublishedSizeAsync(RunningServer server)
    {
        var trail = server.Services.GetRequiredService<AuditTrail>();
        await trail.FlushAsync();
        long size = 0;
        await RunningServer.WaitUntilAsync(async () =>
        {
            var note = await server.Anonymous.GetStringAsync(new Uri("audit/checkpoint", UriKind.Relative));
            size = long.Parse(note.Split('\n')[1], System.Globalization.CultureInfo.InvariantCulture);
            return size >= 2 && size == trail.Size;
        }, TimeSpan.FromSeconds(30), "the checkpoint to cover the log");
        return size;
    }
}
