using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Identity;
using CityWatch.Server.Identity;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Identity;

/// <summary>Attempts to get around sign-in and roles; each must be refused with problem details and recorded.</summary>
public sealed class AccessTests : IAsyncLifetime
{
    private RunningServer _server = null!;

    public async Task InitializeAsync() => _server = await RunningServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private IReadOnlyList<LoggedAct> Log(string action) => _server.Services.GetRequiredService<AuditTrail>().Read(0, 10_000, action);

    [Fact]
    public async Task A_disabled_accounts_token_stops_working_at_once_and_the_attempt_is_recorded()
    {
        var token = _server.Tokens["operator"];
        var me = await _server.Operator.GetFromJsonAsync<Caller>("/api/auth/me", ApiCalls.Json);
        (await _server.Admin.PostAsync($"/api/accounts/{me!.AccountId}/disable", null)).EnsureSuccessStatusCode();

        using var reused = await _server.NewClient(token).GetAsync("/api/cameras");

        await AssertProblemAsync(reused, HttpStatusCode.Unauthorized);
        Assert.Contains(Log(SessionAuthentication.Denied), a => a.Outcome == "401" && a.Body.Contains("/api/cameras", StringComparison.Ordinal));
        using var signIn = await _server.Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username = "operator", password = RunningServer.Password, totp = _server.TotpCode("operator") });
        await AssertProblemAsync(signIn, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task An_operator_calling_an_administrator_endpoint_is_refused_and_recorded()
    {
        using var response = await _server.Operator.PostAsJsonAsync("/api/accounts", new AccountInput("mallory", "Mallory", "ID-mallory"), ApiCalls.Json);

        await AssertProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains(Log(SessionAuthentication.Denied), a => a.Actor == "operator" && a.Outcome == "403");
        Assert.DoesNotContain((await _server.Admin.GetFromJsonAsync<List<Account>>("/api/accounts", ApiCalls.Json))!, a => a.Username == "mallory");
    }

    [Fact]
    public async Task An_administrator_cannot_give_itself_the_verifier_role()
    {
        var me = await _server.Admin.GetFromJsonAsync<Caller>("/api/auth/me", ApiCalls.Json);

        using var response = await _server.Admin.PostAsJsonAsync($"/api/accounts/{me!.AccountId}/roles", new RoleGrantInput(Role.Verifier), ApiCalls.Json);

        await AssertProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains(Log(SessionAuthentication.Denied), a => a.Actor == "admin" && a.Body.Contains("themselves", StringComparison.Ordinal));
        var admin = (await _server.Admin.GetFromJsonAsync<List<Account>>("/api/accounts", ApiCalls.Json))!.Single(a => a.Username == "admin");
        Assert.DoesNotContain(admin.Roles, r => r.Role == Role.Verifier);
    }

    [Fact]
    public async Task No_account_holds_administrator_with_verifier_or_authority()
    {
        var verifier = (await _server.Admin.GetFromJsonAsync<List<Account>>("/api/accounts", ApiCalls.Json))!.Single(a => a.Username == "verifier");

        using var response = await _server.Admin.PostAsJsonAsync($"/api/accounts/{verifier.Id}/roles", new RoleGrantInput(Role.Administrator), ApiCalls.Json);

        await AssertProblemAsync(response, HttpStatusCode.Conflict);
        Assert.Contains("Separation of duties", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_edge_key_used_for_a_camera_outside_its_scope_is_refused_and_recorded()
    {
        var mine = await _server.AddCameraAsync("MINE", null, faceRecognition: false);
        var other = await _server.AddCameraAsync("OTHER", null, faceRecognition: false);
        var key = await ApiCalls.ReadAsync<CreatedApiKey>(await _server.Admin.PostAsJsonAsync("/api/keys", new ApiKeyInput("door", [mine.Id]), ApiCalls.Json));
        var edge = _server.NewClient();
        edge.DefaultRequestHeaders.Add("X-Api-Key", key.Secret);

        using var own = await edge.PostAsJsonAsync($"/api/edge/cameras/{mine.Id}/events", new { kind = "heartbeat", at = DateTimeOffset.UnixEpoch });
        using var foreign = await edge.PostAsJsonAsync($"/api/edge/cameras/{other.Id}/events", new { kind = "heartbeat", at = DateTimeOffset.UnixEpoch });

        Assert.Equal(HttpStatusCode.Accepted, own.StatusCode);
        await AssertProblemAsync(foreign, HttpStatusCode.Forbidden);
        Assert.Contains(Log(SessionAuthentication.Denied), a => a.Actor.StartsWith("edge-key:", StringComparison.Ordinal) && a.Body.Contains($"camera {other.Id}", StringComparison.Ordinal));

        (await _server.Admin.PostAsync($"/api/keys/{key.Key.Id}/revoke", null)).EnsureSuccessStatusCode();
        using var revoked = await edge.PostAsJsonAsync($"/api/edge/cameras/{mine.Id}/events", new { kind = "heartbeat", at = DateTimeOffset.UnixEpoch });
        await AssertProblemAsync(revoked, HttpStatusCode.Unauthorized);
        Assert.Single(Log(IdentityApi.KeyCreate));
        Assert.Single(Log(IdentityApi.KeyRevoke));
    }

    [Fact]
    public async Task Brute_force_sign_in_locks_the_account_and_hits_the_rate_limit()
    {
        var statuses = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 25; attempt++)
        {
            using var response = await _server.Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username = "verifier", password = $"guess {attempt}" });
            statuses.Add(response.StatusCode);
        }

        // Failures are 401 (after five the account is locked); once the address has used its 20 attempts a
        // minute (the test set-up used some) every further attempt is throttled with 429.
        var unauthorized = statuses.TakeWhile(s => s == HttpStatusCode.Unauthorized).Count();
        Assert.True(unauthorized >= SignInService.MaxFailures, $"only {unauthorized} attempts before throttling");
        Assert.All(statuses.Skip(unauthorized), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        Assert.Contains(Log(SignInService.SignInFailed), a => a.Actor == "verifier" && a.Outcome.Contains("locked", StringComparison.Ordinal));
        Assert.Contains(Log(SessionAuthentication.Denied), a => a.Outcome == "429");
        // Locked: even the right password is refused now.
        var locked = await _server.Services.GetRequiredService<SignInService>()
            .SignInAsync("verifier", RunningServer.Password, _server.TotpCode("verifier"), "test").ContinueWith(t => t.Exception?.InnerException);
        Assert.IsType<UnauthorizedException>(locked);
    }

    [Fact]
    public async Task A_role_limited_to_one_camera_sees_only_that_cameras_alerts()
    {
        var mine = await _server.AddCameraAsync("MINE", null);
        var other = await _server.AddCameraAsync("OTHER", null);
        var alerts = _server.Services.GetRequiredService<AlertStore>();
        var seen = alerts.Add(Alert(mine.Id));
        var hidden = alerts.Add(Alert(other.Id));
        var scoped = await _server.AccountAsync("night-shift", new RoleGrantInput(Role.Operator, CameraIds: [mine.Id]));

        var page = await scoped.GetFromJsonAsync<CityWatch.Cameras.Page<Alert>>("/api/alerts", ApiCalls.Json);
        using var forbidden = await scoped.GetAsync($"/api/alerts/{hidden.Id}");

        Assert.Equal([seen.Id], page!.Items.Select(a => a.Id));
        Assert.Equal(1, page.Total);
        await AssertProblemAsync(forbidden, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_role_past_its_validity_admits_nothing()
    {
        var now = TimeProvider.System.GetUtcNow();
        var expired = await _server.AccountAsync("temp", new RoleGrantInput(Role.Operator, ValidFrom: now.AddDays(-2), ValidUntil: now.AddDays(-1)));

        using var response = await expired.GetAsync("/api/alerts");

        await AssertProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task The_set_up_token_works_once_and_the_public_sees_account_counts_without_names()
    {
        using var again = await _server.Anonymous.PostAsJsonAsync("/api/setup", new
        {
            token = "cwsetup_guess",
            administrator = new AccountInput("eve", "Eve", "ID-eve"),
            quorum = new[] { new QuorumMember("eve-judge", "Eve", "ID-eve-2", Role.Authority), new QuorumMember("eve-dpo", "Eve", "ID-eve-3", Role.DataProtectionOfficer) },
        }, ApiCalls.Json);
        var counts = await _server.Anonymous.GetFromJsonAsync<Dictionary<string, int>>("/api/public/accounts");

        await AssertProblemAsync(again, HttpStatusCode.Unauthorized);
        Assert.Equal(1, counts!["Administrator"]);
        Assert.Equal(2, counts["Verifier"]);
        Assert.Equal(1, counts["Operator"]);
        Assert.DoesNotContain("admin", JsonSerializer.Serialize(counts), StringComparison.Ordinal);
        Assert.Single(Log(SignInService.Setup));
        Assert.Contains(Log(SignInService.SetupRefused), a => a.Outcome.Contains("set-up token", StringComparison.Ordinal));
        Assert.Contains(Log(SignInService.SignIn), a => a.Actor == "operator");
        Assert.Equal(6, Log(IdentityApi.RoleChange).Count);
    }

    private static NewAlert Alert(long camera) =>
        new(camera, 1, 1, "someone", 1, Guid.NewGuid(), TimeProvider.System.GetUtcNow(), 0.9f, 0.45f, new FaceBox(1, 2, 3, 4), [0xFF, 0xD8, 0xFF, 0xD9]);

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
    }
}
