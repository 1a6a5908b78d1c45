using System.Net;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Cli;

/// <summary>`citywatch users` and `citywatch keys` work through the API with a token.</summary>
public sealed class IdentityCliTests
{
    [Fact]
    public async Task Users_and_keys_commands_change_roles_disable_accounts_and_show_a_key_once()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("DOOR", null, faceRecognition: false);
        string[] admin = ["--server", server.Address.ToString(), "--token", server.Tokens["admin"]];

        var roles = await CliRunner.RunAsync(["users", "roles", "operator", "--add", "Investigator", "--cameras", camera.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), .. admin]);
        var list = await CliRunner.RunAsync(["users", "list", .. admin]);
        var key = await CliRunner.RunAsync(["keys", "create", "door camera", "--cameras", camera.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), .. admin]);
        var disable = await CliRunner.RunAsync(["users", "disable", "operator", .. admin]);
        var self = await CliRunner.RunAsync(["users", "roles", "admin", "--add", "Verifier", .. admin]);

        Assert.Equal(0, roles.ExitCode);
        Assert.Contains($"Investigator cameras {camera.Id}", list.Output);
        Assert.Equal(0, key.ExitCode);
        Assert.StartsWith("cwk_", key.Output.Trim());
        Assert.Equal(0, disable.ExitCode);
        using var afterDisable = await server.Operator.GetAsync("/api/cameras");
        Assert.Equal(HttpStatusCode.Unauthorized, afterDisable.StatusCode);
        Assert.NotEqual(0, self.ExitCode);
        Assert.Contains("403", Assert.Single(self.Errors));
    }

    [Fact]
    public async Task A_command_without_a_token_is_refused_with_one_line()
    {
        await using var server = await RunningServer.StartAsync();

        var (exit, _, errors) = await CliRunner.RunAsync("watchlist", "list", "--server", server.Address.ToString());

        Assert.NotEqual(0, exit);
        Assert.StartsWith("error: server answered 401", Assert.Single(errors));
    }
}
