using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CityWatch.Cameras;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Api;

public sealed class ApiTests : IAsyncLifetime
{
    private RunningServer _server = null!;

    public async Task InitializeAsync() => _server = await RunningServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private HttpClient Client => _server.Admin;

    [Fact]
    public async Task Healthz_answers_once_the_server_is_ready()
    {
        using var response = await Client.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Malformed_json_gets_400_with_problem_details()
    {
        using var body = new StringContent("{\"code\": \"C1\", \"siteCode\": ", Encoding.UTF8, "application/json");

        using var response = await Client.PostAsync("/api/cameras", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(400, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task Cameras_can_be_created_listed_updated_and_deleted()
    {
        (await Client.PostAsJsonAsync("/api/sites", new SiteInput("S1", "Square", 44.8, 20.4, "City"))).EnsureSuccessStatusCode();
        using var created = await Client.PostAsJsonAsync("/api/cameras", new CameraInput("C1", "S1", "North", "City", "order"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var camera = (await created.Content.ReadFromJsonAsync<Camera>())!;

        using var updated = await Client.PutAsJsonAsync($"/api/cameras/{camera.Id}", new CameraInput("C1", "S1", "North gate", "City", "order", RetentionDays: 7));
        updated.EnsureSuccessStatusCode();
        var page = await Client.GetFromJsonAsync<Page<Camera>>("/api/cameras?offset=0&limit=10");

        Assert.Equal(1, page!.Total);
        Assert.Equal("North gate", page.Items[0].Name);
        Assert.Equal(7, page.Items[0].RetentionDays);

        using var deleted = await Client.DeleteAsync($"/api/cameras/{camera.Id}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var gone = await Client.GetAsync($"/api/cameras/{camera.Id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal("application/problem+json", gone.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_camera_on_an_unknown_site_is_refused_with_a_reason()
    {
        using var response = await Client.PostAsJsonAsync("/api/cameras", new CameraInput("C1", "NOPE", "North", "City", "order"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("NOPE", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_bad_inventory_is_refused_naming_the_line_and_nothing_is_imported()
    {
        using var csv = new StringContent(
            "site_code,latitude,longitude,camera_code,camera_name,owner,purpose\nS1,44.8,20.4,C1,North,City,order\nS1,44.8,20.4,,South,City,order\n",
            Encoding.UTF8,
            "text/csv");

        using var response = await Client.PostAsync("/api/cameras/import", csv);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("line 3", await response.Content.ReadAsStringAsync());
        var page = await Client.GetFromJsonAsync<Page<Camera>>("/api/cameras");
        Assert.Equal(0, page!.Total);
    }

    [Fact]
    public async Task A_page_larger_than_the_maximum_is_refused()
    {
        using var response = await Client.GetAsync("/api/cameras?limit=100000");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
