using System.Net;
using System.Net.Http.Headers;
using CityWatch.Policy;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console's cameras in real Chromium against the real server: the list filtered by text and face recognition,
/// the clustered map drawn by the register's script under the strict CSP, and a camera's detail with the legal basis
/// that names it and the deployment that covers it; axe-clean.
/// </summary>
public sealed class ConsoleCamerasTests(Chromium chromium) : IClassFixture<Chromium>
{
    [Fact]
    public async Task An_operator_filters_the_cameras_and_opens_one_to_see_its_basis_and_deployment()
    {
        await using var server = await RunningServer.StartAsync();
        var north = await server.AddCameraAsync("NORTH-1", null);
        await server.AddCameraAsync("NORTH-2", null, faceRecognition: false);
        await server.AddCameraAsync("SOUTH-1", null);
        var watchlist = await server.AddWatchlistAsync("missing persons");
        var basis = await server.AddActiveBasisAsync([north.Id], [watchlist.Id]);

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "operator");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Cameras" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, "/console/cameras").ToString());
        await Assertions.Expect(visitor.Page.Locator("#register-map")).ToHaveAttributeAsync("data-markers", "3");
        await Assertions.Expect(visitor.Page.Locator("#cameras tbody tr")).ToHaveCountAsync(3);
        await Assertions.Expect(visitor.Page.Locator("#cameras caption")).ToHaveTextAsync("3 of 3 cameras");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-cameras");

        await visitor.Page.GetByLabel("Site or name").FillAsync("north");
        await visitor.Page.GetByLabel("Face recognition").SelectOptionAsync("yes");
        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, "/console/cameras?q=north&health=&face=yes").ToString());
        await Assertions.Expect(visitor.Page.Locator("#cameras caption")).ToHaveTextAsync("1 of 3 cameras");
        var row = visitor.Page.Locator("#cameras tbody tr");
        await Assertions.Expect(row).ToHaveCountAsync(1);
        await Assertions.Expect(row).ToHaveAttributeAsync("data-camera", "NORTH-1");
        await Assertions.Expect(row.Locator("td.face")).ToHaveTextAsync("possible");

        await visitor.Page.GetByLabel("Face recognition").SelectOptionAsync("no");
        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(visitor.Page.Locator("#cameras tbody tr")).ToHaveAttributeAsync("data-camera", "NORTH-2");

        await visitor.Page.GetByLabel("Face recognition").SelectOptionAsync("");
        await visitor.Page.GetByLabel("Health").SelectOptionAsync("not streamed to CityWatch");
        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(visitor.Page.Locator("#cameras caption")).ToHaveTextAsync("2 of 3 cameras");

        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "NORTH-1" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, $"/console/cameras/{north.Id}").ToString());
        await Assertions.Expect(visitor.Page.Locator("h1")).ToHaveTextAsync("Camera NORTH-1");
        await Assertions.Expect(visitor.Page.Locator("#camera-face")).ToHaveTextAsync("possible");
        var basisRow = visitor.Page.Locator($"#camera-bases tr[data-basis='{basis.Id}']");
        await Assertions.Expect(basisRow.Locator("th")).ToHaveTextAsync($"{basis.Id} · {basis.Title}");
        await Assertions.Expect(basisRow.Locator("td.status")).ToHaveTextAsync(nameof(LegalBasisStatus.Active));
        var deployment = visitor.Page.Locator("#camera-deployments tbody tr");
        await Assertions.Expect(deployment).ToHaveCountAsync(1);
        await Assertions.Expect(deployment.Locator("td.state")).ToHaveTextAsync("running");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-camera");
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task A_page_outside_the_list_is_a_400_and_an_unknown_camera_a_404()
    {
        await using var server = await RunningServer.StartAsync();
        await server.AddCameraAsync("ONLY-1", null);
        using var outside = new HttpRequestMessage(HttpMethod.Get, "/console/cameras?page=2");
        outside.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        using var refused = await server.Operator.SendAsync(outside);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);

        using var unknown = await server.Operator.GetAsync("/console/cameras/999999");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var known = await server.Verifier.GetAsync("/console/cameras");
        Assert.Equal(HttpStatusCode.OK, known.StatusCode);
    }
}
