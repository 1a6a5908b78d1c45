using CityWatch.Audit;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.Portal;

/// <summary>
/// "Verify it yourself": a citizen checks the audit log in real Chromium with WebCrypto only (inclusion of an
/// entry, the checkpoint's Ed25519 signature, consistency with the checkpoint verified before), and a
/// tampered proof is caught in the browser.
/// </summary>
public sealed class VerifyPageTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task A_citizen_verifies_an_entry_and_later_that_the_log_only_grew()
    {
        await using var server = await RunningServer.StartAsync();
        await server.AddCameraAsync("CAM-1", null);
        await server.AddCameraAsync("CAM-2", null);
        var firstSize = await LoggedSizeAsync(server, 0);
        await using var visitor = await chromium.VisitorAsync();

        var response = await visitor.OpenAsync(server.Address, "/log/verify");
        Assert.Equal("public, max-age=60", await response.HeaderValueAsync("cache-control"));
        var page = visitor.Page;
        await page.GetByLabel("Entry number").FillAsync("1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        var result = page.Locator("#verify-result");
        await Assertions.Expect(result).ToHaveAttributeAsync("data-outcome", "verified");
        await Assertions.Expect(result).ToContainTextAsync($"Entry 1 verified: it is in the log's checkpoint of {firstSize} entries");
        await Assertions.Expect(result).ToContainTextAsync("Ed25519 signature by the log's key was checked in this browser and is valid");
        await Assertions.Expect(page.Locator("#verify-command")).ToContainTextAsync("citywatch audit verify --url http://127.0.0.1:");
        await Assertions.Expect(page.Locator("#verify-command")).ToContainTextAsync("--from 1 --to 2");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("log-verify");

        // The log grows; on the next visit the size verified last is filled in and the growth is proven.
        await server.AddCameraAsync("CAM-3", null);
        var secondSize = await LoggedSizeAsync(server, firstSize);
        await visitor.OpenAsync(server.Address, "/log/verify");
        await Assertions.Expect(page.GetByLabel("Earlier log size")).ToHaveValueAsync(firstSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByLabel("Entry number").FillAsync("0");
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await Assertions.Expect(result).ToHaveAttributeAsync("data-outcome", "verified");
        await Assertions.Expect(result).ToContainTextAsync($"The log only grew: the earlier checkpoint of {firstSize} entries is a prefix of the current {secondSize} entries");
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task A_tampered_inclusion_proof_does_not_verify()
    {
        await using var server = await RunningServer.StartAsync();
        await server.AddCameraAsync("CAM-1", null);
        await server.AddCameraAsync("CAM-2", null);
        await LoggedSizeAsync(server, 0);
        await using var visitor = await chromium.VisitorAsync();
        var page = visitor.Page;
        var tampered = 0;
        await page.RouteAsync("**/audit/proof/inclusion*", async route =>
        {
            var original = await route.FetchAsync();
            var lines = (await original.TextAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var hash = Convert.FromBase64String(lines[0]);
            hash[7] ^= 0x01;
            lines[0] = Convert.ToBase64String(hash);
            Interlocked.Increment(ref tampered);
            await route.FulfillAsync(new RouteFulfillOptions { Response = original, Body = string.Concat(lines.Select(l => l + "\n")) });
        });

        await visitor.OpenAsync(server.Address, "/log/verify");
        await page.GetByLabel("Entry number").FillAsync("0");
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        var result = page.Locator("#verify-result");
        await Assertions.Expect(result).ToHaveAttributeAsync("data-outcome", "fail");
        await Assertions.Expect(result).ToContainTextAsync("Entry 0 does not verify");
        Assert.Equal(1, tampered);
        visitor.AssertNoProblems();
    }

    /// <summary>Flushes the log and waits until its published checkpoint is larger than <paramref name="than"/>.</summary>
    private static async Task<long> LoggedSizeAsync(RunningServer server, long than)
    {
        await server.Services.GetRequiredService<AuditTrail>().FlushAsync();
        long size = 0;
        await RunningServer.WaitUntilAsync(async () =>
        {
            var note = await server.Anonymous.GetStringAsync(new Uri("audit/checkpoint", UriKind.Relative));
            size = long.Parse(note.Split('\n')[1], System.Globalization.CultureInfo.InvariantCulture);
            return size > than && size >= 2;
        }, TimeSpan.FromSeconds(30), "a larger checkpoint");
        return size;
    }
}
