using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Matching;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// A watchlist's display colour and tone (issue 11): set through the API by the role that creates watchlists,
/// logged, checked against the palette, and shown in the live queue beside the watchlist's name.
/// </summary>
public sealed class ConsoleAlertColourTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task A_new_alert_arrives_by_the_event_stream_marked_with_its_watchlists_colour_and_name_and_plays_a_tone_once_sound_is_on()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("COL-1", null);
        var loud = await ReadAsync<Watchlist>(await server.Investigator.PostAsJsonAsync("/api/watchlists", new WatchlistInput("missing children", "test", "purple", Sound: true), ApiCalls.Json));
        var quiet = await server.AddWatchlistAsync("stolen-car suspects");
        Assert.Equal("purple", loud.Colour);
        Assert.True(loud.Sound);
        Assert.Equal(WatchlistColours.Default, quiet.Colour);
        Assert.False(quiet.Sound);

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "verifier", "/console/alerts");
        var page = visitor.Page;
        await Assertions.Expect(page.Locator("#queue-empty")).ToBeVisibleAsync();
        await page.Locator("#sound-toggle").ClickAsync();
        await Assertions.Expect(page.Locator("#sound-toggle")).ToHaveAttributeAsync("aria-pressed", "true");

        // A quiet watchlist's alert: its colour and name, and no tone.
        var first = server.AddAlert(EvidenceFixture.BlankCrop, camera.Id, quiet.Id);
        var quietItem = page.Locator($"li[data-alert='{first.Id}']");
        await Assertions.Expect(quietItem.Locator(".marker.wl-blue")).ToBeVisibleAsync();
        await Assertions.Expect(quietItem.Locator(".watchlist")).ToHaveTextAsync("stolen-car suspects");
        Assert.Null(await page.Locator("#queue").GetAttributeAsync("data-tones"));

        // A loud one's: purple, named, and one tone.
        var second = server.AddAlert(EvidenceFixture.BlankCrop, camera.Id, loud.Id);
        var loudItem = page.Locator($"li[data-alert='{second.Id}']");
        await Assertions.Expect(loudItem.Locator(".marker.wl-purple")).ToBeVisibleAsync();
        await Assertions.Expect(loudItem.Locator(".watchlist")).ToHaveTextAsync("missing children");
        await Assertions.Expect(page.Locator("#queue")).ToHaveAttributeAsync("data-tones", "1");
        Assert.Equal("rgb(106, 27, 154)", await loudItem.Locator(".marker").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor"));

        // The owners' role changes the colour; the queue shows the new one.
        using var changed = await server.Investigator.PutAsJsonAsync($"/api/watchlists/{quiet.Id}/display", new WatchlistDisplayInput("teal", null), ApiCalls.Json);
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator($"li[data-alert='{first.Id}'] .marker.wl-teal")).ToBeVisibleAsync();
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task A_colour_outside_the_palette_is_a_400_problem_and_a_change_is_logged_and_only_for_investigators()
    {
        await using var server = await RunningServer.StartAsync();
        using var badCreate = await server.Investigator.PostAsJsonAsync("/api/watchlists", new WatchlistInput("sought", "test", "chartreuse"), ApiCalls.Json);
        await AssertBadColourAsync(badCreate);
        var watchlist = await server.AddWatchlistAsync("sought");

        using var badChange = await server.Investigator.PutAsJsonAsync($"/api/watchlists/{watchlist.Id}/display", new WatchlistDisplayInput("#ff0000", true), ApiCalls.Json);
        await AssertBadColourAsync(badChange);
        using var byOperator = await server.Operator.PutAsJsonAsync($"/api/watchlists/{watchlist.Id}/display", new WatchlistDisplayInput("red", true), ApiCalls.Json);
        Assert.Equal(HttpStatusCode.Forbidden, byOperator.StatusCode);
        var unchanged = await ReadAsync<Watchlist>(await server.Investigator.GetAsync($"/api/watchlists/{watchlist.Id}"));
        Assert.Equal((WatchlistColours.Default, false), (unchanged.Colour, unchanged.Sound));

        var set = await ReadAsync<Watchlist>(await server.Investigator.PutAsJsonAsync($"/api/watchlists/{watchlist.Id}/display", new WatchlistDisplayInput(" Red ", true), ApiCalls.Json));
        Assert.Equal(("red", true), (set.Colour, set.Sound));
        Assert.Equal(watchlist.CurrentDigest, set.CurrentDigest);
        var soundOnly = await ReadAsync<Watchlist>(await server.Investigator.PutAsJsonAsync($"/api/watchlists/{watchlist.Id}/display", new WatchlistDisplayInput(null, false), ApiCalls.Json));
        Assert.Equal(("red", false), (soundOnly.Colour, soundOnly.Sound));

        var logged = server.Logged(AuditActions.WatchlistDisplay);
        Assert.Equal(2, logged.Count);
        Assert.All(logged, l => Assert.Equal("investigator", l.Actor));
        Assert.Contains(logged, l => l.Body.Contains("\"red\"", StringComparison.Ordinal) && l.Body.Contains("\"on\"", StringComparison.Ordinal));
    }

    private static async Task AssertBadColourAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains("'colour' must be one of blue, teal, green, olive, orange, red, purple, grey", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static Task<T> ReadAsync<T>(HttpResponseMessage response) => ApiCalls.ReadAsync<T>(response);
}
