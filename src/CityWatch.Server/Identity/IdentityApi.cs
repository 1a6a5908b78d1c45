using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using CityWatch.Audit;
using CityWatch.Identity;

namespace CityWatch.Server.Identity;

internal static class IdentityApi
{
    public const string AccountChange = "auth.account_change";
    public const string RoleChange = "auth.role_change";
    public const string KeyCreate = "auth.key_create";
    public const string KeyRevoke = "auth.key_revoke";

    public sealed record SetupInput(string Token, string Username, string DisplayName, string Password);

    public sealed record SignInInput(string Username, string Password);

    public static IServiceCollection AddIdentity(this IServiceCollection services)
    {
        services.AddSingleton<IdentityStore>();
        services.AddSingleton<SignInService>();
        services.AddAuthentication(SessionAuthentication.SchemeName)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, SessionAuthentication>(SessionAuthentication.SchemeName, null);
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.AddPolicy(Access.SignInLimit, context => RateLimitPartition.GetFixedWindowLimiter(
                context.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = 20, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
            options.OnRejected = async (context, cancellationToken) =>
            {
                var audit = context.HttpContext.RequestServices.GetRequiredService<AuditTrail>();
                await audit.AppendAsync(
                    new AuditRecord("anonymous", SessionAuthentication.Denied, "429", Parameters: new Dictionary<string, string>
                    {
                        ["path"] = context.HttpContext.Request.Path.ToString(),
                        ["from"] = context.HttpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                    }),
                    cancellationToken);
                await context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context.HttpContext,
                    ProblemDetails = { Status = 429, Title = "Too many attempts", Detail = "Too many sign-in attempts from this address; wait a minute." },
                });
            };
        });
        return services;
    }

    public static IEndpointRouteBuilder MapIdentityApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/setup", async (SignInService signIn, SetupInput input, CancellationToken ct) =>
            TypedResults.Ok(await signIn.SetUpAsync(input.Token, new AccountInput(input.Username, input.DisplayName, input.Password), ct)))
            .Public().RequireRateLimiting(Access.SignInLimit).WithTags("Identity");

        var auth = app.MapGroup("/api/auth").WithTags("Identity");
        auth.MapPost("/sign-in", async (SignInService signIn, HttpContext http, SignInInput input, CancellationToken ct) =>
        {
            var signedIn = await signIn.SignInAsync(input.Username, input.Password, http.Connection.RemoteIpAddress?.ToString() ?? "unknown", ct);
            http.Response.Cookies.Append(Access.SessionCookie, signedIn.Token, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = http.Request.IsHttps,
                Expires = signedIn.ExpiresAt,
            });
            return TypedResults.Ok(signedIn);
        }).Public().RequireRateLimiting(Access.SignInLimit);
        auth.MapPost("/sign-out", (IdentityStore store, HttpContext http) =>
        {
            var token = http.Request.Headers.Authorization.ToString() is { Length: > 7 } a ? a[7..].Trim() : http.Request.Cookies[Access.SessionCookie];
            if (!string.IsNullOrEmpty(token))
            {
                store.RevokeSession(token);
            }

            http.Response.Cookies.Delete(Access.SessionCookie);
            return TypedResults.NoContent();
        }).Allow();
        auth.MapGet("/me", (HttpContext http) => TypedResults.Ok(http.Caller())).Allow();

        var accounts = app.MapGroup("/api/accounts").WithTags("Identity");
        accounts.MapGet("/", (IdentityStore store) => TypedResults.Ok(store.List())).Allow(Role.Administrator, Role.DataProtectionOfficer);
        accounts.MapPost("/", async (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, AccountInput input, CancellationToken ct) =>
        {
            var account = store.CreateAccount(input, user.Name());
            await audit.AppendAsync(new AuditRecord(user.Name(), AccountChange, "created", Parameters: Params(("account", account.Username))), ct);
            return TypedResults.Created($"/api/accounts/{account.Id}", account);
        }).Allow(Role.Administrator);
        accounts.MapPost("/{id:long}/disable", (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, CancellationToken ct) => SetDisabledAsync(store, audit, user, id, true, ct))
            .Allow(Role.Administrator);
        accounts.MapPost("/{id:long}/enable", (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, CancellationToken ct) => SetDisabledAsync(store, audit, user, id, false, ct))
            .Allow(Role.Administrator);
        accounts.MapPost("/{id:long}/roles", async (IdentityStore store, AuditTrail audit, HttpContext http, long id, RoleGrantInput input, CancellationToken ct) =>
        {
            var caller = http.Caller();
            if (caller.AccountId == id)
            {
                throw new ForbiddenException("An administrator cannot give a role to themselves.");
            }

            var target = store.Get(id);
            var grant = store.AddRole(id, input, caller.Name);
            await audit.AppendAsync(
                new AuditRecord(caller.Name, RoleChange, "granted", Parameters: Params(("account", target.Username), ("role", input.Role.ToString()), ("grant", Invariant(grant.Id)))),
                ct);
            return TypedResults.Created($"/api/accounts/{id}/roles/{grant.Id}", grant);
        }).Allow(Role.Administrator);
        accounts.MapDelete("/{id:long}/roles/{grantId:long}", async (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, long grantId, CancellationToken ct) =>
        {
            var target = store.Get(id);
            store.RemoveRole(id, grantId);
            await audit.AppendAsync(new AuditRecord(user.Name(), RoleChange, "removed", Parameters: Params(("account", target.Username), ("grant", Invariant(grantId)))), ct);
            return TypedResults.NoContent();
        }).Allow(Role.Administrator);

        var keys = app.MapGroup("/api/keys").WithTags("Identity");
        keys.MapGet("/", (IdentityStore store) => TypedResults.Ok(store.Keys())).Allow(Role.Administrator, Role.DataProtectionOfficer);
        keys.MapPost("/", async (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, ApiKeyInput input, CancellationToken ct) =>
        {
            var created = store.CreateKey(input, user.Name());
            await audit.AppendAsync(
                new AuditRecord(user.Name(), KeyCreate, "created", Parameters: Params(("key", Invariant(created.Key.Id)), ("cameras", string.Join(",", created.Key.CameraIds)))), ct);
            return TypedResults.Created($"/api/keys/{created.Key.Id}", created);
        }).Allow(Role.Administrator);
        keys.MapPost("/{id:long}/revoke", async (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, CancellationToken ct) =>
        {
            var key = store.RevokeKey(id);
            await audit.AppendAsync(new AuditRecord(user.Name(), KeyRevoke, "revoked", Parameters: Params(("key", Invariant(id)))), ct);
            return TypedResults.Ok(key);
        }).Allow(Role.Administrator);

        // No names: how many accounts hold each role, so the public can see there are no hidden ones.
        app.MapGet("/api/public/accounts", (IdentityStore store) => TypedResults.Ok(store.CountsByRole().ToDictionary(p => p.Key.ToString(), p => p.Value)))
            .Public().WithTags("Transparency");
        return app;
    }

    private static async Task<IResult> SetDisabledAsync(IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, bool disabled, CancellationToken ct)
    {
        store.SetDisabled(id, disabled);
        var account = store.Get(id);
        await audit.AppendAsync(new AuditRecord(user.Name(), AccountChange, disabled ? "disabled" : "enabled", Parameters: Params(("account", account.Username))), ct);
        return TypedResults.Ok(account);
    }

    private static Dictionary<string, string> Params(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
