using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using CityWatch.Cameras;
using CityWatch.Investigations;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Server;
using CityWatch.Server.Alerts;
using CityWatch.Settings;
using CityWatch.SubjectAccess;
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

    // The governed operations and the input each one binds, written out here, not read from the server's table.
    public static TheoryData<string, string, Type> GovernedBodies => new()
    {
        { "/api/legal-bases", "post", typeof(LegalBasisDraft) },
        { "/api/legal-bases/{id}/prerequisites", "post", typeof(Prerequisites) },
        { "/api/legal-bases/{id}/authorise", "post", typeof(AuthorityDecision) },
        { "/api/legal-bases/{id}/refuse", "post", typeof(AuthorityDecision) },
        { "/api/deployments", "post", typeof(DeploymentInput) },
        { "/api/cases", "post", typeof(CaseInput) },
        { "/api/cameras", "post", typeof(CameraInput) },
        { "/api/watchlists", "post", typeof(WatchlistInput) },
        { "/api/watchlists/{id}/display", "put", typeof(WatchlistDisplayInput) },
        { "/api/alerts/{id}/decisions", "post", typeof(DecisionRequest) },
        { "/api/settings/proposals", "post", typeof(ProposalInput) },
        { "/api/subject-access/requests", "post", typeof(SubjectAccessRequestInput) },
    };

    [Theory]
    [MemberData(nameof(GovernedBodies))]
    public async Task A_governed_request_body_has_an_example_that_round_trips_through_its_input_type(string path, string method, Type input)
    {
        var paths = await PathsAsync();
        var example = Operation(paths, path, method).GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("example");
        AssertRoundTrips(example, input);
    }

    [Fact]
    public async Task The_analysis_job_operation_has_parameter_and_response_examples_and_describes_its_upload()
    {
        var analyses = Operation(await PathsAsync(), "/api/analyses", "post");
        var parameters = analyses.GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.Equal("missing-2026-0042", parameters["watchlist"].GetProperty("example").GetString());
        Assert.Equal("PD-2026-0042", parameters["case"].GetProperty("example").GetString());
        Assert.True(analyses.GetProperty("requestBody").GetProperty("content").TryGetProperty("multipart/form-data", out _));
        var job = analyses.GetProperty("responses").GetProperty("202").GetProperty("content").GetProperty("application/json").GetProperty("example");
        AssertRoundTrips(job, typeof(AnalysisJob));
        Assert.Equal("PD-2026-0042", job.GetProperty("caseNumber").GetString());
        Assert.Equal("Queued", job.GetProperty("state").GetString());
    }

    [Theory]
    [InlineData("/api/cases", "post", new[] { 400, 401, 403, 409 })]
    [InlineData("/api/legal-bases/{id}/authorise", "post", new[] { 400, 401, 403, 404, 409 })]
    [InlineData("/api/analyses", "post", new[] { 400, 401, 403, 409, 413 })]
    [InlineData("/api/analyses/{id}/candidates", "get", new[] { 401, 403, 404 })]
    public async Task Problem_responses_are_described_with_an_example_problem(string path, string method, int[] statuses)
    {
        var responses = Operation(await PathsAsync(), path, method).GetProperty("responses");
        foreach (var status in statuses)
        {
            var content = responses.GetProperty(status.ToString(System.Globalization.CultureInfo.InvariantCulture)).GetProperty("content").GetProperty("application/problem+json");
            Assert.True(content.TryGetProperty("schema", out _));
            var problem = content.GetProperty("example");
            Assert.Equal(status, problem.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
            Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        }

        Assert.False(Operation(await PathsAsync(), "/healthz", "get").GetProperty("responses").TryGetProperty("401", out _));
    }

    // Read with the server's JSON options and no unknown member allowed, then written again: the same JSON,
    // so every field of the example is a field of the input, with a value it accepts.
    private static void AssertRoundTrips(JsonElement example, Type input)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { Converters = { new EnumNames() }, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };
        var value = example.Deserialize(input, options);
        Assert.NotNull(value);
        var again = JsonSerializer.SerializeToNode(value, input, options);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(example.GetRawText()), again), $"{input.Name}: {example.GetRawText()} read back as {again?.ToJsonString()}");
    }

    private async Task<JsonElement> PathsAsync()
    {
        using var response = await _server.Anonymous.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("paths").Clone();
    }

    // Group routes end in "/" ("/api/cameras/"); either spelling is the same operation.
    private static JsonElement Operation(JsonElement paths, string path, string method) =>
        (paths.TryGetProperty(path, out var item) ? item : paths.GetProperty(path + "/")).GetProperty(method);

    private static string[] Roles(JsonElement operation) =>
        operation.GetProperty("x-citywatch-roles").EnumerateArray().Select(e => e.GetString()!).ToArray();
}
