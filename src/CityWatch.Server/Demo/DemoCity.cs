using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Cameras;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Server.Identity;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Vision;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace CityWatch.Server.Demo;

/// <summary>
/// Seeds the demo city once the server listens, as an outside client would: through the public API
/// (camera import, watchlist, a legal basis marked as a demonstration taken through its lifecycle -
/// registered, prerequisites recorded, authorised by the authority - enrolments from shared photos, the
/// watchlist approved by a second account, and a deployment started by an operator). Run again on the same data folder, it finds everything in place and
/// changes nothing.
/// </summary>
public sealed partial class DemoCity(
    IServer server,
    IHostApplicationLifetime lifetime,
    ServerOptions options,
    Readiness readiness,
    SetupTokenHolder setupToken,
    IdentityStore identities,
    TimeProvider time,
    ILogger<DemoCity> logger) : BackgroundService
{
    public const string WatchlistName = "Demo watchlist";

    // One session per demo person per run: each sign-in uses up a TOTP code (good once).
    private readonly Dictionary<string, HttpClient> _sessions = [];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(stoppingToken);
        }

        try
        {
            await SeedAsync(stoppingToken);
            readiness.MarkReady();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailed(logger, e.Message);
            readiness.MarkFailed($"The demo city could not be set up: {e.Message}");
        }
        finally
        {
            foreach (var client in _sessions.Values)
            {
                client.Dispose();
            }

            _sessions.Clear();
        }
    }

    private async Task SeedAsync(CancellationToken cancellationToken)
    {
        var setup = options.DemoSetup ?? DemoSetup.FromAssets(options.AssetsDirectory, options.DemoStreaming);
        var address = server.Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
        var accounts = await DemoAccountsAsync(address, cancellationToken);
        var admin = await SignedInAsync(address, accounts, "demo-admin", cancellationToken);
        var investigator = await SignedInAsync(address, accounts, "demo-investigator", cancellationToken);
        var authority = await SignedInAsync(address, accounts, "demo-authority", cancellationToken);

        var cameras = await FirstCamerasAsync(admin, options.DemoStreaming, cancellationToken);
        if (cameras.Total == 0)
        {
            using var csv = new StringContent(setup.CamerasCsv, System.Text.Encoding.UTF8, "text/csv");
            await SendAsync<ImportResult>(admin.PostAsync("api/cameras/import?format=csv", csv, cancellationToken), cancellationToken);
            cameras = await FirstCamerasAsync(admin, options.DemoStreaming, cancellationToken);
        }

        var watchlists = await GetAsync<List<Watchlist>>(investigator, "api/watchlists", cancellationToken);
        var watchlist = watchlists.FirstOrDefault(w => w.Name == WatchlistName)
            ?? await SendAsync<Watchlist>(investigator.PostAsJsonAsync("api/watchlists", new WatchlistInput(WatchlistName, "People sought in the demonstration (photos from the shared test set)"), Json, cancellationToken), cancellationToken);

        // The demonstration basis goes through the whole lifecycle, by the people the law names: an
        // investigator registers it and records its prerequisites, the authority authorises it.
        var bases = await GetAsync<List<LegalBasis>>(investigator, "api/legal-bases", cancellationToken);
        var now = time.GetUtcNow();
        var streaming = cameras.Items.Where(c => c.StreamUrl is not null && c.FaceRecognitionAllowed).Select(c => c.Id).ToList();
        var basis = bases.FirstOrDefault(b => b.IsDemonstration && b.Status == LegalBasisStatus.Active);
        if (basis is null)
        {
            var draft = new LegalBasisDraft(
                "DEMONSTRATION ONLY - not a real authorisation",
                "Demonstration: no legal instrument; shows how a basis is registered and enforced",
                "CityWatch demo",
                LegalObjective.VictimOrMissingPersonSearch,
                "Demonstration of a search for missing persons on a watchlist at a transport hub",
                [ProcessingPurpose.Live, ProcessingPurpose.Retrospective, ProcessingPurpose.Enrolment],
                streaming,
                [watchlist.Id],
                now.AddMinutes(-1),
                now.AddDays(30),
                MaxRetentionDays: 7,
                MaxWatchlistEntries: 10,
                IsDemonstration: true);
            basis = await SendAsync<LegalBasis>(investigator.PostAsJsonAsync("api/legal-bases", draft, Json, cancellationToken), cancellationToken);
            var prerequisites = new Prerequisites(
                "DEMO-DPIA (demonstration: no real assessment)",
                new FriaAssessment(
                    "Demonstration: live identification on the demo cameras against the demo watchlist",
                    "Demonstration: while the demo runs, at most 30 days",
                    "Demonstration: people in the shared test video",
                    "Demonstration: misidentification; chilling effect",
                    "Demonstration: every alert is a candidate until two verifiers confirm it",
                    "Demonstration: deployments can be stopped at once; complaints to the demo DPO"),
                "DEMO-REGISTRATION",
                "DEMO-REGULATOR-OPINION");
            await SendAsync<LegalBasis>(investigator.PostAsJsonAsync($"api/legal-bases/{basis.Id}/prerequisites", prerequisites, Json, cancellationToken), cancellationToken);
            basis = await SendAsync<LegalBasis>(authority.PostAsJsonAsync($"api/legal-bases/{basis.Id}/authorise", new AuthorityDecision($"DEMO-{now:yyyyMMdd}"), Json, cancellationToken), cancellationToken);
        }

        var entries = await GetAsync<List<WatchlistEntry>>(investigator, $"api/watchlists/{watchlist.Id}/entries", cancellationToken);
        foreach (var (identity, photoPath) in setup.People)
        {
            if (entries.Any(e => e.Label == identity))
            {
                continue;
            }

            using var form = new MultipartFormDataContent();
            form.Add(new StringContent(identity), "label");
            form.Add(new StringContent("demonstration"), "category");
            form.Add(new StringContent($"shared test photo {Path.GetFileName(photoPath)}"), "imageSource");
            form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(photoPath, cancellationToken)), "photo", Path.GetFileName(photoPath));
            await SendAsync<WatchlistEntry>(investigator.PostAsync($"api/watchlists/{watchlist.Id}/entries", form, cancellationToken), cancellationToken);
        }

        // A second account (the authority) approves the watchlist as enrolled; an operator deploys that version.
        var current = await GetAsync<Watchlist>(investigator, $"api/watchlists/{watchlist.Id}", cancellationToken);
        if (!current.Approved)
        {
            current = await SendAsync<Watchlist>(authority.PostAsync($"api/watchlists/{watchlist.Id}/approve", null, cancellationToken), cancellationToken);
        }

        var @operator = await SignedInAsync(address, accounts, "demo-operator", cancellationToken);
        var running = (await GetAsync<List<Deployment>>(@operator, "api/deployments", cancellationToken)).Where(d => d.Running && d.LegalBasisId == basis.Id).ToList();
        if (!running.Any(d => d.Watchlists.Any(w => w.WatchlistId == watchlist.Id && w.Digest == current.CurrentDigest)))
        {
            foreach (var stale in running)
            {
                await SendAsync<Deployment>(authority.PostAsJsonAsync($"api/deployments/{stale.Id}/stop", new DeploymentStop("demo watchlist changed"), Json, cancellationToken), cancellationToken);
            }

            await SendAsync<Deployment>(@operator.PostAsJsonAsync("api/deployments", new DeploymentInput(basis.Id, streaming, [watchlist.Id]), Json, cancellationToken), cancellationToken);
        }

        LogReady(logger, cameras.Total, address);
        Console.WriteLine("Demo accounts (also in " + AccountsFile + "):");
        foreach (var (name, account) in accounts)
        {
            Console.WriteLine($"  {name,-20} {account.Role,-22} {account.Password} {account.TotpSecret}");
        }
    }

    /// <summary>The register's first <paramref name="count"/> cameras (the streaming ones come first), page by page.</summary>
    private static async Task<Page<Camera>> FirstCamerasAsync(HttpClient admin, int count, CancellationToken cancellationToken)
    {
        var items = new List<Camera>();
        var total = 0;
        while (items.Count < count)
        {
            var page = await GetAsync<Page<Camera>>(admin, $"api/cameras?offset={items.Count}&limit={Math.Min(count - items.Count, CameraStore.MaxPageSize)}", cancellationToken);
            total = page.Total;
            items.AddRange(page.Items);
            if (page.Items.Count == 0)
            {
                break;
            }
        }

        return new Page<Camera>(items, total, 0, count);
    }

    private string AccountsFile => AccountsFileIn(options.DataDirectory);

    /// <summary>Where the demo keeps its people's passwords and TOTP secrets (owner-only; it is a demo).</summary>
    public static string AccountsFileIn(string dataDirectory) => Path.Combine(dataDirectory, "demo-accounts.txt");

    /// <summary>The demo's people as written to <see cref="AccountsFileIn"/> by an earlier run.</summary>
    public static async Task<Dictionary<string, DemoAccount>> ReadAccountsAsync(string file, CancellationToken cancellationToken) =>
        (await File.ReadAllLinesAsync(file, cancellationToken))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToDictionary(p => p[0], p => new DemoAccount(Enum.Parse<Role>(p[1]), p[2], p[3]));

    /// <summary>A demo person: their role, the password they chose and their TOTP secret (printed: it is a demo).</summary>
    public sealed record DemoAccount(Role Role, string Password, string TotpSecret);

    /// <summary>
    /// The demo's people, one per role (two verifiers). Made on the first run through the API as a city
    /// would: the set-up token invites the administrator and the first oversight quorum (the authority and
    /// the DPO); the administrator invites the others; each person accepts with a random password and
    /// enrols TOTP; the DPO approves the verifiers' grants. Kept in the data folder (owner-only) for later runs.
    /// </summary>
    private async Task<Dictionary<string, DemoAccount>> DemoAccountsAsync(string address, CancellationToken cancellationToken)
    {
        if (File.Exists(AccountsFile))
        {
            return await ReadAccountsAsync(AccountsFile, cancellationToken);
        }

        var token = setupToken.Token ?? throw new InvalidOperationException($"Accounts exist but {AccountsFile} is missing: the demo cannot sign in.");
        var accounts = new Dictionary<string, DemoAccount>();
        using var anonymous = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/") };
        var setup = await SendAsync<SetupResult>(anonymous.PostAsJsonAsync("api/setup", new
        {
            token,
            administrator = new AccountInput("demo-admin", "Demo administrator", "DEMO-0001"),
            quorum = new[]
            {
                new QuorumMember("demo-authority", "Demo authority", "DEMO-0002", Role.Authority),
                new QuorumMember("demo-dpo", "Demo data-protection officer", "DEMO-0003", Role.DataProtectionOfficer),
            },
        }, Json, cancellationToken), cancellationToken);
        accounts["demo-admin"] = await AcceptAsync(anonymous, setup.Administrator, Role.Administrator, cancellationToken);
        accounts["demo-authority"] = await AcceptAsync(anonymous, setup.Quorum[0], Role.Authority, cancellationToken);
        accounts["demo-dpo"] = await AcceptAsync(anonymous, setup.Quorum[1], Role.DataProtectionOfficer, cancellationToken);

        var admin = await SignedInAsync(address, accounts, "demo-admin", cancellationToken);
        var dpo = await SignedInAsync(address, accounts, "demo-dpo", cancellationToken);
        var people = new (string Name, Role Role, string Reference)[]
        {
            ("demo-operator", Role.Operator, "DEMO-0004"), ("demo-verifier-1", Role.Verifier, "DEMO-0005"), ("demo-verifier-2", Role.Verifier, "DEMO-0006"),
            ("demo-investigator", Role.Investigator, "DEMO-0007"),
        };
        foreach (var (name, role, reference) in people)
        {
            var invitation = await SendAsync<IssuedInvitation>(admin.PostAsJsonAsync("api/accounts", new AccountInput(name, $"Demo {role}", reference), Json, cancellationToken), cancellationToken);
            accounts[name] = await AcceptAsync(anonymous, invitation, role, cancellationToken);
            var grant = await SendAsync<RoleGrant>(admin.PostAsJsonAsync($"api/accounts/{invitation.AccountId}/roles", new RoleGrantInput(role), Json, cancellationToken), cancellationToken);
            if (grant.Status == GrantStatus.Pending)
            {
                await SendAsync<RoleGrant>(dpo.PostAsync($"api/role-grants/{grant.Id}/approve", null, cancellationToken), cancellationToken);
            }
        }

        await File.WriteAllLinesAsync(AccountsFile, accounts.Select(a => $"{a.Key} {a.Value.Role} {a.Value.Password} {a.Value.TotpSecret}"), cancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(AccountsFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return accounts;
    }

    private Task<DemoAccount> AcceptAsync(HttpClient anonymous, IssuedInvitation invitation, Role role, CancellationToken cancellationToken) =>
        AcceptAsync(anonymous, invitation, role, time, cancellationToken);

    /// <summary>The invited person chooses a random password, receives the TOTP secret and confirms a code from it (the demo and the benches play the person).</summary>
    public static async Task<DemoAccount> AcceptAsync(HttpClient anonymous, IssuedInvitation invitation, Role role, TimeProvider time, CancellationToken cancellationToken)
    {
        var password = Password();
        var enrolment = await SendAsync<TotpEnrolment>(anonymous.PostAsJsonAsync("api/invitations/accept", new { code = invitation.Code, password }, Json, cancellationToken), cancellationToken);
        var code = SecondFactor.NextCode(enrolment.Secret, time.GetUtcNow(), null);
        await SendAsync<Account>(anonymous.PostAsJsonAsync("api/invitations/confirm", new { code = invitation.Code, totp = code }, Json, cancellationToken), cancellationToken);
        return new DemoAccount(role, password, enrolment.Secret);
    }

    private async Task<HttpClient> SignedInAsync(string address, Dictionary<string, DemoAccount> accounts, string name, CancellationToken cancellationToken)
    {
        if (_sessions.TryGetValue(name, out var session))
        {
            return session;
        }

        session = await SignInAsync(address, identities, time, name, accounts[name], cancellationToken);
        _sessions[name] = session;
        return session;
    }

    /// <summary>A client signed in as the demo person <paramref name="name"/> (bearer token), by password and the next TOTP code.</summary>
    public static async Task<HttpClient> SignInAsync(
        string address, IdentityStore identities, TimeProvider time, string name, DemoAccount account, CancellationToken cancellationToken)
    {
        var client = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/") };
        try
        {
            // The demo plays each person's authenticator: the next code it would show (the server's record
            // of the last step used only spares the demo a refused reuse when it restarts within 30 seconds).
            var last = identities.FindByName(name) is { } known ? identities.TotpLastStep(known.Id) : null;
            var totp = SecondFactor.NextCode(account.TotpSecret, time.GetUtcNow(), last);
            if (totp is null)
            {
                // Restarted quickly: every code the server accepts now is used. The next step brings a new one.
                await Task.Delay(TimeSpan.FromSeconds(SecondFactor.StepSeconds), time, cancellationToken);
                totp = SecondFactor.NextCode(account.TotpSecret, time.GetUtcNow(), last);
            }

            var signedIn = await SendAsync<SignedIn>(client.PostAsJsonAsync("api/auth/sign-in", new { username = name, password = account.Password, totp }, Json, cancellationToken), cancellationToken);
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", signedIn.Token);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static string Password() => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12)).Replace('+', 'x').Replace('/', 'y');

    private static async Task<T> GetAsync<T>(HttpClient client, string path, CancellationToken cancellationToken) =>
        await SendAsync<T>(client.GetAsync(path, cancellationToken), cancellationToken);

    private static async Task<T> SendAsync<T>(Task<HttpResponseMessage> request, CancellationToken cancellationToken)
    {
        using var response = await request;
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        return (await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken))!;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo city ready: {Cameras} cameras, a demonstration legal basis, a demo watchlist; open {Address}/api/alerts")]
    private static partial void LogReady(ILogger logger, int cameras, string address);

    [LoggerMessage(Level = LogLevel.Error, Message = "Demo city setup failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
