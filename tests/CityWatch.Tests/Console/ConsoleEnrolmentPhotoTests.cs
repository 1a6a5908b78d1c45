using System.Net;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Evidence;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The enrolment photo beside the probe on the candidate view, in real Chromium against the real server: both
/// faces shown to the roles that see crops, each view of the photo logged, the blind second verifier seeing it
/// and nothing of the first's decision; no photo for a role that may not see faces; gone with its entry.
/// </summary>
public sealed class ConsoleEnrolmentPhotoTests(Chromium chromium) : IClassFixture<Chromium>
{
    private static readonly string Photo = TestPaths.Faces("ageitgey", "examples", "obama.jpg");

    [Fact]
    public async Task Both_verifiers_see_the_probe_beside_the_enrolment_photo_each_view_is_logged_and_the_second_sees_nothing_of_the_first()
    {
        await using var server = await RunningServer.StartAsync();
        var (alert, entry) = await CandidateAsync(server);
        var path = $"/console/alerts/{alert.Id}";

        await using var first = await chromium.VisitorAsync();
        await first.SignInAsync(server, "verifier");
        await first.OpenAsync(server.Address, path);
        await AssertBothFacesAsync(first.Page, entry);
        await RunningServer.WaitUntilAsync(() => Task.FromResult(PhotoViews(server, "verifier") == 1), TimeSpan.FromSeconds(10), "the verifier's view to be logged");
        var view = Assert.Single(server.Logged(AuditActions.AlertView), a => a.Actor == "verifier" && a.Outcome == "enrolment photo");
        Assert.Contains($"\"entry\":\"{entry.Id}\"", view.Body, StringComparison.Ordinal);
        await first.AssertAccessibleAsync();
        await first.Page.Keyboard.PressAsync("c");
        await first.Page.WaitForURLAsync(new Uri(server.Address, "/console/alerts").ToString());
        first.AssertNoProblems();

        // The second verifier: both faces, their own view logged, and no trace of the first's confirmation.
        await using var second = await chromium.VisitorAsync();
        await second.SignInAsync(server, "verifier2");
        await second.OpenAsync(server.Address, path);
        await AssertBothFacesAsync(second.Page, entry);
        await Assertions.Expect(second.Page.Locator("#status")).ToHaveTextAsync(AlertVerification.Pending);
        var seen = await second.Page.ContentAsync();
        Assert.DoesNotContain("(verifier ", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("confirmed", seen, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("You have decided", seen, StringComparison.Ordinal);
        await RunningServer.WaitUntilAsync(() => Task.FromResult(PhotoViews(server, "verifier2") == 1), TimeSpan.FromSeconds(10), "the second verifier's view to be logged");
        Assert.Equal(1, PhotoViews(server, "verifier"));
        second.AssertNoProblems();

        // The photo itself is never cached.
        using var direct = await server.SecondVerifier.GetAsync($"/api/alerts/{alert.Id}/enrolment-photo");
        Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
        Assert.Equal("image/jpeg", direct.Content.Headers.ContentType?.MediaType);
        Assert.True(direct.Headers.CacheControl?.NoStore, "Cache-Control: no-store");
        Assert.Equal(2, PhotoViews(server, "verifier2"));
    }

    [Fact]
    public async Task A_role_that_may_not_see_faces_gets_no_photo_and_a_removed_entry_takes_its_photo_with_it()
    {
        await using var server = await RunningServer.StartAsync();
        var (alert, entry) = await CandidateAsync(server);
        var photoPath = $"/api/alerts/{alert.Id}/enrolment-photo";

        // The DPO sees the candidate but no face; the administrator not even the candidate.
        await using var dpo = await chromium.VisitorAsync();
        await dpo.SignInAsync(server, "dpo");
        await dpo.OpenAsync(server.Address, $"/console/alerts/{alert.Id}");
        await Assertions.Expect(dpo.Page.Locator("#score")).ToBeVisibleAsync();
        Assert.Equal(0, await dpo.Page.Locator("img").CountAsync());
        var refused = await dpo.Page.GotoAsync(new Uri(server.Address, photoPath).ToString());
        Assert.Equal(403, refused!.Status);
        dpo.Problems.Clear(); // the refusal's 403, which Chromium reports as an error
        foreach (var client in new[] { server.Dpo, server.Admin, server.Authority })
        {
            using var response = await client.GetAsync(photoPath);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        using (var anonymous = await server.Anonymous.GetAsync(photoPath))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        Assert.DoesNotContain(server.Logged(AuditActions.AlertView), a => a.Outcome == "enrolment photo");

        // The entry removed: its photo's key is destroyed, nothing is served and the view offers no image of it.
        var keyId = PhotoKey(server, entry.Id);
        Assert.True(EvidenceVault.For(server.Services.GetRequiredService<CityWatch.Data.CityWatchDatabase>()).Exists(keyId));
        (await server.Investigator.DeleteAsync($"/api/watchlists/{entry.WatchlistId}/entries/{entry.Id}")).EnsureSuccessStatusCode();
        Assert.False(EvidenceVault.For(server.Services.GetRequiredService<CityWatch.Data.CityWatchDatabase>()).Exists(keyId));
        using (var gone = await server.Operator.GetAsync(photoPath))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        await using var operatorView = await chromium.VisitorAsync();
        await operatorView.SignInAsync(server, "operator");
        await operatorView.OpenAsync(server.Address, $"/console/alerts/{alert.Id}");
        await Assertions.Expect(operatorView.Page.Locator("#probe")).ToBeVisibleAsync();
        await Assertions.Expect(operatorView.Page.Locator("#no-enrolment-photo")).ToBeVisibleAsync();
        Assert.Equal(0, await operatorView.Page.Locator("#enrolment-photo").CountAsync());
        Assert.DoesNotContain(server.Logged(AuditActions.AlertView), a => a.Outcome == "enrolment photo");
        operatorView.AssertNoProblems();
    }

    /// <summary>A person enrolled from a photo through the API, and an alert of them on a camera (as the recognition path stores it).</summary>
    private static async Task<(Alert Alert, WatchlistEntry Entry)> CandidateAsync(RunningServer server)
    {
        var camera = await server.AddCameraAsync("PHOTO-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var basis = await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Enrolment);
        var entry = await ApiCalls.ReadAsync<WatchlistEntry>(await server.EnrolAsync(watchlist.Id, "MP-2026-077", Photo));
        var alert = server.Services.GetRequiredService<AlertStore>().Add(
            EvidenceFixture.New(EvidenceFixture.PhotoCrop("obama2.jpg"), camera.Id, watchlist.Id, basis.Id, TimeProvider.System.GetUtcNow()) with { EntryId = entry.Id, Label = entry.Label });
        return (alert, entry);
    }

    private static async Task AssertBothFacesAsync(IPage page, WatchlistEntry entry)
    {
        foreach (var id in new[] { "#probe", "#enrolment-photo" })
        {
            var image = page.Locator(id);
            await Assertions.Expect(image).ToBeVisibleAsync();
            await Assertions.Expect(image).ToHaveJSPropertyAsync("complete", true);
            Assert.True(await image.EvaluateAsync<bool>("img => img.naturalWidth > 0"), $"{id} shows an image");
        }

        await Assertions.Expect(page.Locator("#enrolment-photo")).ToHaveAttributeAsync("alt", $"The face of the enrolment photo of watchlist entry {entry.Label}");
    }

    private static int PhotoViews(RunningServer server, string actor) =>
        server.Logged(AuditActions.AlertView).Count(a => a.Actor == actor && a.Outcome == "enrolment photo");

    private static string PhotoKey(RunningServer server, long entryId)
    {
        using var connection = server.Services.GetRequiredService<CityWatch.Data.CityWatchDatabase>().Open();
        return Dapper.SqlMapper.ExecuteScalar<string>(connection, "SELECT photo_key FROM watchlist_entries WHERE id = @entryId", new { entryId })!;
    }
}
