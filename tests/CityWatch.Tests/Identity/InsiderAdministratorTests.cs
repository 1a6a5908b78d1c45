using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace CityWatch.Tests.Identity;

/// <summary>
/// The outside review's attack: one administrator makes accounts, gives them the oversight roles and signs
/// in as them. Each step is tried through the running server; each must be refused and the refusal logged.
/// </summary>
public sealed class InsiderAdministratorTests : IAsyncLifetime
{
    private RunningServer _server = null!;

    public async Task InitializeAsync() => _server = await RunningServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private IReadOnlyList<LoggedAct> Log(string action) => _server.Services.GetRequiredService<AuditTrail>().Read(0, 10_000, action);

    [Fact]
    public async Task An_invited_account_has_no_password_the_admin_cannot_sign_in_as_it_and_its_code_works_once()
    {
        using var created = await _server.Admin.PostAsJsonAsync("/api/accounts", new AccountInput("sock", "Sock Puppet", "ID-sock"), ApiCalls.Json);
        var body = await created.Content.ReadAsStringAsync();
        var invitation = JsonSerializer.Deserialize<IssuedInvitation>(body, ApiCalls.Json)!;
        using var withPassword = await _server.Admin.PostAsJsonAsync("/api/accounts", new { username = "sock2", personName = "Sock Two", identityReference = "ID-sock2", password = "the admin's own choice" });
        using var asSock = await _server.Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username = "sock", password = "the admin's own choice", totp = "123456" });

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.StartsWith("cwi_", invitation.Code, StringComparison.Ordinal);
        Assert.DoesNotContain("password", body, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.BadRequest, withPassword.StatusCode);
        Assert.DoesNotContain((await _server.Admin.GetFromJsonAsync<List<Account>>("/api/accounts", ApiCalls.Json))!, a => a.Username == "sock2");
        Assert.Equal(HttpStatusCode.Unauthorized, asSock.StatusCode);
        Assert.Contains(Log(SignInService.SignInFailed), a => a.Actor == "sock" && a.Outcome.Contains("invitation not accepted", StringComparison.Ordinal));

        var account = await _server.AcceptAsync(invitation);
        using var again = await _server.Anonymous.PostAsJsonAsync("/api/invitations/accept", new { code = invitation.Code, password = "a second attempt at it" });
        using var reissue = await _server.Admin.PostAsync($"/api/accounts/{account.Id}/invitation", null);

        Assert.True(account.Accepted);
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
        Assert.Contains(Log(IdentityActions.InvitationRefused), a => a.Actor == "sock" && a.Outcome == "invitation already used");
        Assert.Equal(HttpStatusCode.Conflict, reissue.StatusCode);
        Assert.Contains(Log(IdentityActions.InvitationRefused), a => a.Actor == "admin" && a.Outcome.Contains("has a password", StringComparison.Ordinal));
        Assert.NotNull(await _server.SignInAsync("sock", RunningServer.Password));
    }

    [Fact]
    public async Task An_expired_invitation_is_refused_and_recorded()
    {
        var time = new FakeTimeProvider(TimeProvider.System.GetUtcNow());
        await using var server = await RunningServer.StartAsync(time: time);
        var invitation = await ApiCalls.ReadAsync<IssuedInvitation>(await server.Admin.PostAsJsonAsync("/api/accounts", new AccountInput("late", "Late Comer", "ID-late"), ApiCalls.Json));

        time.Advance(server.Options.InvitationLifetime + TimeSpan.FromMinutes(1));
        using var accept = await server.Anonymous.PostAsJsonAsync("/api/invitations/accept", new { code = invitation.Code, password = RunningServer.Password });

        Assert.Equal(HttpStatusCode.Unauthorized, accept.StatusCode);
        Assert.Contains("expired", await accept.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains(server.Services.GetRequiredService<AuditTrail>().Read(0, 10_000, IdentityActions.InvitationRefused), a => a.Actor == "late" && a.Outcome == "invitation expired");
        Assert.False(server.Services.GetRequiredService<IdentityStore>().FindByName("late")!.Accepted);
    }

    [Fact]
    public async Task Sign_in_without_a_totp_code_with_a_wrong_one_or_with_a_used_one_fails_and_is_recorded()
    {
        var right = _server.TotpCode("operator");
        var wrong = string.Concat(right.Select(c => (char)('0' + ((c - '0' + 1) % 10))));

        using var none = await _server.Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username = "operator", password = RunningServer.Password });
        using var bad = await _server.Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username = "operator", password = RunningServer.Password, totp = wrong });
        using var good = await _server.Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username = "operator", password = RunningServer.Password, totp = right });
        using var replayed = await _server.Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username = "operator", password = RunningServer.Password, totp = right });

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, replayed.StatusCode);
        var failures = Log(SignInService.SignInFailed).Where(a => a.Actor == "operator").Select(a => a.Outcome).ToList();
        Assert.Contains("no TOTP code", failures);
        Assert.Equal(2, failures.Count(f => f == "wrong or reused TOTP code"));
    }

    [Fact]
    public async Task An_authority_grant_takes_effect_only_when_a_second_oversight_person_approves_it()
    {
        // The administrator invites a sock puppet and, holding its invitation code, accepts it as that person.
        var sockId = (await _server.InviteAsync("sock")).Id;
        var sock = _server.NewClient(await _server.SignInAsync("sock", RunningServer.Password));
        var camera = await _server.AddCameraAsync("SQUARE", null);
        var watchlist = await _server.AddWatchlistAsync("sought");
        var basis = await _server.PreparedBasisAsync(ApiCalls.Draft([camera.Id], [watchlist.Id], ProcessingPurpose.Retrospective));
        var grant = await ApiCalls.ReadAsync<RoleGrant>(await _server.Admin.PostAsJsonAsync($"/api/accounts/{sockId}/roles", new RoleGrantInput(Role.Authority), ApiCalls.Json));

        using var early = await sock.PostAsJsonAsync($"/api/legal-bases/{basis.Id}/authorise", new AuthorityDecision("T-1"), ApiCalls.Json);
        using var byAdmin = await _server.Admin.PostAsync($"/api/role-grants/{grant.Id}/approve", null);

        Assert.Equal(GrantStatus.Pending, grant.Status);
        Assert.Equal(HttpStatusCode.Forbidden, early.StatusCode);
        Assert.Contains(Log(SessionAuthentication.Denied), a => a.Actor == "sock" && a.Body.Contains($"/api/legal-bases/{basis.Id}/authorise", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Forbidden, byAdmin.StatusCode);
        Assert.Contains(Log(SessionAuthentication.Denied), a => a.Actor == "admin" && a.Body.Contains($"/api/role-grants/{grant.Id}/approve", StringComparison.Ordinal));
        Assert.Contains(Log(IdentityActions.RoleChange), a => a.Actor == "admin" && a.Outcome.StartsWith("requested", StringComparison.Ordinal) && a.Body.Contains("\"sock\"", StringComparison.Ordinal));
        Assert.Contains(grant.Id, (await _server.Dpo.GetFromJsonAsync<List<PendingGrant>>("/api/role-grants/pending", ApiCalls.Json))!.Select(p => p.Grant.Id));

        var approved = await ApiCalls.ReadAsync<RoleGrant>(await _server.Dpo.PostAsync($"/api/role-grants/{grant.Id}/approve", null));
        var authorised = await ApiCalls.ReadAsync<LegalBasis>(await sock.PostAsJsonAsync($"/api/legal-bases/{basis.Id}/authorise", new AuthorityDecision("T-1"), ApiCalls.Json));

        Assert.Equal(GrantStatus.Active, approved.Status);
        Assert.Equal("dpo", approved.DecidedBy);
        Assert.Contains(authorised.Status, new[] { LegalBasisStatus.Authorised, LegalBasisStatus.Active });
        Assert.Contains(Log(IdentityActions.RoleChange), a => a.Actor == "dpo" && a.Outcome == "approved");
    }

    [Fact]
    public async Task Neither_the_granter_nor_the_grantee_can_be_the_second_person()
    {
        // An administrator who also holds an oversight role (the DPO role, which it may hold) asks for a grant ...
        var admin = (await _server.Admin.GetFromJsonAsync<Caller>("/api/auth/me", ApiCalls.Json))!;
        var other = await _server.InviteAsync("admin2");
        await _server.ApproveAsync(await ApiCalls.ReadAsync<RoleGrant>(await _server.Admin.PostAsJsonAsync($"/api/accounts/{other.Id}/roles", new RoleGrantInput(Role.Administrator), ApiCalls.Json)));
        var admin2 = _server.NewClient(await _server.SignInAsync("admin2", RunningServer.Password));
        await _server.ApproveAsync(await ApiCalls.ReadAsync<RoleGrant>(await admin2.PostAsJsonAsync($"/api/accounts/{admin.AccountId}/roles", new RoleGrantInput(Role.DataProtectionOfficer), ApiCalls.Json)));
        // ... for an account that already holds an oversight role (a verifier), and both try to approve it.
        var verifier = (await _server.Verifier.GetFromJsonAsync<Caller>("/api/auth/me", ApiCalls.Json))!;
        var grant = await ApiCalls.ReadAsync<RoleGrant>(await _server.Admin.PostAsJsonAsync($"/api/accounts/{verifier.AccountId}/roles", new RoleGrantInput(Role.Authority), ApiCalls.Json));

        using var byGranter = await _server.Admin.PostAsync($"/api/role-grants/{grant.Id}/approve", null);
        using var byGrantee = await _server.Verifier.PostAsync($"/api/role-grants/{grant.Id}/approve", null);

        Assert.Equal(HttpStatusCode.Forbidden, byGranter.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, byGrantee.StatusCode);
        var denied = Log(SessionAuthentication.Denied);
        Assert.Contains(denied, a => a.Actor == "admin" && a.Body.Contains("Whoever asked for this role grant cannot approve it", StringComparison.Ordinal));
        Assert.Contains(denied, a => a.Actor == "verifier" && a.Body.Contains("own account", StringComparison.Ordinal));
        var account = (await _server.Admin.GetFromJsonAsync<List<Account>>("/api/accounts", ApiCalls.Json))!.Single(a => a.Id == verifier.AccountId);
        Assert.Equal(GrantStatus.Pending, account.Roles.Single(r => r.Id == grant.Id).Status);
        Assert.DoesNotContain((await _server.Verifier.GetFromJsonAsync<Caller>("/api/auth/me", ApiCalls.Json))!.Roles, r => r.Role == Role.Authority);
    }

    [Fact]
    public async Task A_second_account_for_the_same_person_is_refused_and_recorded()
    {
        using var first = await _server.Admin.PostAsJsonAsync("/api/accounts", new AccountInput("mallory", "Mallory", "AB-123 456"), ApiCalls.Json);
        using var second = await _server.Admin.PostAsJsonAsync("/api/accounts", new AccountInput("mallory-judge", "M. Allory", "ab123456"), ApiCalls.Json);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains("at most one account", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains(Log(IdentityActions.AccountRefused), a => a.Actor == "admin" && a.Body.Contains("mallory-judge", StringComparison.Ordinal));
        Assert.DoesNotContain((await _server.Admin.GetFromJsonAsync<List<Account>>("/api/accounts", ApiCalls.Json))!, a => a.Username == "mallory-judge");
        // Only the keyed hash is stored: the reference itself is nowhere in the database.
        var bytes = await File.ReadAllBytesAsync(_server.Services.GetRequiredService<CityWatch.Data.CityWatchDatabase>().Path);
        Assert.DoesNotContain("AB123456", System.Text.Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resetting_an_oversight_account_waits_for_a_second_person_before_the_code_works()
    {
        var authority = (await _server.Authority.GetFromJsonAsync<Caller>("/api/auth/me", ApiCalls.Json))!;
        var reset = await ApiCalls.ReadAsync<IssuedInvitation>(await _server.Admin.PostAsync($"/api/accounts/{authority.AccountId}/reset", null));

        using var early = await _server.Anonymous.PostAsJsonAsync("/api/invitations/accept", new { code = reset.Code, password = "the admin takes over now" });
        using var stillSignedIn = await _server.Authority.GetAsync("/api/auth/me");
        using var byAdmin = await _server.Admin.PostAsync($"/api/invitations/{reset.Id}/approve", null);

        Assert.Equal(InvitationStatus.AwaitingApproval, reset.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, early.StatusCode);
        Assert.Contains(Log(IdentityActions.InvitationRefused), a => a.Actor == "authority" && a.Outcome == "reset not approved yet");
        Assert.Equal(HttpStatusCode.OK, stillSignedIn.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, byAdmin.StatusCode);

        var approved = await ApiCalls.ReadAsync<InvitationView>(await _server.Dpo.PostAsync($"/api/invitations/{reset.Id}/approve", null));
        using var afterReset = await _server.Authority.GetAsync("/api/auth/me");
        await _server.AcceptAsync(reset, "the authority's new password");

        Assert.Equal(InvitationStatus.Open, approved.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, afterReset.StatusCode);
        Assert.Contains(Log(IdentityActions.Invitation), a => a.Actor == "admin" && a.Outcome.StartsWith("reset requested", StringComparison.Ordinal));
        Assert.Contains(Log(IdentityActions.Invitation), a => a.Actor == "dpo" && a.Outcome.StartsWith("reset approved", StringComparison.Ordinal));
        Assert.NotNull(await _server.SignInAsync("authority", "the authority's new password"));
    }

    [Fact]
    public async Task The_public_history_shows_the_bootstrap_and_each_role_change_with_counts_and_no_names()
    {
        var sock = await _server.InviteAsync("sock");
        var grant = await ApiCalls.ReadAsync<RoleGrant>(await _server.Admin.PostAsJsonAsync($"/api/accounts/{sock.Id}/roles", new RoleGrantInput(Role.Authority), ApiCalls.Json));
        await ApiCalls.ReadAsync<RoleGrant>(await _server.Dpo.PostAsync($"/api/role-grants/{grant.Id}/reject", null));

        using var response = await _server.Anonymous.GetAsync("/api/public/accounts/history");
        var json = await response.Content.ReadAsStringAsync();
        var history = JsonSerializer.Deserialize<IdentityApi.AccountHistory>(json, ApiCalls.Json)!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([Role.Administrator, Role.Authority, Role.DataProtectionOfficer], history.Changes.Where(c => c.Change == RoleChangeKind.Bootstrap).Select(c => c.Role));
        Assert.Contains(history.Changes, c => c is { Role: Role.Verifier, Change: RoleChangeKind.Requested, CountAfter: 0 });
        Assert.Contains(history.Changes, c => c is { Role: Role.Verifier, Change: RoleChangeKind.Approved, CountAfter: 2 });
        var last = history.Changes[^1];
        Assert.Equal((Role.Authority, RoleChangeKind.Rejected, 1), (last.Role, last.Change, last.CountAfter));
        Assert.Equal(1, history.Counts["Authority"]);
        Assert.Equal(2, history.Counts["Verifier"]);
        foreach (var name in new[] { "admin", "sock", "dpo", "Person ", "ID-" })
        {
            Assert.DoesNotContain(name, json, StringComparison.Ordinal);
        }

        var setup = Assert.Single(Log(SignInService.Setup));
        Assert.StartsWith("bootstrap", setup.Outcome, StringComparison.Ordinal);
    }
}
