using System.Security.Claims;
using System.Text.Encodings.Web;
using CityWatch.Audit;
using CityWatch.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace CityWatch.Server.Identity;

/// <summary>
/// One scheme for people and devices: a session token as `Authorization: Bearer` or the session cookie
/// (set at sign-in for the web UI), or an edge key as `X-Api-Key`. The account must be enabled and the
/// session live on every request, so a disabled account's token stops working at once. Every refusal
/// (401 or 403) is answered with problem details and recorded in the audit log.
/// </summary>
internal sealed class SessionAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IdentityStore identities,
    AuditTrail audit)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "CityWatch";
    public const string Denied = "auth.denied";

    /// <summary>The problem type of a refusal by the access layer (no or bad credentials, or a role that is not admitted).</summary>
    public const string AccessDeniedType = "https://citywatch.invalid/problems/access-denied";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var headers = Request.Headers;
        Caller? caller;
        if (headers.TryGetValue("X-Api-Key", out var key) && !string.IsNullOrEmpty(key))
        {
            caller = identities.CallerForKey(key.ToString());
            if (caller is null)
            {
                return Task.FromResult(AuthenticateResult.Fail("The edge key is unknown or revoked."));
            }
        }
        else
        {
            var bearer = headers.Authorization.ToString() is { Length: > 7 } authorization && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                ? authorization[7..].Trim()
                : null;
            var token = bearer ?? Request.Cookies[Access.SessionCookie];
            if (string.IsNullOrEmpty(token))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            caller = identities.CallerForSession(token);
            if (caller is null)
            {
                return Task.FromResult(AuthenticateResult.Fail("The session has ended, or the account is disabled."));
            }

            if (bearer is null)
            {
                // A browser sends the cookie on any site's behalf: SameOriginGuard checks where unsafe requests come from.
                Context.Items[SameOriginGuard.CookieSession] = true;
            }
        }

        Context.Items[typeof(Caller)] = caller;
        var claims = new List<Claim> { new(ClaimTypes.Name, caller.Name) };
        claims.AddRange(caller.Roles.Select(r => r.Role.ToString()).Distinct().Select(r => new Claim(ClaimTypes.Role, r)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await Context.AuthenticateAsync(SchemeName)).Failure?.Message;
        await RefuseAsync(StatusCodes.Status401Unauthorized, "Sign in required", failure ?? "This needs a signed-in account or an edge key.", "anonymous");
    }

    // The refusal names the roles the endpoint admits (its Access declaration) and those the caller holds.
    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var needed = Context.GetEndpoint()?.Metadata.GetMetadata<AllowedRoles>()?.Roles;
        var held = Context.User.FindAll(ClaimTypes.Role).Select(c => c.Value).ToList();
        var detail = needed is { Count: > 0 }
            ? $"This needs the role {string.Join(" or ", needed)}; you hold {(held.Count == 0 ? "no role" : string.Join(", ", held))}."
            : "Your roles do not allow this.";
        await RefuseAsync(StatusCodes.Status403Forbidden, "Not allowed", detail, Context.User.Name());
    }

    private async Task RefuseAsync(int status, string title, string detail, string actor)
    {
        await audit.AppendAsync(
            new AuditRecord(actor, Denied, status.ToString(System.Globalization.CultureInfo.InvariantCulture), Parameters: new Dictionary<string, string>
            {
                ["method"] = Request.Method,
                ["path"] = Request.Path.ToString(),
            }),
            Context.RequestAborted);
        Response.StatusCode = status;
        await Context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = { Status = status, Title = title, Detail = detail, Type = AccessDeniedType },
        });
    }
}
