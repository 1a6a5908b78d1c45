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
    public async Task An_invited_person_accepts_enrols_totp_and_signs_in_and_an_oversight_grant_waits_for_a_second_person()
    {
        await using var server = await RunningServer.StartAsync();
        string[] admin = ["--server", server.Address.ToString(), "--token", server.Tokens["admin"]];
        string[] dpo = ["--server", server.Address.ToString(), "--token", server.Tokens["dpo"]];
        var password = new Dictionary<string, string> { ["CITYWATCH_PASSWORD"] = RunningServer.Password };

        var add = await CliRunner.RunAsync(["users", "add", "clerk", "--person-name", "A Clerk", "--identity-ref", "ID-clerk", .. admin]);
        var code = add.Output.Split('\n', StringSplitOptions.TrimEntries).Single(l => l.StartsWith("cwi_", StringComparison.Ordinal));
        var accept = await CliRunner.RunWithEnvironmentAsync(password, "users", "accept", "--code", code, "--server", server.Address.ToString());
        var secret = accept.Output.Split('\n', StringSplitOptions.TrimEntries).Single(l => l.StartsWith("TOTP secret: ", StringComparison.Ordinal))["TOTP secret: ".Length..];
        var now = TimeProvider.System.GetUtcNow();
        var confirm = await CliRunner.RunAsync("users", "accept", "--code", code, "--totp", RunningServer.Code(secret, now.AddSeconds(-30)), "--server", server.Address.ToString());
        var signIn = await CliRunner.RunWithEnvironmentAsync(password, "users", "sign-in", "--username", "clerk", "--totp", RunningServer.Code(secret, now), "--server", server.Address.ToString());
        var grant = await CliRunner.RunAsync(["users", "roles", "clerk", "--add", "Verifier", .. admin]);
        var grantId = grant.Output[(grant.Output.LastIndexOf("(#", StringComparison.Ordinal) + 2)..grant.Output.LastIndexOf(')')];
        var byAdmin = await CliRunner.RunAsync(["users", "approve-role", grantId, .. admin]);
        var byDpo = await CliRunner.RunAsync(["users", "approve-role", grantId, .. dpo]);
        var list = await CliRunner.RunAsync(["users", "list", .. admin]);

        Assert.Equal(0, add.ExitCode);
        Assert.Equal(0, accept.ExitCode);
        Assert.Equal(0, confirm.ExitCode);
        Assert.Equal(0, signIn.ExitCode);
        Assert.StartsWith("cws_", signIn.Output.Trim(), StringComparison.Ordinal);
        Assert.Contains("second person", grant.Output, StringComparison.Ordinal);
        Assert.NotEqual(0, byAdmin.ExitCode);
        Assert.Contains("403", Assert.Single(byAdmin.Errors));
        Assert.Equal(0, byDpo.ExitCode);
        Assert.Contains($"Verifier (#{grantId})", list.Output, StringComparison.Ordinal);
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
