using System.Net.Http.Headers;
using System.Net.Http.Json;
using CityWatch.Identity;
using CityWatch.Keys;
using CityWatch.Server;
using CityWatch.Server.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OtpNet;

namespace CityWatch.Tests.Support;

/// <summary>The real server (Kestrel, SQLite file) on 127.0.0.1 with a free port, stopped and deleted on dispose.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _ownsData;

    private RunningServer(WebApplication app, ServerOptions options, bool ownsData)
    {
        _app = app;
        _ownsData = ownsData;
        Options = options;
        Address = new Uri(app.Urls.First());
        Anonymous = NewClient();
    }

    /// <summary>The password every test account holder chooses when accepting their invitation.</summary>
    public const string Password = "correct horse battery staple";

    public ServerOptions Options { get; }

    public Uri Address { get; }

    /// <summary>A client with no credentials: a member of the public.</summary>
    public HttpClient Anonymous { get; }

    /// <summary>Signed-in clients by role: one account per role (two verifiers), made through the API at start.</summary>
    public IReadOnlyDictionary<Role, HttpClient> Clients => _clients;

    public HttpClient Admin => _clients[Role.Administrator];

    public HttpClient Operator => _clients[Role.Operator];

    public HttpClient Investigator => _clients[Role.Investigator];

    public HttpClient Authority => _clients[Role.Authority];

    public HttpClient Verifier => _clients[Role.Verifier];

    public HttpClient SecondVerifier { get; private set; } = null!;

    public HttpClient Dpo => _clients[Role.DataProtectionOfficer];

    /// <summary>Session tokens by account name, for the CLI tests.</summary>
    public IReadOnlyDictionary<string, string> Tokens => _tokens;

    private readonly Dictionary<Role, HttpClient> _clients = [];
    private readonly Dictionary<string, string> _tokens = [];
    private readonly Dictionary<string, string> _secrets = [];
    private readonly List<HttpClient> _owned = [];

    public HttpClient NewClient(string? token = null)
    {
        // No cookie jar: a client is exactly as signed in as its token says (sign-in also sets a cookie).
        var client = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = Address, Timeout = TimeSpan.FromMinutes(2) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        _owned.Add(client);
        return client;
    }

    /// <summary>Signs in with the password and the account's next TOTP code (when the test knows its secret).</summary>
    public async Task<string> SignInAsync(string username, string password)
    {
        using var response = await Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username, password, totp = _secrets.ContainsKey(username) ? TotpCode(username) : null });
        var signedIn = await ApiCalls.ReadAsync<SignedIn>(response);
        _tokens[username] = signedIn.Token;
        return signedIn.Token;
    }

    /// <summary>The TOTP secret an account holder received on accepting their invitation.</summary>
    public string TotpSecret(string username) => _secrets[username];

    /// <summary>Lets the test act as the authenticator of an account whose secret it learnt elsewhere (the demo's file).</summary>
    public void RememberTotpSecret(string username, string secret) => _secrets[username] = secret;

    /// <summary>
    /// The account's TOTP code (RFC 6238, computed here with Otp.NET from the secret the server returned)
    /// for the earliest time step the server still accepts and that the account has not used yet (read from
    /// the server's record): a code is good once, and the server admits one step either side of now, so an
    /// account signs in at most three times per 30-second step.
    /// </summary>
    public string TotpCode(string username)
    {
        var store = Services.GetRequiredService<IdentityStore>();
        var last = store.FindByName(username) is { } account ? store.Credentials(account.Id).TotpLastStep : null;
        var (current, step) = Step(last);
        var untilNextStep = 30_000 - Options.Time.GetUtcNow().ToUnixTimeMilliseconds() % 30_000;
        if (step == current - 1 && untilNextStep < 10_000 && Options.Time == TimeProvider.System)
        {
            // On a loaded machine the request can reach the server after the step boundary, when the previous
            // step is no longer accepted (a browser sign-in fills three fields and clicks before it sends): wait for
            // the boundary (under 10 s) and take the code then.
            Thread.Sleep(TimeSpan.FromMilliseconds(untilNextStep + 100));
            (current, step) = Step(last);
        }

        if (step > current + 1)
        {
            Assert.Fail($"{username} has used every TOTP code the server accepts now.");
        }

        return Code(_secrets[username], DateTimeOffset.FromUnixTimeSeconds(step * 30));
    }

    private (long Current, long Step) Step(long? lastUsed)
    {
        var current = Options.Time.GetUtcNow().ToUnixTimeSeconds() / 30;
        return (current, lastUsed is { } used ? Math.Max(current - 1, used + 1) : current - 1);
    }

    /// <summary>The TOTP code of <paramref name="secret"/> (base32) at <paramref name="at"/>.</summary>
    public static string Code(string secret, DateTimeOffset at) => new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(at.UtcDateTime);

    /// <summary>The holder of an invitation chooses a password, receives the TOTP secret and confirms one code.</summary>
    public async Task<Account> AcceptAsync(IssuedInvitation invitation, string password = Password)
    {
        var enrolment = await ApiCalls.ReadAsync<TotpEnrolment>(await Anonymous.PostAsJsonAsync("/api/invitations/accept", new { code = invitation.Code, password }));
        _secrets[invitation.Username] = enrolment.Secret;
        return await ApiCalls.ReadAsync<Account>(await Anonymous.PostAsJsonAsync("/api/invitations/confirm", new { code = invitation.Code, totp = TotpCode(invitation.Username) }));
    }

    /// <summary>The administrator invites a person (identity reference "ID-name"), who accepts.</summary>
    public async Task<Account> InviteAsync(string name)
    {
        var invitation = await ApiCalls.ReadAsync<IssuedInvitation>(await Admin.PostAsJsonAsync("/api/accounts", new AccountInput(name, $"Person {name}", $"ID-{name}"), ApiCalls.Json));
        return await AcceptAsync(invitation);
    }

    /// <summary>
    /// A person invited by the administrator, given the roles (approved by the data-protection officer, or by
    /// the authority for the officer's own account, where a second person is needed), signed in.
    /// </summary>
    public async Task<HttpClient> AccountAsync(string name, params RoleGrantInput[] grants)
    {
        var account = await InviteAsync(name);
        foreach (var input in grants)
        {
            var grant = await ApiCalls.ReadAsync<RoleGrant>(await Admin.PostAsJsonAsync($"/api/accounts/{account.Id}/roles", input, ApiCalls.Json));
            if (grant.Status == GrantStatus.Pending)
            {
                await ApproveAsync(grant);
            }
        }

        return NewClient(await SignInAsync(name, Password));
    }

    public Task<HttpClient> AccountAsync(string name, params Role[] roles) => AccountAsync(name, roles.Select(r => new RoleGrantInput(r)).ToArray());

    /// <summary>A second person (the DPO, or the authority for the DPO's own account) approves a pending grant.</summary>
    public async Task<RoleGrant> ApproveAsync(RoleGrant grant)
    {
        var dpo = await Dpo.GetFromJsonAsync<Caller>("/api/auth/me", ApiCalls.Json);
        var approver = dpo!.AccountId == grant.AccountId ? Authority : Dpo;
        return await ApiCalls.ReadAsync<RoleGrant>(await approver.PostAsync($"/api/role-grants/{grant.Id}/approve", null));
    }

    /// <summary>
    /// Set-up with the one-time token: the first administrator and the first oversight quorum (an authority
    /// and a data-protection officer), each accepting their invitation; then one account per other role.
    /// </summary>
    private async Task CreateAccountsAsync()
    {
        if (Services.GetRequiredService<SetupTokenHolder>().Token is null && KnownSecrets.TryGetValue(Options.DataDirectory, out var known))
        {
            await SignInAgainAsync(known);
            return;
        }

        var token = Services.GetRequiredService<SetupTokenHolder>().Token!;
        var setup = await ApiCalls.ReadAsync<SetupResult>(await Anonymous.PostAsJsonAsync("/api/setup", new
        {
            token,
            administrator = new AccountInput("admin", "Person admin", "ID-admin"),
            quorum = new[] { new QuorumMember("authority", "Person authority", "ID-authority", Role.Authority), new QuorumMember("dpo", "Person dpo", "ID-dpo", Role.DataProtectionOfficer) },
        }, ApiCalls.Json));
        foreach (var invitation in setup.Quorum.Prepend(setup.Administrator))
        {
            await AcceptAsync(invitation);
        }

        _clients[Role.Administrator] = NewClient(await SignInAsync("admin", Password));
        _clients[Role.Authority] = NewClient(await SignInAsync("authority", Password));
        _clients[Role.DataProtectionOfficer] = NewClient(await SignInAsync("dpo", Password));
        _clients[Role.Operator] = await AccountAsync("operator", Role.Operator);
        _clients[Role.Verifier] = await AccountAsync("verifier", Role.Verifier);
        SecondVerifier = await AccountAsync("verifier2", Role.Verifier);
        _clients[Role.Investigator] = await AccountAsync("investigator", Role.Investigator);
        KnownSecrets[Options.DataDirectory] = new Dictionary<string, string>(_secrets);
    }

    // The TOTP secrets of the accounts made on a data folder, so that a server restarted on it (a test that
    // stops and starts again) signs the same people in.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Dictionary<string, string>> KnownSecrets = new();

    private async Task SignInAgainAsync(Dictionary<string, string> secrets)
    {
        foreach (var (name, secret) in secrets)
        {
            _secrets[name] = secret;
        }

        _clients[Role.Administrator] = NewClient(await SignInAsync("admin", Password));
        _clients[Role.Authority] = NewClient(await SignInAsync("authority", Password));
        _clients[Role.DataProtectionOfficer] = NewClient(await SignInAsync("dpo", Password));
        _clients[Role.Operator] = NewClient(await SignInAsync("operator", Password));
        _clients[Role.Verifier] = NewClient(await SignInAsync("verifier", Password));
        SecondVerifier = NewClient(await SignInAsync("verifier2", Password));
        _clients[Role.Investigator] = NewClient(await SignInAsync("investigator", Password));
    }

    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts a server on <paramref name="dataDirectory"/> (default: a new scratch folder) with
    /// <paramref name="kek"/>, by default the data folder's own random KEK kept beside it (<see cref="TestPaths.KekFor"/>).
    /// </summary>
    public static async Task<RunningServer> StartAsync(bool demo = false, bool runCameras = false, string? dataDirectory = null, OidcOptions? oidc = null, TimeProvider? time = null, KeyEncryptionKey? kek = null, IReadOnlyList<string>? witnessKeys = null, IReadOnlyList<string>? witnessStates = null,
        Func<ServerOptions, ServerOptions>? configure = null)
    {
        var data = dataDirectory ?? TestPaths.NewScratchDirectory();
        var options = new ServerOptions
        {
            DataDirectory = data,
            Kek = kek ?? TestPaths.KekFor(data),
            ModelsDirectory = TestPaths.Models,
            AssetsDirectory = TestPaths.SharedData,
            Urls = "http://127.0.0.1:0",
            Demo = demo,
            RunCameras = runCameras,
            Oidc = oidc,
            Time = time ?? TimeProvider.System,
            WitnessKeys = witnessKeys ?? [],
            WitnessStates = witnessStates ?? [],
        };
        options = configure?.Invoke(options) ?? options;
        var app = CityWatchServer.Build(options);
        await app.StartAsync();
        var server = new RunningServer(app, options, dataDirectory is null);
        if (!demo)
        {
            await server.CreateAccountsAsync();
        }

        return server;
    }

    /// <summary>
    /// A copy of a stopped server's data folder (database, WAL and evidence) in a new scratch folder, with the
    /// same KEK beside it and the same accounts' TOTP secrets, so a server started on the copy signs them in.
    /// </summary>
    public static string CopyDataFolder(string dataDirectory)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var copy = TestPaths.NewScratchDirectory();
        foreach (var file in Directory.EnumerateFiles(dataDirectory, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(dataDirectory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(TestPaths.KekFileFor(copy))!);
        File.Copy(TestPaths.KekFileFor(dataDirectory), TestPaths.KekFileFor(copy));
        if (KnownSecrets.TryGetValue(dataDirectory, out var secrets))
        {
            KnownSecrets[copy] = secrets;
        }

        return copy;
    }

    /// <summary>
    /// Lets a server started on <paramref name="to"/> sign in the accounts made on <paramref name="from"/>: a second
    /// server on the same PostgreSQL database (its own data folder) shares the first one's accounts.
    /// </summary>
    public static void ShareAccounts(string from, string to) => KnownSecrets[to] = KnownSecrets[from];

    /// <summary>Polls until <paramref name="condition"/> holds or the deadline passes (then fails with <paramref name="what"/>).</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan deadline, string what)
    {
        var until = Environment.TickCount64 + (long)deadline.TotalMilliseconds;
        while (Environment.TickCount64 < until)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"Timed out waiting for {what}.");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _owned)
        {
            client.Dispose();
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_ownsData)
        {
            try
            {
                Directory.Delete(Options.DataDirectory, recursive: true);
                TestPaths.DeleteKekOf(Options.DataDirectory);
            }
            catch (IOException)
            {
                // a scratch folder left in /tmp does no harm
            }
        }
    }
}
