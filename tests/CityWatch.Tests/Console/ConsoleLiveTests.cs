using CityWatch.Alerts;
using CityWatch.Policy;
using CityWatch.Tests.Ingest;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console against a real stream: a real RTSP camera on 127.0.0.1 looping the shared Hamilton clip, the
/// server running its cameras (ffmpeg ingest, the policy engine, recognition), a person of the clip on the
/// watchlist, and the console in real Chromium watching the queue while an overseer stops the deployment.
/// </summary>
public sealed class ConsoleLiveTests(Chromium chromium) : IClassFixture<Chromium>
{
    private static readonly string Clip = TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4");

    /// <summary>How long the stream may take to raise its first alert, or to show anything else we wait for.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    /// <summary>
    /// The watched person is on screen in every loop of the 10-second clip, sampled at the camera's 2 fps:
    /// 40 more frames decoded are two whole loops, in each of which an analysing pipeline would see him again.
    /// </summary>
    private const long FramesAfterStop = 40;

    [Fact]
    public async Task A_candidate_from_a_live_stream_appears_in_the_queue_and_none_arrives_after_an_overseer_stops_the_deployment()
    {
        using var rtsp = await RtspTestServer.StartAsync(Clip);
        await using var server = await RunningServer.StartAsync(runCameras: true);

        // The verifier's queue is open, and empty, before anything is watched.
        await using var verifier = await chromium.VisitorAsync();
        await verifier.SignInAsync(server, "verifier", "/console/alerts");
        await Assertions.Expect(verifier.Page.Locator("#queue-empty")).ToBeVisibleAsync();
        await verifier.Page.EvaluateAsync("() => { window.citywatchNotReloaded = true; }");

        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-LIVE", rtsp.Url);
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        (await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png"))).EnsureSuccessStatusCode();
        var deployment = server.Services.GetRequiredService<DeploymentStore>().Running().Single();

        // 1. The stream's candidate arrives in the open page, by the event stream, without a reload.
        var item = verifier.Page.Locator("li[data-alert]").First;
        await Assertions.Expect(item).ToBeVisibleAsync(new() { Timeout = (float)Deadline.TotalMilliseconds });
        await Assertions.Expect(item).ToContainTextAsync("lin_manuel_miranda");
        await Assertions.Expect(item).ToContainTextAsync("CAM-LIVE");
        await Assertions.Expect(item).ToContainTextAsync("pending");
        Assert.True(await verifier.Page.EvaluateAsync<bool>("() => window.citywatchNotReloaded === true"), "the page was reloaded");
        var alerts = server.Services.GetRequiredService<AlertStore>();
        var shownId = long.Parse(await item.GetAttributeAsync("data-alert") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(camera.Id, alerts.Get(shownId).CameraId);

        // 2. An overseer stops the deployment from the console.
        await using var overseer = await chromium.VisitorAsync();
        await overseer.SignInAsync(server, "authority", "/console/deployments");
        var row = overseer.Page.Locator($"tr[data-deployment='{deployment.Id}']");
        await row.GetByLabel("Reason").FillAsync("live stop check");
        await row.GetByRole(AriaRole.Button, new() { Name = $"Stop deployment {deployment.Id}" }).ClickAsync();
        await Assertions.Expect(row.Locator("td.state")).ToContainTextAsync("stopped");

        // A grant already held runs out within PolicyEngine.GrantLifetime; the camera's next request is refused,
        // and its health says so. Frames analysed before that may still have raised or extended an alert.
        await RunningServer.WaitUntilAsync(async () => (await server.HealthAsync(camera.Id))?.PolicyRefusal is not null, PolicyEngine.GrantLifetime + Deadline, "the camera to be refused");
        var refused = (await server.HealthAsync(camera.Id))!;
        var refusedBy = TimeProvider.System.GetUtcNow();
        var before = AlertIds(alerts, camera.Id);
        await Assertions.Expect(verifier.Page.Locator("li[data-alert]")).ToHaveCountAsync(before.Count, new() { Timeout = 15_000 });

        // A bounded wait for absence: the stream keeps flowing (two whole loops of the clip are decoded), and in
        // all of it nothing is analysed and no alert from the camera is added or extended, in the store or the page.
        await RunningServer.WaitUntilAsync(async () => (await server.HealthAsync(camera.Id))?.FramesDecoded >= refused.FramesDecoded + FramesAfterStop, Deadline, "two more loops of the clip to be decoded");
        var after = (await server.HealthAsync(camera.Id))!;
        Assert.Equal(refused.FramesAnalysed, after.FramesAnalysed);
        Assert.Equal(refused.FacesDetected, after.FacesDetected);
        Assert.NotNull(after.PolicyRefusal);
        Assert.Equal(before, AlertIds(alerts, camera.Id));
        // Ending the tracks may still write when the person was last seen, but never a sighting after the refusal.
        Assert.All(alerts.List(0, 500, camera.Id).Items, a => Assert.True(a.LastSeen <= refusedBy, $"alert {a.Id} last seen {a.LastSeen:O}, after the refusal at {refusedBy:O}"));
        Assert.Equal(before.Count, await verifier.Page.Locator("li[data-alert]").CountAsync());
        Assert.True(await verifier.Page.EvaluateAsync<bool>("() => window.citywatchNotReloaded === true"), "the page was reloaded");
        verifier.AssertNoProblems();
        overseer.AssertNoProblems();
    }

    private static readonly PageWaitForURLOptions Document = new() { WaitUntil = WaitUntilState.DOMContentLoaded, Timeout = 60_000 };

    [Fact]
    public async Task A_verifier_works_the_queue_by_keyboard_alone_with_focus_always_visible()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("KEY-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var older = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), camera.Id, watchlist.Id);
        var newer = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"), camera.Id, watchlist.Id);
        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "verifier", "/console/alerts");
        var page = visitor.Page;

        // Tab from the top of the queue to the newest alert, Enter opens it.
        await TabToAsync(page, $"a[href='/console/alerts/{newer.Id}']");
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync(new Uri(server.Address, $"/console/alerts/{newer.Id}").ToString(), Document);
        await visitor.AssertAccessibleAsync();

        // r rejects and goes on to the next candidate; s skips it, back to the queue.
        // Each shortcut is pressed once the page's decision controls are there; the waits are for the document,
        // not for its images (each probe and enrolment photo view is an audited read that commits to the log,
        // which on a loaded CI box can take longer than the default timeout allows).
        await page.Keyboard.PressAsync("r");
        await page.WaitForURLAsync(new Uri(server.Address, $"/console/alerts/{older.Id}").ToString(), Document);
        await Assertions.Expect(page.Locator("#skip")).ToBeVisibleAsync();
        await page.Keyboard.PressAsync("s");
        await page.WaitForURLAsync(new Uri(server.Address, "/console/alerts").ToString(), Document);
        Assert.Empty(server.Services.GetRequiredService<AlertVerification>().Decisions(older.Id));

        // Tab to the skipped one, open it, Tab through the decision's controls in order, Enter on Confirm.
        await TabToAsync(page, $"a[href='/console/alerts/{older.Id}']");
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync(new Uri(server.Address, $"/console/alerts/{older.Id}").ToString(), Document);
        await TabToAsync(page, "#confirm");
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("reject", await FocusedAsync(page));
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("skip", await FocusedAsync(page));
        await page.Keyboard.PressAsync("Shift+Tab");
        await page.Keyboard.PressAsync("Shift+Tab");
        Assert.Equal("confirm", await FocusedAsync(page));
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync(new Uri(server.Address, "/console/alerts").ToString(), Document);

        var verification = server.Services.GetRequiredService<AlertVerification>();
        Assert.Equal(VerificationDecision.Reject, Assert.Single(verification.Decisions(newer.Id)).Decision);
        Assert.Equal(VerificationDecision.Confirm, Assert.Single(verification.Decisions(older.Id)).Decision);
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();
    }

    /// <summary>
    /// Presses Tab until <paramref name="selector"/> has the focus (at most 30 times: the page has fewer
    /// stops before it), checking at every stop that the focused element shows a visible focus ring.
    /// </summary>
    private static async Task TabToAsync(IPage page, string selector)
    {
        for (var i = 0; i < 30; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            var focus = await page.EvaluateAsync<string>(
                """
                () => {
                  const e = document.activeElement;
                  if (!e || e === document.body) return "body";
                  const style = getComputedStyle(e);
                  const visible = e.matches(":focus-visible") && style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
                  return (visible ? "visible " : "invisible ") + e.outerHTML.slice(0, 120);
                }
                """);
            Assert.False(focus.StartsWith("invisible", StringComparison.Ordinal), $"focus without a visible ring: {focus}");
            if (await page.Locator(selector).EvaluateAsync<bool>("e => e === document.activeElement"))
            {
                return;
            }
        }

        Assert.Fail($"Tab never reached {selector}.");
    }

    private static Task<string> FocusedAsync(IPage page) => page.EvaluateAsync<string>("() => document.activeElement?.id ?? ''");

    private static List<long> AlertIds(AlertStore alerts, long cameraId) =>
        alerts.List(0, 500, cameraId).Items.Select(a => a.Id).Order().ToList();
}
