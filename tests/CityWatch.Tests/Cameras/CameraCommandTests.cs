using System.Net;
using System.Text;
using System.Text.Json;
using CityWatch.Cameras;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Cameras;

/// <summary>`citywatch cameras import|list` and the import endpoint, against the real server on 127.0.0.1.</summary>
public sealed class CameraCommandTests : IAsyncLifetime
{
    private RunningServer _server = null!;

    public async Task InitializeAsync() => _server = await RunningServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private CameraStore Store => _server.Services.GetRequiredService<CameraStore>();

    private Task<(int ExitCode, string Output, IReadOnlyList<string> Errors)> Cli(string account, params string[] arguments) =>
        CliRunner.RunAsync([.. arguments, "--server", _server.Address.ToString(), "--token", _server.Tokens[account]]);

    [Fact]
    public async Task A_template_filled_in_is_checked_without_storing_then_imported()
    {
        var template = Path.Combine(TestPaths.NewScratchDirectory(), "city.csv");

        var (written, output, errors) = await Cli("admin", "cameras", "import", "--template", template);
        Assert.True(written == 0, string.Join('\n', errors));
        Assert.Contains("--check", output);

        var (checkedExit, checkedOutput, checkErrors) = await Cli("admin", "cameras", "import", template, "--check");
        Assert.True(checkedExit == 0, string.Join('\n', checkErrors));
        Assert.Equal("check passed, nothing stored: 1 sites and 2 cameras would be imported (2 new, 0 updated)", checkedOutput.Trim());
        Assert.Equal(0, Store.List(0, 10).Total);

        var (imported, importOutput, _) = await Cli("admin", "cameras", "import", template);
        Assert.Equal(0, imported);
        Assert.Contains("2 cameras (2 new, 0 updated)", importOutput);
        Assert.Equal(2, Store.List(0, 10).Total);
    }

    [Fact]
    public async Task Three_bad_rows_are_reported_in_one_run_on_one_line()
    {
        var csv = Path.Combine(TestPaths.NewScratchDirectory(), "city.csv");
        await File.WriteAllTextAsync(csv,
            "site_code;latitude;longitude;camera_code;camera_name;owner;purpose\n" +
            "S1;44,8;20,4;C1;North;City;order\n" +
            "S1;x;20,4;C2;South;City;order\n" +
            "S1;44,8\n" +
            "S1;44,8;20,4;C4;;City;order\n");

        var (exit, _, errors) = await Cli("admin", "cameras", "import", csv);

        Assert.NotEqual(0, exit);
        var line = Assert.Single(errors);
        Assert.Contains("3 problems", line);
        Assert.Contains("line 3, latitude: 'x' is not a number", line);
        Assert.Contains("line 4: 2 values where the header has 7 columns", line);
        Assert.Contains("line 5, camera_name: is required and empty", line);
        Assert.Equal(0, Store.List(0, 10).Total);
    }

    [Fact]
    public async Task The_api_lists_every_problem_with_line_column_and_reason()
    {
        using var body = new StringContent("site_code,latitude,longitude,camera_code,camera_name,owner,purpose\nS1,95,20.4,C1,North,City,order\nS1,44.8,20.4,,South,City,order\n", Encoding.UTF8, "text/csv");

        using var response = await _server.Admin.PostAsync("/api/cameras/import", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var problems = problem.RootElement.GetProperty("problems").EnumerateArray()
            .Select(p => (p.GetProperty("where").GetString(), p.GetProperty("column").GetString(), p.GetProperty("reason").GetString())).ToList();
        Assert.Equal([("line 2", "latitude", "95 is out of range: -90 to 90"), ("line 3", "camera_code", "is required and empty")], problems);
    }

    [Fact]
    public async Task An_import_by_a_role_that_may_not_names_the_role_needed()
    {
        var csv = Path.Combine(TestPaths.NewScratchDirectory(), "city.csv");
        await File.WriteAllTextAsync(csv, "site_code,latitude,longitude,camera_code,camera_name,owner,purpose\nS1,44.8,20.4,C1,North,City,order\n");

        var (exit, _, errors) = await Cli("operator", "cameras", "import", csv);

        Assert.NotEqual(0, exit);
        Assert.Equal("error: server answered 403: This needs the role Administrator; you hold Operator.", Assert.Single(errors));
    }

    [Fact]
    public async Task The_list_is_paged_shows_health_and_prints_json()
    {
        foreach (var code in new[] { "A", "B", "C" })
        {
            await _server.AddCameraAsync(code, null);
        }

        var (exit, output, errors) = await Cli("operator", "cameras", "list", "--page", "2", "--page-size", "2");
        Assert.True(exit == 0, string.Join('\n', errors));
        Assert.Contains("3 cameras; page 2 of 2 (1 shown)", output);
        Assert.Contains("health", output);
        Assert.Matches(@" C +Camera C +yes +disabled ", output);
        Assert.DoesNotContain("Camera A", output);

        var (jsonExit, json, _) = await Cli("operator", "cameras", "list", "--page-size", "2", "--json");
        Assert.Equal(0, jsonExit);
        using var page = JsonDocument.Parse(json);
        Assert.Equal(3, page.RootElement.GetProperty("total").GetInt32());
        Assert.Equal(["A", "B"], page.RootElement.GetProperty("items").EnumerateArray().Select(c => c.GetProperty("code").GetString()));
    }

    [Fact]
    public async Task A_page_size_out_of_range_is_one_line_and_a_non_zero_exit()
    {
        var (exit, _, errors) = await Cli("operator", "cameras", "list", "--page-size", "5000");

        Assert.NotEqual(0, exit);
        Assert.Equal("error: --page-size must be between 1 and 500", Assert.Single(errors));
    }
}
