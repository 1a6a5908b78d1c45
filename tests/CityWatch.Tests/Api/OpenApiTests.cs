using System.Net;
using System.Text.Json;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Api;

/// <summary>The OpenAPI document, fetched by a member of the public from the running server.</summary>
public sealed class OpenApiTests : IAsyncLifetime
{
    private RunningServer _server = null!;

    public async Task InitializeAsync() => _server = await RunningServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task The_document_is_public_and_describes_operations_schemas_enums_and_roles()
    {
        using var response = await _server.Anonymous.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = document.RootElement;
        var paths = root.GetProperty("paths");

        var createCamera = Operation(paths, "/api/cameras", "post");
        Assert.Equal(["Administrator"], Roles(createCamera));
        Assert.Contains("Administrator", createCamera.GetProperty("description").GetString());
        Assert.True(createCamera.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.True(createCamera.GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(createCamera.TryGetProperty("security", out _));

        Assert.Equal(["Administrator", "Operator", "Verifier", "Investigator", "Authority", "DataProtectionOfficer"], Roles(Operation(paths, "/api/cameras", "get")));
        Assert.Equal(["public"], Roles(Operation(paths, "/healthz", "get")));
        Assert.False(Operation(paths, "/healthz", "get").TryGetProperty("security", out _));

        var schemas = root.GetProperty("components").GetProperty("schemas");
        var role = schemas.GetProperty("Role");
        Assert.Equal("string", role.GetProperty("type").GetString());
        Assert.Equal(["Administrator", "Operator", "Verifier", "Investigator", "Authority", "DataProtectionOfficer", "EdgeDevice"], role.GetProperty("enum").EnumerateArray().Select(e => e.GetString()!).Take(7).ToArray());
        Assert.True(schemas.GetProperty("CameraInput").GetProperty("properties").TryGetProperty("siteCode", out _));
    }

    // Group routes end in "/" ("/api/cameras/"); either spelling is the same operation.
    private static JsonElement Operation(JsonElement paths, string path, string method) =>
        (paths.TryGetProperty(path, out var item) ? item : paths.GetProperty(path + "/")).GetProperty(method);

    private static string[] Roles(JsonElement operation) =>
        operation.GetProperty("x-citywatch-roles").EnumerateArray().Select(e => e.GetString()!).ToArray();
}
