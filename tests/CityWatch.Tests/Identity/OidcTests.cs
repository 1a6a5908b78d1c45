using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using CityWatch.Audit;
using CityWatch.Identity;
using CityWatch.Server;
using CityWatch.Server.Identity;
using CityWatch.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CityWatch.Tests.Identity;

/// <summary>
/// Sign-in through a city's OpenID Connect provider: a small provider on 127.0.0.1 (discovery, keys,
/// authorize, token) signs real RS256 ID tokens; the server's standard OIDC handler does the rest.
/// </summary>
public sealed class OidcTests
{
    [Fact]
    public async Task A_person_with_a_local_account_signs_in_through_the_provider_and_gets_a_session()
    {
        await using var provider = await FakeProvider.StartAsync("operator", ["pwd", "otp"]);
        await using var server = await StartAsync(provider);

        var (status, client) = await SignInThroughProviderAsync(server);
        using var me = await client.GetAsync("/api/auth/me");

        Assert.Equal(HttpStatusCode.OK, status);
        me.EnsureSuccessStatusCode();
        var caller = await me.Content.ReadFromJsonAsync<Caller>(ApiCalls.Json);
        Assert.Equal("operator", caller!.Name);
        Assert.Contains(caller.Roles, r => r.Role == Role.Operator);
    }

    [Fact]
    public async Task A_person_the_provider_knows_but_CityWatch_does_not_is_refused()
    {
        await using var provider = await FakeProvider.StartAsync("stranger", ["mfa"]);
        await using var server = await StartAsync(provider);

        var (status, _) = await SignInThroughProviderAsync(server);

        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task A_provider_sign_in_without_a_second_factor_is_refused_and_recorded()
    {
        await using var provider = await FakeProvider.StartAsync("operator", ["pwd"]);
        await using var server = await StartAsync(provider);
        var since = server.Services.GetRequiredService<AuditTrail>().Size;

        var (status, client) = await SignInThroughProviderAsync(server);
        using var me = await client.GetAsync("/api/auth/me");

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
        var records = IdentityRecords.Since(server, since);
        Assert.Contains(records, r => r.Action == SignInService.SignInFailed && r.Actor == "operator" && r.Outcome.Contains("second factor", StringComparison.Ordinal));
        Assert.DoesNotContain(records, r => r.Action == SignInService.SignIn);
    }

    [Fact]
    public async Task A_provider_sign_in_with_mfa_starts_a_session_recorded_with_it()
    {
        await using var provider = await FakeProvider.StartAsync("operator", ["mfa"]);
        await using var server = await StartAsync(provider);
        var since = server.Services.GetRequiredService<AuditTrail>().Size;

        var (status, client) = await SignInThroughProviderAsync(server);
        using var me = await client.GetAsync("/api/auth/me");

        Assert.Equal(HttpStatusCode.OK, status);
        me.EnsureSuccessStatusCode();
        Assert.Contains(IdentityRecords.Since(server, since), r => r.Action == SignInService.SignIn && r.Actor == "operator" && r.Parameters!.ContainsKey("provider"));
    }

    private static async Task<RunningServer> StartAsync(FakeProvider provider) =>
        await RunningServer.StartAsync(oidc: new OidcOptions(provider.Address, "citywatch", "s3cret"));

    // Follows the redirects by hand, as a browser would, keeping cookies.
    private static async Task<(HttpStatusCode Status, HttpClient Client)> SignInThroughProviderAsync(RunningServer server)
    {
        var cookies = new CookieContainer();
        var client = server.NewClient();
        var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false });
        var next = new Uri(server.Address, "/api/auth/oidc");
        HttpResponseMessage response;
        var hops = 0;
        do
        {
            response = await browser.GetAsync(next);
            if (response.Headers.Location is { } location)
            {
                next = location.IsAbsoluteUri ? location : new Uri(next, location);
            }
        }
        while (response.StatusCode == HttpStatusCode.Redirect && next.AbsolutePath != "/api/auth/me" && ++hops < 10);

        var session = cookies.GetCookies(server.Address)[Access.SessionCookie]?.Value;
        if (session is not null)
        {
            client.DefaultRequestHeaders.Add("Cookie", $"{Access.SessionCookie}={session}");
        }

        var status = response.StatusCode == HttpStatusCode.Redirect ? HttpStatusCode.OK : response.StatusCode;
        browser.Dispose();
        return (status, client);
    }

    private sealed class FakeProvider : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private FakeProvider(WebApplication app) => _app = app;

        public string Address => _app.Urls.First();

        /// <summary>A provider that signs in <paramref name="username"/> and reports <paramref name="amr"/> as the methods it checked.</summary>
        public static async Task<FakeProvider> StartAsync(string username, string[] amr)
        {
            var rsa = RSA.Create(2048);
            var key = new RsaSecurityKey(rsa) { KeyId = "test-key" };
            var nonces = new Dictionary<string, string>();
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            string Issuer() => app.Urls.First();
            app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
            {
                ["issuer"] = Issuer(),
                ["authorization_endpoint"] = $"{Issuer()}/authorize",
                ["token_endpoint"] = $"{Issuer()}/token",
                ["jwks_uri"] = $"{Issuer()}/jwks",
                ["response_types_supported"] = new[] { "code" },
                ["subject_types_supported"] = new[] { "public" },
                ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            }));
            app.MapGet("/jwks", () =>
            {
                var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(rsa.ExportParameters(false)) { KeyId = key.KeyId });
                return Results.Json(new { keys = new[] { new { kty = jwk.Kty, kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } } });
            });
            app.MapGet("/authorize", (string redirect_uri, string state, string nonce) =>
            {
                var code = Guid.NewGuid().ToString("N");
                nonces[code] = nonce;
                return Results.Redirect($"{redirect_uri}?code={code}&state={Uri.EscapeDataString(state)}");
            });
            app.MapPost("/token", async (HttpRequest request) =>
            {
                var form = await request.ReadFormAsync();
                var now = TimeProvider.System.GetUtcNow();
                var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
                {
                    Issuer = Issuer(),
                    Audience = form["client_id"],
                    IssuedAt = now.UtcDateTime,
                    NotBefore = now.UtcDateTime,
                    Expires = now.AddMinutes(5).UtcDateTime,
                    Claims = new Dictionary<string, object> { ["sub"] = "user-1", ["preferred_username"] = username, ["nonce"] = nonces[form["code"]!], ["amr"] = amr },
                    SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
                });
                return Results.Json(new { access_token = "opaque", token_type = "Bearer", expires_in = 300, id_token = token });
            });
            await app.StartAsync();
            return new FakeProvider(app);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
