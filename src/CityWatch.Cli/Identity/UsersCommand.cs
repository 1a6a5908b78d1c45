using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using CityWatch.Cli.Hosting;
using CityWatch.Identity;
using Spectre.Console;

namespace CityWatch.Cli.Identity;

/// <summary>
/// Accounts and roles through the server's API, never by editing the database. An administrator invites
/// (prints a one-time code) and never chooses anyone's password: the holder of the code does, with
/// `users accept`. Passwords come from CITYWATCH_PASSWORD or a prompt without echo, never from the command line.
/// </summary>
internal static class UsersCommand
{
    public static Command Create()
    {
        var username = new Option<string>("--username") { Description = "The account's name", Required = true };
        var personName = new Option<string>("--person-name") { Description = "The natural person who holds the account", Required = true };
        var identityRef = new Option<string>("--identity-ref") { Description = "The person's national id or staff number (stored only as a keyed hash)", Required = true };
        var totp = new Option<string?>("--totp")
        {
            Description = "The current code from the authenticator app (default: the CITYWATCH_TOTP variable)",
        };
        string? Totp(ParseResult result) => result.GetValue(totp) ?? Environment.GetEnvironmentVariable("CITYWATCH_TOTP");

        var setupToken = new Option<string>("--setup-token") { Description = "The one-time token printed at the first start", Required = true };
        var quorum = new Option<string[]>("--quorum")
        {
            Description = "A member of the first oversight quorum as USERNAME:ROLE:IDENTITY-REF:PERSON NAME (at least two, in two different oversight roles)",
            AllowMultipleArgumentsPerToken = false,
            Required = true,
        };
        var setup = new Command("setup", "Invite the first administrator and the first oversight quorum with the one-time set-up token") { setupToken, username, personName, identityRef, quorum, CliCommon.Server };
        setup.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            var members = result.GetValue(quorum)!.Select(ParseMember).ToList();
            var administrator = new AccountInput(result.GetValue(username)!, result.GetValue(personName)!, result.GetValue(identityRef)!);
            using var response = await client.PostAsJsonAsync("api/setup", new { token = result.GetValue(setupToken), administrator, quorum = members }, CliCommon.JsonOptions, ct);
            var made = await CliCommon.ReadAsync<SetupResult>(response, ct);
            Console.WriteLine("Hand each person their own invitation code; each runs `citywatch users accept --code CODE`:");
            foreach (var invitation in made.Quorum.Prepend(made.Administrator))
            {
                Console.WriteLine($"  {invitation.Username,-20} {invitation.Code}  (until {invitation.ExpiresAt:u})");
            }

            return 0;
        }));

        var signIn = new Command("sign-in", "Sign in with password and TOTP code and print a session token (use it as --token or CITYWATCH_TOKEN)") { username, totp, CliCommon.Server };
        signIn.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            var code = Totp(result) ?? AnsiConsole.Prompt(new TextPrompt<string>("TOTP code:"));
            using var response = await client.PostAsJsonAsync("api/auth/sign-in", new { username = result.GetValue(username), password = CliCommon.Password(), totp = code }, CliCommon.JsonOptions, ct);
            var signedIn = await CliCommon.ReadAsync<SignedIn>(response, ct);
            Console.WriteLine(signedIn.Token);
            return 0;
        }));

        var invitationCode = new Option<string>("--code") { Description = "The invitation code you were handed", Required = true };
        var accept = new Command("accept", "Accept an invitation: choose your password (first run, prints your TOTP secret), then confirm a code (--totp)") { invitationCode, totp, CliCommon.Server };
        accept.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            if (Totp(result) is { Length: > 0 } code)
            {
                using var confirmed = await client.PostAsJsonAsync("api/invitations/confirm", new { code = result.GetValue(invitationCode), totp = code }, CliCommon.JsonOptions, ct);
                var account = await CliCommon.ReadAsync<Account>(confirmed, ct);
                Console.WriteLine($"accepted: '{account.Username}' signs in with password and TOTP code");
                return 0;
            }

            using var response = await client.PostAsJsonAsync("api/invitations/accept", new { code = result.GetValue(invitationCode), password = CliCommon.Password("Choose a password:") }, CliCommon.JsonOptions, ct);
            var enrolment = await CliCommon.ReadAsync<TotpEnrolment>(response, ct);
            Console.WriteLine($"TOTP secret: {enrolment.Secret}");
            Console.WriteLine($"  {enrolment.Uri}");
            Console.WriteLine("Add it to an authenticator app, then run this again with --totp CODE to finish.");
            return 0;
        }));

        var name = new Argument<string>("username") { Description = "The account's name" };
        var add = new Command("add", "Invite a person: creates the account without a password and prints the one-time invitation code") { name, personName, identityRef, CliCommon.Server, CliCommon.Token };
        add.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            var user = result.GetValue(name)!;
            using var response = await client.PostAsJsonAsync("api/accounts", new AccountInput(user, result.GetValue(personName)!, result.GetValue(identityRef)!), CliCommon.JsonOptions, ct);
            var invitation = await CliCommon.ReadAsync<IssuedInvitation>(response, ct);
            Console.WriteLine($"invited account {invitation.AccountId} '{invitation.Username}'; invitation code (until {invitation.ExpiresAt:u}):");
            Console.WriteLine(invitation.Code);
            return 0;
        }));

        var reissue = new Command("invite-again", "A new invitation code for an account that never accepted (the old one stops working)") { name, CliCommon.Server, CliCommon.Token };
        reissue.SetAction((result, ct) => InvitationAsync(result, result.GetValue(name)!, "invitation", ct));
        var reset = new Command("reset", "Reset a password: a new invitation that clears the password and TOTP (for oversight and administrator accounts, once a second person approves)") { name, CliCommon.Server, CliCommon.Token };
        reset.SetAction((result, ct) => InvitationAsync(result, result.GetValue(name)!, "reset", ct));

        var id = new Argument<long>("id") { Description = "The id of the pending role grant or reset" };
        var pending = new Command("pending", "Role grants and password resets waiting for a second person") { CliCommon.Server, CliCommon.Token };
        pending.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var grants = await client.GetAsync("api/role-grants/pending", ct);
            foreach (var grant in await CliCommon.ReadAsync<List<PendingGrant>>(grants, ct))
            {
                Console.WriteLine($"role  #{grant.Grant.Id,-5} {grant.Username,-20} {Describe(grant.Grant)} asked by {grant.Grant.GrantedBy}");
            }

            using var resets = await client.GetAsync("api/invitations/pending", ct);
            foreach (var invitation in await CliCommon.ReadAsync<List<InvitationView>>(resets, ct))
            {
                Console.WriteLine($"reset #{invitation.Id,-5} {invitation.Username,-20} asked by {invitation.IssuedBy}");
            }

            return 0;
        }));
        var approveRole = new Command("approve-role", "Approve a pending role grant (a second person holding an oversight role)") { id, CliCommon.Server, CliCommon.Token };
        approveRole.SetAction((result, ct) => DecideAsync(result, $"api/role-grants/{result.GetValue(id)}/approve", "approved role grant", ct));
        var rejectRole = new Command("reject-role", "Reject a pending role grant") { id, CliCommon.Server, CliCommon.Token };
        rejectRole.SetAction((result, ct) => DecideAsync(result, $"api/role-grants/{result.GetValue(id)}/reject", "rejected role grant", ct));
        var approveReset = new Command("approve-reset", "Approve a pending password reset (a second person holding an oversight role)") { id, CliCommon.Server, CliCommon.Token };
        approveReset.SetAction((result, ct) => DecideAsync(result, $"api/invitations/{result.GetValue(id)}/approve", "approved reset", ct));

        var list = new Command("list", "List accounts with their roles") { CliCommon.Server, CliCommon.Token };
        list.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            foreach (var account in await AccountsAsync(client, ct))
            {
                var roles = string.Join(", ", account.Roles.Select(Describe));
                var state = account.Disabled ? "disabled" : account.Accepted ? "enabled" : "invited";
                Console.WriteLine($"{account.Id,4} {account.Username,-20} {state,-9} {roles}");
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
                Console.WriteLine(granted.Status == GrantStatus.Pending
                    ? $"asked for {account.Username} {Describe(granted)}: in force once a second person runs `citywatch users approve-role {granted.Id}`"
                    : $"gave {account.Username} {Describe(granted)}");
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

        return new Command("users", "Accounts and roles") { setup, signIn, accept, add, reissue, reset, list, roles, pending, approveRole, rejectRole, approveReset, disable };
    }

    private static string Describe(RoleGrant grant)
    {
        var scope = grant.CameraIds is { } c ? $" cameras {string.Join(",", c)}" : grant.SiteIds is { } s ? $" sites {string.Join(",", s)}" : "";
        var until = grant.ValidUntil is { } u ? string.Create(CultureInfo.InvariantCulture, $" until {u:yyyy-MM-dd HH:mm}") : "";
        var status = grant.Status == GrantStatus.Active ? "" : $" [{grant.Status.ToString().ToLowerInvariant()}]";
        return $"{grant.Role}{scope}{until}{status} (#{grant.Id})";
    }

    private static QuorumMember ParseMember(string value)
    {
        var parts = value.Split(':', 4);
        return parts.Length == 4 && Enum.TryParse<Role>(parts[1], ignoreCase: true, out var role)
            ? new QuorumMember(parts[0], parts[3], parts[2], role)
            : throw new InvalidOperationException($"--quorum '{value}': say USERNAME:ROLE:IDENTITY-REF:PERSON NAME");
    }

    private static Task<int> InvitationAsync(ParseResult result, string username, string path, CancellationToken ct) => CliCommon.Guard(async () =>
    {
        using var client = CliCommon.Client(result);
        var account = await FindAsync(client, username, ct);
        using var response = await client.PostAsync($"api/accounts/{account.Id}/{path}", null, ct);
        var invitation = await CliCommon.ReadAsync<IssuedInvitation>(response, ct);
        Console.WriteLine(invitation.Status == InvitationStatus.AwaitingApproval
            ? $"reset #{invitation.Id} of {account.Username} waits for a second person (`citywatch users approve-reset {invitation.Id}`); the code works only then:"
            : $"invitation code for {account.Username} (until {invitation.ExpiresAt:u}):");
        Console.WriteLine(invitation.Code);
        return 0;
    });

    private static Task<int> DecideAsync(ParseResult result, string path, string done, CancellationToken ct) => CliCommon.Guard(async () =>
    {
        using var client = CliCommon.Client(result);
        using var response = await client.PostAsync(path, null, ct);
        await CliCommon.EnsureAsync(response, ct);
        Console.WriteLine(done);
        return 0;
    });

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
