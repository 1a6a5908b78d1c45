using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using CityWatch.Cli.Hosting;
using CityWatch.Identity;

namespace CityWatch.Cli.Identity;

/// <summary>
/// Accounts and roles through the server's API, never by editing the database. Passwords come from
/// CITYWATCH_PASSWORD or a prompt without echo, never from the command line.
/// </summary>
internal static class UsersCommand
{
    public static Command Create()
    {
        var username = new Option<string>("--username") { Description = "The account's name", Required = true };

        var setupToken = new Option<string>("--setup-token") { Description = "The one-time token printed at the first start", Required = true };
        var setup = new Command("setup", "Create the first administrator with the one-time set-up token") { setupToken, username, CliCommon.Server };
        setup.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            var name = result.GetValue(username)!;
            using var response = await client.PostAsJsonAsync("api/setup", new { token = result.GetValue(setupToken), username = name, displayName = name, password = CliCommon.Password() }, CliCommon.JsonOptions, ct);
            var account = await CliCommon.ReadAsync<Account>(response, ct);
            Console.WriteLine($"created administrator '{account.Username}'");
            return 0;
        }));

        var signIn = new Command("sign-in", "Sign in and print a session token (use it as --token or CITYWATCH_TOKEN)") { username, CliCommon.Server };
        signIn.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var response = await client.PostAsJsonAsync("api/auth/sign-in", new { username = result.GetValue(username), password = CliCommon.Password() }, CliCommon.JsonOptions, ct);
            var signedIn = await CliCommon.ReadAsync<SignedIn>(response, ct);
            Console.WriteLine(signedIn.Token);
            return 0;
        }));

        var name = new Argument<string>("username") { Description = "The account's name" };
        var display = new Option<string?>("--display-name") { Description = "The person's name as shown to others" };
        var add = new Command("add", "Create an account (roles are given separately)") { name, display, CliCommon.Server, CliCommon.Token };
        add.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            var user = result.GetValue(name)!;
            using var response = await client.PostAsJsonAsync("api/accounts", new AccountInput(user, result.GetValue(display) ?? user, CliCommon.Password($"Password for {user}:")), CliCommon.JsonOptions, ct);
            var account = await CliCommon.ReadAsync<Account>(response, ct);
            Console.WriteLine($"created account {account.Id} '{account.Username}'");
            return 0;
        }));

        var list = new Command("list", "List accounts with their roles") { CliCommon.Server, CliCommon.Token };
        list.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            foreach (var account in await AccountsAsync(client, ct))
            {
                var roles = string.Join(", ", account.Roles.Select(Describe));
                Console.WriteLine($"{account.Id,4} {account.Username,-20} {(account.Disabled ? "disabled" : "enabled"),-9} {roles}");
            }

            return 0;
        }));

        var grant = new Option<Role?>("--add") { Description = "A role to give" };
        var remove = new Option<long?>("--remove") { Description = "The id of a role grant to take away" };
        var cameras = new Option<long[]>("--cameras") { Description = "Limit the role to these camera ids", AllowMultipleArgumentsPerToken = true };
        var sites = new Option<long[]>("--sites") { Description = "Limit the role to these site ids", AllowMultipleArgumentsPerToken = true };
        var until = new Option<DateTimeOffset?>("--until") { Description = "The role ends at this time" };
        var roles = new Command("roles", "Give or take away a role (an administrator cannot change their own roles)") { name, grant, remove, cameras, sites, until, CliCommon.Server, CliCommon.Token };
        roles.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            var account = await FindAsync(client, result.GetValue(name)!, ct);
            if (result.GetValue(grant) is { } role)
            {
                var input = new RoleGrantInput(role, NullIfEmpty(result.GetValue(sites)), NullIfEmpty(result.GetValue(cameras)), null, result.GetValue(until));
                using var response = await client.PostAsJsonAsync($"api/accounts/{account.Id}/roles", input, CliCommon.JsonOptions, ct);
                var granted = await CliCommon.ReadAsync<RoleGrant>(response, ct);
                Console.WriteLine($"gave {account.Username} {Describe(granted)}");
            }
            else if (result.GetValue(remove) is { } grantId)
            {
                using var response = await client.DeleteAsync($"api/accounts/{account.Id}/roles/{grantId}", ct);
                await CliCommon.EnsureAsync(response, ct);
                Console.WriteLine($"took role grant {grantId} from {account.Username}");
            }
            else
            {
                throw new InvalidOperationException("say --add ROLE or --remove GRANT-ID");
            }

            return 0;
        }));

        var disable = new Command("disable", "Disable an account: its sessions end at once") { name, CliCommon.Server, CliCommon.Token };
        disable.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            var account = await FindAsync(client, result.GetValue(name)!, ct);
            using var response = await client.PostAsync($"api/accounts/{account.Id}/disable", null, ct);
            await CliCommon.ReadAsync<Account>(response, ct);
            Console.WriteLine($"disabled {account.Username}");
            return 0;
        }));

        return new Command("users", "Accounts and roles") { setup, signIn, add, list, roles, disable };
    }

    private static string Describe(RoleGrant grant)
    {
        var scope = grant.CameraIds is { } c ? $" cameras {string.Join(",", c)}" : grant.SiteIds is { } s ? $" sites {string.Join(",", s)}" : "";
        var until = grant.ValidUntil is { } u ? string.Create(CultureInfo.InvariantCulture, $" until {u:yyyy-MM-dd HH:mm}") : "";
        return $"{grant.Role}{scope}{until} (#{grant.Id})";
    }

    private static IReadOnlyList<long>? NullIfEmpty(long[]? values) => values is { Length: > 0 } ? values : null;

    private static async Task<List<Account>> AccountsAsync(HttpClient client, CancellationToken ct)
    {
        using var response = await client.GetAsync("api/accounts", ct);
        return await CliCommon.ReadAsync<List<Account>>(response, ct);
    }

    private static async Task<Account> FindAsync(HttpClient client, string username, CancellationToken ct) =>
        (await AccountsAsync(client, ct)).FirstOrDefault(a => string.Equals(a.Username, username, StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidOperationException($"no account named '{username}'");
}
