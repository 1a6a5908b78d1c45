using System.Net;
using System.Net.Http.Json;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Tests.Governance;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Insiders;

/// <summary>
/// An insider who gets a signed-in data-protection officer to open a page of another site, which makes the
/// browser post to CityWatch with the officer's session cookie: unsafe requests signed in by the cookie alone
/// must come from CityWatch's own origin or carry an antiforgery token.
/// </summary>
public sealed class CrossSiteTests
{
    [Fact]
    public async Task A_cookie_signed_revoke_from_another_origin_is_refused_and_recorded_and_changes_nothing()
    {
        await using var server = await RunningServer.StartAsync();
        var basis = await BasisAsync(server);

        using var forged = await SendAsync(server, HttpMethod.Post, $"/api/legal-bases/{basis.Id}/revoke", server.Tokens["dpo"], origin: "http://evil.example");
        using var noOrigin = await SendAsync(server, HttpMethod.Post, $"/api/legal-bases/{basis.Id}/revoke", server.Tokens["dpo"], origin: null);

        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Equal("application/problem+json", forged.Content.Headers.ContentType?.MediaType);
        Assert.Contains("antiforgery", await forged.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, noOrigin.StatusCode);
        Assert.Equal(LegalBasisStatus.PrerequisitesRecorded, server.Services.GetRequiredService<LegalBasisStore>().Get(basis.Id).Status);
        var refusals = server.Logged(SessionAuthentication.Denied).Where(r => r.Body.Contains("cross-site request", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, refusals.Count);
        Assert.All(refusals, r => Assert.Equal("dpo", r.Actor));
        Assert.Contains(refusals, r => r.Body.Contains("http://evil.example", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_same_revoke_from_the_servers_own_origin_is_done()
    {
        await using var server = await RunningServer.StartAsync();
        var basis = await BasisAsync(server);
        var own = server.Address.GetLeftPart(UriPartial.Authority);

        using var response = await SendAsync(server, HttpMethod.Post, $"/api/legal-bases/{basis.Id}/revoke", server.Tokens["dpo"], origin: own);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(LegalBasisStatus.Revoked, server.Services.GetRequiredService<LegalBasisStore>().Get(basis.Id).Status);
    }

    [Fact]
    public async Task A_cookie_signed_request_with_a_valid_antiforgery_token_is_done_and_a_forged_token_is_refused()
    {
        await using var server = await RunningServer.StartAsync();
        var first = await BasisAsync(server);
        var second = await BasisAsync(server);
        var session = server.Tokens["dpo"];
        using var tokenResponse = await SendAsync(server, HttpMethod.Get, "/api/auth/antiforgery", session, origin: null);
        var token = await ApiCalls.ReadAsync<AntiforgeryView>(tokenResponse);
        var csrfCookie = tokenResponse.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("citywatch_csrf=", StringComparison.Ordinal)).Split(';')[0];

        using var withToken = await SendAsync(server, HttpMethod.Post, $"/api/legal-bases/{first.Id}/revoke", session, origin: null, csrfCookie, token.Token);
        using var forgedToken = await SendAsync(server, HttpMethod.Post, $"/api/legal-bases/{second.Id}/revoke", session, origin: "http://evil.example", csrfCookie, "forged");

        Assert.Equal(SameOriginGuard.HeaderName, token.HeaderName);
        Assert.Equal(HttpStatusCode.OK, withToken.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, forgedToken.StatusCode);
        Assert.Equal(LegalBasisStatus.PrerequisitesRecorded, server.Services.GetRequiredService<LegalBasisStore>().Get(second.Id).Status);
        Assert.Single(server.Logged(SessionAuthentication.Denied), r => r.Body.Contains("cross-site request", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bearer_token_calls_are_not_subject_to_the_origin_check()
    {
        await using var server = await RunningServer.StartAsync();
        var basis = await BasisAsync(server);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/legal-bases/{basis.Id}/revoke");
        request.Headers.Add("Origin", "http://evil.example");

        using var response = await server.Dpo.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(server.Logged(SessionAuthentication.Denied), r => r.Body.Contains("cross-site request", StringComparison.Ordinal));
    }

    private static async Task<LegalBasis> BasisAsync(RunningServer server)
    {
        var watchlist = await server.AddWatchlistAsync($"list {Guid.NewGuid():N}");
        return await server.PreparedBasisAsync(ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Retrospective));
    }

    // A browser's request: the session cookie (and the antiforgery cookie and header, when given), no bearer token.
    private static Task<HttpResponseMessage> SendAsync(RunningServer server, HttpMethod method, string path, string session, string? origin, string? csrfCookie = null, string? csrfToken = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Cookie", csrfCookie is null ? $"{Access.SessionCookie}={session}" : $"{Access.SessionCookie}={session}; {csrfCookie}");
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (csrfToken is not null)
        {
            request.Headers.Add(SameOriginGuard.HeaderName, csrfToken);
        }

        return server.Anonymous.SendAsync(request);
    }

    private sealed record AntiforgeryView(string Token, string HeaderName);
}
