using System.Net.Http.Json;
using CityWatch.Cameras;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using Microsoft.Playwright;

namespace CityWatch.Tests.Portal;

/// <summary>
/// The public portal in real Chromium against the real server: what a citizen who never signs in can
/// find out, escaped, accessible, under the strict CSP (a violation or script error fails the test).
/// </summary>
public sealed class PortalTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task A_citizen_finds_a_camera_in_the_table_and_on_the_map_and_sees_whether_it_can_recognise_faces()
    {
        await using var server = await RunningServer.StartAsync();
        await AddCameraAsync(server, "FR-1", "Market square", 44.8170, 20.4570, faceRecognition: true);
        await AddCameraAsync(server, "NF-1", "Riverside park", 44.8000, 20.4200, faceRecognition: false);
        await using var visitor = await chromium.VisitorAsync();

        var response = await visitor.OpenAsync(server.Address, "/register");
        Assert.Equal("public, max-age=60", await response.HeaderValueAsync("cache-control"));
        var page = visitor.Page;
        await page.GetByLabel("Search place, camera, owner or purpose").FillAsync("market");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        var row = page.Locator("#register-table tbody tr");
        await Assertions.Expect(row).ToHaveCountAsync(1);
        await Assertions.Expect(row.First).ToHaveAttributeAsync("data-camera", "FR-1");
        await Assertions.Expect(row.First.Locator("td.face")).ToHaveTextAsync("possible");
        await Assertions.Expect(page.Locator("#register-table caption")).ToContainTextAsync("1 of 2 cameras");

        await Assertions.Expect(page.Locator("#register-map")).ToHaveAttributeAsync("data-markers", "2");
        var marker = page.Locator(".leaflet-marker-icon[title^='FR-1 ']");
        await Assertions.Expect(marker).ToBeVisibleAsync();
        await Assertions.Expect(marker).ToHaveAttributeAsync("title", "FR-1 Camera FR-1: face recognition possible");
        await Assertions.Expect(page.Locator(".leaflet-marker-icon[title^='NF-1 ']")).ToHaveAttributeAsync("title", "NF-1 Camera NF-1: face recognition not possible");
        await marker.ClickAsync();
        await Assertions.Expect(page.Locator(".leaflet-popup-content")).ToContainTextAsync("Face recognition: possible");
        await Assertions.Expect(page.Locator(".leaflet-popup-content")).ToContainTextAsync("Market square");
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task The_banner_says_processing_is_off_while_no_basis_is_in_force_and_goes_when_one_is()
    {
        await using var server = await RunningServer.StartAsync();
        var banner = "Biometric processing is off: no legal basis in force";
        await using (var before = await chromium.VisitorAsync())
        {
            await before.OpenAsync(server.Address, "/");
            await Assertions.Expect(before.Page.GetByRole(AriaRole.Heading, new() { Name = banner })).ToBeVisibleAsync();
            before.AssertNoProblems();
        }

        var camera = await server.AddCameraAsync("CAM-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);

        // A later visitor (the pages are cacheable for a minute, so a fresh browser).
        await using var after = await chromium.VisitorAsync();
        await after.OpenAsync(server.Address, "/");
        await Assertions.Expect(after.Page.GetByText(banner)).ToHaveCountAsync(0);
        await Assertions.Expect(after.Page.GetByRole(AriaRole.Heading, new() { Name = "Biometric processing is allowed under 1 legal basis in force" })).ToBeVisibleAsync();
        await Assertions.Expect(after.Page.Locator("table tbody tr")).ToContainTextAsync("CAM-1");
        after.AssertNoProblems();
    }

    [Fact]
    public async Task A_basis_title_with_markup_is_shown_as_text_and_never_runs()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("CAM-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        const string title = "<script>alert('owned')</script><b>Bold</b> search";
        var draft = ApiCalls.Draft([camera.Id], [watchlist.Id]) with { Title = title };
        var basis = await server.AuthoriseAsync((await server.PreparedBasisAsync(draft)).Id);
        await server.DeployAsync(basis.Id, [camera.Id], [watchlist.Id]);

        await using var visitor = await chromium.VisitorAsync();
        foreach (var path in new[] { "/", "/deployments" })
        {
            await visitor.OpenAsync(server.Address, path);
            await Assertions.Expect(visitor.Page.Locator(".basis-title").First).ToHaveTextAsync(title);
            Assert.Equal(0, await visitor.Page.Locator("main script, main b").CountAsync());
        }

        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task Every_public_page_has_no_serious_or_critical_accessibility_violation()
    {
        await using var server = await RunningServer.StartAsync();
        var cameras = new List<Camera>
        {
            await AddCameraAsync(server, "MKT-1", "Market square", 44.8170, 20.4570, faceRecognition: true),
            await AddCameraAsync(server, "MKT-2", "Market square north", 44.8185, 20.4580, faceRecognition: true),
            await AddCameraAsync(server, "PRK-1", "Riverside park", 44.8000, 20.4200, faceRecognition: false),
            await AddCameraAsync(server, "STN-1", "Central station", 44.8080, 20.4610, faceRecognition: false),
        };
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var draft = ApiCalls.Draft([cameras[0].Id, cameras[1].Id], [watchlist.Id]) with { Title = "Search for a missing child, city centre" };
        var basis = await server.AuthoriseAsync((await server.PreparedBasisAsync(draft)).Id);
        await server.DeployAsync(basis.Id, [cameras[0].Id, cameras[1].Id], [watchlist.Id]);

        await using var visitor = await chromium.VisitorAsync();
        foreach (var (path, name) in new[] { ("/", "home"), ("/register", "register"), ("/deployments", "deployments"), ("/log", "log") })
        {
            var response = await visitor.OpenAsync(server.Address, path);
            Assert.Equal("public, max-age=60", await response.HeaderValueAsync("cache-control"));
            if (path == "/register")
            {
                await Assertions.Expect(visitor.Page.Locator("#register-map")).ToHaveAttributeAsync("data-markers", "4");
            }

            await visitor.AssertAccessibleAsync();
            await visitor.ScreenshotAsync(name);
        }

        visitor.AssertNoProblems();
    }

    private static async Task<Camera> AddCameraAsync(RunningServer server, string code, string place, double latitude, double longitude, bool faceRecognition)
    {
        using var site = await server.Admin.PostAsJsonAsync("/api/sites", new SiteInput($"S-{code}", place, latitude, longitude, "City of Testford"), ApiCalls.Json);
        site.EnsureSuccessStatusCode();
        return await ApiCalls.ReadAsync<Camera>(await server.Admin.PostAsJsonAsync(
            "/api/cameras", new CameraInput(code, $"S-{code}", $"Camera {code}", "City of Testford", "traffic and public safety", null, faceRecognition), ApiCalls.Json));
    }
}
