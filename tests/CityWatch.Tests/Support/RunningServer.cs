using System.Net.Http.Headers;
using System.Net.Http.Json;
using CityWatch.Identity;
using CityWatch.Keys;
using CityWatch.Server;
using CityWatch.Server.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

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

    /// <summary>The password every test account gets.</summary>
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

    public async Task<string> SignInAsync(string username, string password)
    {
        using var response = await Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username, password });
        var signedIn = await ApiCalls.ReadAsync<SignedIn>(response);
        _tokens[username] = signedIn.Token;
        return signedIn.Token;
    }

    /// <summary>
    /// Creates the first administrator with the set-up token, then one account per role. A server restarted
    /// on a data folder that has them (no set-up token any more) signs the same accounts in again.
    /// </summary>
    private async Task CreateAccountsAsync()
    {
        var token = Services.GetRequiredService<SetupTokenHolder>().Token;
        var restarted = token is null;
        if (!restarted)
        {
            (await Anonymous.PostAsJsonAsync("/api/setup", new { token, username = "admin", displayName = "Admin", password = Password })).EnsureSuccessStatusCode();
        }

        _clients[Role.Administrator] = NewClient(await SignInAsync("admin", Password));
        var people = new (string Name, Role Role)[]
        {
            ("operator", Role.Operator), ("verifier", Role.Verifier), ("verifier2", Role.Verifier), ("investigator", Role.Investigator),
            ("authority", Role.Authority), ("dpo", Role.DataProtectionOfficer),
        };
        foreach (var (name, role) in people)
        {
            if (!restarted)
            {
                var account = await ApiCalls.ReadAsync<Account>(await Admin.PostAsJsonAsync("/api/accounts", new AccountInput(name, name, Password), ApiCalls.Json));
                (await Admin.PostAsJsonAsync($"/api/accounts/{account.Id}/roles", new RoleGrantInput(role), ApiCalls.Json)).EnsureSuccessStatusCode();
            }

            var client = NewClient(await SignInAsync(name, Password));
            if (name == "verifier2")
            {
                SecondVerifier = client;
            }
            else
            {
                _clients[role] = client;
            }
        }
    }
    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts a server on <paramref name="dataDirectory"/> (default: a new scratch folder) with
    /// <paramref name="kek"/>, by default the data folder's own random KEK kept beside it (<see cref="TestPaths.KekFor"/>).
    /// </summary>
    public static async Task<RunningServer> StartAsync(bool demo = false, bool runCameras = false, string? dataDirectory = null, OidcOptions? oidc = null, KeyEncryptionKey? kek = null)
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
        };
        var app = CityWatchServer.Build(options);
        await app.StartAsync();
        var server = new RunningServer(app, options, dataDirectory is null);
        if (!demo)
        {
            await server.CreateAccountsAsync();
        }

        return server;
    }

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
