using System.Security.Claims;
using CityWatch.Identity;

namespace CityWatch.Server.Identity;

/// <summary>Marks an endpoint as open to anyone, signed in or not.</summary>
internal sealed record PublicEndpoint;

/// <summary>The roles an endpoint admits; empty means any signed-in account or key.</summary>
internal sealed record AllowedRoles(IReadOnlyList<Role> Roles);

/// <summary>
/// How every endpoint declares who may call it: <see cref="Public"/> or <see cref="Allow"/>. Anything
/// undeclared falls to the fallback policy (signed-in only), and the authorisation-matrix test fails on it.
/// </summary>
internal static class Access
{
    public const string SessionCookie = "citywatch_session";
    public const string SignInLimit = "sign-in";

    public static readonly Role[] Staff = [Role.Administrator, Role.Operator, Role.Verifier, Role.Investigator, Role.Authority, Role.DataProtectionOfficer];

    public static TBuilder Public<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AllowAnonymous().WithMetadata(new PublicEndpoint());

    public static TBuilder Allow<TBuilder>(this TBuilder builder, params Role[] roles)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new AllowedRoles(roles));
        return roles.Length == 0
            ? builder.RequireAuthorization()
            : builder.RequireAuthorization(policy => policy.RequireRole(roles.Select(r => r.ToString())));
    }

    /// <summary>The session cookie a browser signs in with (the API's sign-in and the console's set the same one).</summary>
    public static void SetSessionCookie(HttpContext http, SignedIn signedIn) =>
        http.Response.Cookies.Append(SessionCookie, signedIn.Token, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = http.Request.IsHttps,
            Expires = signedIn.ExpiresAt,
        });

    /// <summary>The caller behind the request (set by the authentication handler).</summary>
    public static Caller Caller(this HttpContext context) =>
        context.Items[typeof(Caller)] as Caller ?? throw new UnauthorizedException("Sign in first.");

    /// <summary>The name the log records for the caller.</summary>
    public static string Name(this ClaimsPrincipal user) => user.Identity?.Name ?? "anonymous";
}
