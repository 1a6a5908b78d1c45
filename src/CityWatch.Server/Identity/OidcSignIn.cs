using CityWatch.Audit;
using CityWatch.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CityWatch.Server.Identity;

/// <summary>A city's identity provider, for sign-in with OpenID Connect (authorization code flow).</summary>
public sealed record OidcOptions(string Authority, string ClientId, string ClientSecret, string UsernameClaim = "preferred_username");

/// <summary>
/// Optional sign-in through the city's identity provider. The provider only proves who someone is: the
/// person must already have an enabled CityWatch account of the same name, whose roles decide what they
/// may do (no roles are taken from the provider, no account is created on the fly). The provider must also
/// say it checked a second factor: the ID token's <c>amr</c> claim contains <c>mfa</c> or <c>otp</c>
/// (RFC 8176); without it the sign-in is refused and recorded, as a password-only sign-in is. A successful
/// sign-in starts an ordinary CityWatch session (the session cookie), created in one transaction with its
/// record.
/// </summary>
internal static class OidcSignIn
{
    public const string Scheme = "oidc";
    private const string Transit = "oidc-transit";

    public static IServiceCollection AddOidcSignIn(this IServiceCollection services, OidcOptions? options)
    {
        if (options is null)
        {
            return services;
        }

        var loopback = Uri.TryCreate(options.Authority, UriKind.Absolute, out var authority) && authority.IsLoopback;
        services.AddAuthentication()
            .AddCookie(Transit, o => o.Cookie.Name = "citywatch_oidc")
            .AddOpenIdConnect(Scheme, o =>
            {
                o.Authority = options.Authority;
                o.ClientId = options.ClientId;
                o.ClientSecret = options.ClientSecret;
                o.ResponseType = "code";
                o.ResponseMode = "query";
                o.UsePkce = true;
                o.SignInScheme = Transit;
                o.Scope.Clear();
                o.Scope.Add("openid");
                o.Scope.Add("profile");
                o.MapInboundClaims = false;
                // Only a provider on this machine (tests, a local development IdP) may be reached over plain HTTP.
                o.RequireHttpsMetadata = !loopback;
                if (loopback)
                {
                    o.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                    o.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                }

                o.Events.OnTokenValidated = async context =>
                {
                    var services = context.HttpContext.RequestServices;
                    var username = context.Principal?.FindFirst(options.UsernameClaim)?.Value;
                    var store = services.GetRequiredService<IdentityStore>();
                    var account = username is null ? null : store.FindByName(username);
                    var audit = services.GetRequiredService<AuditTrail>();
                    var provider = new Dictionary<string, string> { ["provider"] = options.Authority };
                    if (account is null || account.Disabled)
                    {
                        await audit.AppendAsync(new AuditRecord(account?.Username ?? "anonymous", SignInService.SignInFailed, "identity provider: no enabled account of that name", Parameters: provider));
                        context.Fail("There is no enabled CityWatch account for this person.");
                        return;
                    }

                    if (!HasSecondFactor(context.Principal!))
                    {
                        await audit.AppendAsync(new AuditRecord(account.Username, SignInService.SignInFailed, "identity provider: no second factor (amr without mfa or otp)", Parameters: provider));
                        context.Fail("The identity provider did not report a second factor (amr must contain mfa or otp).");
                        return;
                    }

                    var token = await store.StartSessionAsync(
                        account.Id, null, SignInService.SessionLifetime, new AuditRecord(account.Username, SignInService.SignIn, "signed in", Parameters: provider), audit, context.HttpContext.RequestAborted);
                    if (token is null)
                    {
                        context.Fail("There is no enabled CityWatch account for this person.");
                        return;
                    }

                    context.HttpContext.Response.Cookies.Append(Access.SessionCookie, token, new CookieOptions
                    {
                        HttpOnly = true,
                        SameSite = SameSiteMode.Lax, // the provider redirects back cross-site
                        Secure = context.HttpContext.Request.IsHttps,
                        MaxAge = SignInService.SessionLifetime,
                    });
                };
                o.Events.OnRemoteFailure = async context =>
                {
                    context.HandleResponse();
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    await context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                    {
                        HttpContext = context.HttpContext,
                        ProblemDetails = { Status = 401, Title = "Sign-in failed", Detail = context.Failure?.Message },
                    });
                };
            });
        return services;
    }

    public static IEndpointRouteBuilder MapOidcSignIn(this IEndpointRouteBuilder app, OidcOptions? options)
    {
        app.MapGet("/api/auth/oidc", Results<ChallengeHttpResult, NotFound> (string? returnUrl) =>
            options is null
                ? TypedResults.NotFound()
                : TypedResults.Challenge(new AuthenticationProperties { RedirectUri = IsLocal(returnUrl) ? returnUrl : "/api/auth/me" }, [Scheme]))
            .Public().WithTags("Identity");
        return app;
    }

    /// <summary>The values of the ID token's <c>amr</c> claim (RFC 8176) that count as a second factor.</summary>
    public static readonly string[] SecondFactorMethods = ["mfa", "otp"];

    // The provider's word that it checked a second factor: amr is a JSON array, one claim per value.
    private static bool HasSecondFactor(System.Security.Claims.ClaimsPrincipal principal) =>
        principal.FindAll("amr").Any(c => SecondFactorMethods.Contains(c.Value, StringComparer.Ordinal));

    // Only a path on this server: never "//host" or a full URL, so sign-in cannot be used to redirect elsewhere.
    private static bool IsLocal(string? url) =>
        url is { Length: > 0 } && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\'));
}
