using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Identity;
using CityWatch.Server.Identity;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Identity;

/// <summary>The identity records logged from leaf <c>since</c> on, as records.</summary>
internal static class IdentityRecords
{
    public static IReadOnlyList<AuditRecord> Since(RunningServer server, long since) =>
        server.Services.GetRequiredService<AuditTrail>().Read(since, 100_000)
            .Select(a => JsonSerializer.Deserialize<AuditRecord>(a.Body)!)
            .ToList();
}

/// <summary>
/// Every identity act (sign-in, failed sign-in, disabling and enabling an account, making and revoking an
/// edge key) commits with its record or not at all: each record is there after the act, and a record the
/// log refuses (a field over <see cref="AuditRecordLimits"/>) refuses the act and leaves the state as it was.
/// </summary>
public sealed class IdentityRecordTests
{
    [Fact]
    public async Task A_sign_in_and_a_failed_sign_in_are_each_recorded_with_the_state_they_change()
    {
        await using var server = await RunningServer.StartAsync();
        var store = server.Services.GetRequiredService<IdentityStore>();
        var account = store.FindByName("operator")!;
        var since = server.Services.GetRequiredService<AuditTrail>().Size;

        using var wrong = await server.Anonymous.PostAsJsonAsync("/api/auth/sign-in", new { username = "operator", password = "not the password", totp = server.TotpCode("operator") });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(1, store.Lockout(account.Id).Failures);
        await server.SignInAsync("operator", RunningServer.Password);

        var records = IdentityRecords.Since(server, since);
        Assert.Contains(records, r => r.Action == SignInService.SignInFailed && r.Actor == "operator" && r.Outcome == "wrong password");
        Assert.Contains(records, r => r.Action == SignInService.SignIn && r.Actor == "operator");
        Assert.Equal(0, store.Lockout(account.Id).Failures);
    }

    [Fact]
    public async Task A_sign_in_whose_record_the_log_refuses_starts_no_session_uses_no_code_and_counts_no_failure()
    {
        await using var server = await RunningServer.StartAsync();
        var store = server.Services.GetRequiredService<IdentityStore>();
        var signIn = server.Services.GetRequiredService<SignInService>();
        var account = store.FindByName("operator")!;
        var tooLong = new string('x', AuditRecordLimits.ParameterValue + 1);
        var lastStep = store.Credentials(account.Id).TotpLastStep;
        var sessions = Sessions(server, account.Id);
        var since = server.Services.GetRequiredService<AuditTrail>().Size;

        await Assert.ThrowsAsync<InvalidRequestException>(() => signIn.SignInAsync("operator", RunningServer.Password, server.TotpCode("operator"), tooLong));
        await Assert.ThrowsAsync<InvalidRequestException>(() => signIn.SignInAsync("operator", "not the password", null, tooLong));

        Assert.Equal(lastStep, store.Credentials(account.Id).TotpLastStep);
        Assert.Equal(sessions, Sessions(server, account.Id));
        Assert.Equal(0, store.Lockout(account.Id).Failures);
        Assert.DoesNotContain(IdentityRecords.Since(server, since), r => r.Action is SignInService.SignIn or SignInService.SignInFailed);
        // The code that was refused with the act is still good: nothing was used up.
        await server.SignInAsync("operator", RunningServer.Password);
    }

    [Fact]
    public async Task Disabling_and_enabling_an_account_are_recorded_and_a_refused_record_leaves_the_account_as_it_was()
    {
        await using var server = await RunningServer.StartAsync();
        var store = server.Services.GetRequiredService<IdentityStore>();
        var account = store.FindByName("operator")!;
        var since = server.Services.GetRequiredService<AuditTrail>().Size;

        await Assert.ThrowsAsync<InvalidRequestException>(() =>
            store.SetDisabledAsync(account.Id, true, new string('a', AuditRecordLimits.Actor + 1), server.Services.GetRequiredService<AuditTrail>()));
        Assert.False(store.Get(account.Id).Disabled);
        (await server.Operator.GetAsync("/api/auth/me")).EnsureSuccessStatusCode();

        Assert.True((await ApiCalls.ReadAsync<Account>(await server.Admin.PostAsync($"/api/accounts/{account.Id}/disable", null))).Disabled);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Operator.GetAsync("/api/auth/me")).StatusCode);
        Assert.False((await ApiCalls.ReadAsync<Account>(await server.Admin.PostAsync($"/api/accounts/{account.Id}/enable", null))).Disabled);

        var changes = IdentityRecords.Since(server, since).Where(r => r.Action == IdentityActions.AccountChange).ToList();
        Assert.Equal(["disabled", "enabled"], changes.Select(r => r.Outcome));
        Assert.All(changes, r => Assert.Equal(("admin", "operator"), (r.Actor, r.Parameters!["account"])));
    }

    [Fact]
    public async Task Making_and_revoking_an_edge_key_are_recorded_and_a_key_whose_record_is_too_large_is_not_made()
    {
        await using var server = await RunningServer.StartAsync();
        var store = server.Services.GetRequiredService<IdentityStore>();
        var since = server.Services.GetRequiredService<AuditTrail>().Size;

        // 2,000 camera ids joined are far over the log's parameter limit: the key is refused, not made.
        var tooMany = Enumerable.Range(0, 2_000).Select(i => 1_000_000L + i).ToArray();
        using var refused = await server.Admin.PostAsJsonAsync("/api/keys", new ApiKeyInput("edge-many", tooMany), ApiCalls.Json);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        using var longName = await server.Admin.PostAsJsonAsync("/api/keys", new ApiKeyInput(new string('n', IdentityStore.MaxKeyName + 1), [1]), ApiCalls.Json);
        Assert.Equal(HttpStatusCode.BadRequest, longName.StatusCode);
        Assert.Empty(store.Keys());

        var created = await ApiCalls.ReadAsync<CreatedApiKey>(await server.Admin.PostAsJsonAsync("/api/keys", new ApiKeyInput("edge-1", [1, 2]), ApiCalls.Json));
        await Assert.ThrowsAsync<InvalidRequestException>(() =>
            store.RevokeKeyAsync(created.Key.Id, new string('a', AuditRecordLimits.Actor + 1), server.Services.GetRequiredService<AuditTrail>()));
        Assert.Null(Assert.Single(store.Keys()).RevokedAt);
        Assert.NotNull(store.CallerForKey(created.Secret));
        var revoked = await ApiCalls.ReadAsync<ApiKey>(await server.Admin.PostAsync($"/api/keys/{created.Key.Id}/revoke", null));

        Assert.NotNull(revoked.RevokedAt);
        Assert.Null(store.CallerForKey(created.Secret));
        var records = IdentityRecords.Since(server, since);
        var id = created.Key.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Single(records, r => r.Action == IdentityApi.KeyCreate && r.Parameters!["key"] == id && r.Parameters["cameras"] == "1,2");
        Assert.Single(records, r => r.Action == IdentityApi.KeyRevoke && r.Parameters!["key"] == id);
        Assert.Single(store.Keys());
    }

    private static long Sessions(RunningServer server, long accountId)
    {
        using var connection = server.Services.GetRequiredService<CityWatchDatabase>().Open();
        return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM sessions WHERE account_id = @accountId", new { accountId });
    }
}
