using System.Security.Claims;
using System.Threading.RateLimiting;
using CityWatch.Audit;
using CityWatch.Identity;

namespace CityWatch.Server.Identity;

internal static class IdentityApi
{
    public const string AccountChange = IdentityActions.AccountChange;
    public const string RoleChange = IdentityActions.RoleChange;
    public const string KeyCreate = IdentityActions.KeyCreate;
    public const string KeyRevoke = IdentityActions.KeyRevoke;

    public const string InvitationLimit = "invitation";

    public sealed record SetupInput(string Token, AccountInput Administrator, IReadOnlyList<QuorumMember> Quorum);

    public sealed record SignInInput(string Username, string Password, string? Totp);

    public sealed record AcceptInput(string Code, string Password);

    public sealed record ConfirmInput(string Code, string Totp);

    /// <summary>The public view: how many hold each role now, and every change over time, without names.</summary>
    public sealed record AccountHistory(IReadOnlyDictionary<string, int> Counts, IReadOnlyList<RoleChange> Changes);

    public static IServiceCollection AddIdentity(this IServiceCollection services, IdentityOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton<IdentityStore>();
        services.AddSingleton<Invitations>();
        services.AddSingleton<RoleGrants>();
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
            // Invitation codes are 256-bit random, so this only bounds the TOTP guesses of a code holder.
            options.AddPolicy(InvitationLimit, context => RateLimitPartition.GetFixedWindowLimiter(
                context.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = 60, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
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
            TypedResults.Ok(await signIn.SetUpAsync(input.Token, input.Administrator, input.Quorum, ct)))
            .Public().RequireRateLimiting(Access.SignInLimit).WithTags("Identity");

        var invitations = app.MapGroup("/api/invitations").WithTags("Identity");
        invitations.MapPost("/accept", async (Invitations store, HttpContext http, AcceptInput input, CancellationToken ct) =>
            TypedResults.Ok(await store.AcceptAsync(input.Code, input.Password, Remote(http), ct)))
            .Public().RequireRateLimiting(InvitationLimit);
        invitations.MapPost("/confirm", async (Invitations store, HttpContext http, ConfirmInput input, CancellationToken ct) =>
            TypedResults.Ok(await store.ConfirmAsync(input.Code, input.Totp, Remote(http), ct)))
            .Public().RequireRateLimiting(InvitationLimit);
        invitations.MapGet("/pending", (Invitations store) => TypedResults.Ok(store.AwaitingApproval())).Allow(Approvers);
        invitations.MapPost("/{id:long}/approve", async (Invitations store, HttpContext http, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.ApproveAsync(id, http.Caller(), ct))).Allow(Oversight);
        invitations.MapPost("/{id:long}/reject", async (Invitations store, HttpContext http, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.RejectAsync(id, http.Caller(), ct))).Allow(Oversight);

        var auth = app.MapGroup("/api/auth").WithTags("Identity");
        auth.MapPost("/sign-in", async (SignInService signIn, HttpContext http, SignInInput input, CancellationToken ct) =>
        {
            var signedIn = await signIn.SignInAsync(input.Username, input.Password, input.Totp, Remote(http), ct);
            Access.SetSessionCookie(http, signedIn);
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
        accounts.MapPost("/", async (Invitations store, HttpContext http, AccountInput input, CancellationToken ct) =>
        {
            var invitation = await store.InviteAsync(input, http.Caller(), ct);
            return TypedResults.Created($"/api/accounts/{invitation.AccountId}", invitation);
        }).Allow(Role.Administrator);
        accounts.MapPost("/{id:long}/invitation", async (Invitations store, HttpContext http, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.ReissueAsync(id, http.Caller(), ct))).Allow(Role.Administrator);
        accounts.MapPost("/{id:long}/reset", async (Invitations store, HttpContext http, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.ResetAsync(id, http.Caller(), ct))).Allow(Role.Administrator);
        accounts.MapPost("/{id:long}/disable", (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, CancellationToken ct) => SetDisabledAsync(store, audit, user, id, true, ct))
            .Allow(Role.Administrator);
        accounts.MapPost("/{id:long}/enable", (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, CancellationToken ct) => SetDisabledAsync(store, audit, user, id, false, ct))
            .Allow(Role.Administrator);
        accounts.MapPost("/{id:long}/roles", async (RoleGrants grants, HttpContext http, long id, RoleGrantInput input, CancellationToken ct) =>
        {
            var grant = await grants.GrantAsync(id, input, http.Caller(), ct);
            return TypedResults.Created($"/api/accounts/{id}/roles/{grant.Id}", grant);
        }).Allow(Role.Administrator);
        accounts.MapDelete("/{id:long}/roles/{grantId:long}", async (RoleGrants grants, HttpContext http, long id, long grantId, CancellationToken ct) =>
        {
            await grants.RemoveAsync(id, grantId, http.Caller(), ct);
            return TypedResults.NoContent();
        }).Allow(Role.Administrator);

        var roleGrants = app.MapGroup("/api/role-grants").WithTags("Identity");
        roleGrants.MapGet("/pending", (RoleGrants grants) => TypedResults.Ok(grants.Pending())).Allow(Approvers);
        roleGrants.MapPost("/{id:long}/approve", async (RoleGrants grants, HttpContext http, long id, CancellationToken ct) =>
            TypedResults.Ok(await grants.ApproveAsync(id, http.Caller(), ct))).Allow(Oversight);
        roleGrants.MapPost("/{id:long}/reject", async (RoleGrants grants, HttpContext http, long id, CancellationToken ct) =>
            TypedResults.Ok(await grants.RejectAsync(id, http.Caller(), ct))).Allow(Oversight);

        var keys = app.MapGroup("/api/keys").WithTags("Identity");
        keys.MapGet("/", (IdentityStore store) => TypedResults.Ok(store.Keys())).Allow(Role.Administrator, Role.DataProtectionOfficer);
        keys.MapPost("/", async (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, ApiKeyInput input, CancellationToken ct) =>
        {
            var created = await store.CreateKeyAsync(input, user.Name(), audit, ct);
            return TypedResults.Created($"/api/keys/{created.Key.Id}", created);
        }).Allow(Role.Administrator);
        keys.MapPost("/{id:long}/revoke", async (IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.RevokeKeyAsync(id, user.Name(), audit, ct))).Allow(Role.Administrator);

        // No names: how many accounts hold each role, so the public can see there are no hidden ones.
        app.MapGet("/api/public/accounts", (IdentityStore store) => TypedResults.Ok(Counts(store)))
            .Public().WithTags("Transparency");
        app.MapGet("/api/public/accounts/history", (IdentityStore store) => TypedResults.Ok(new AccountHistory(Counts(store), store.History())))
            .Public().WithTags("Transparency");
        return app;
    }

    private static async Task<IResult> SetDisabledAsync(IdentityStore store, AuditTrail audit, ClaimsPrincipal user, long id, bool disabled, CancellationToken ct) =>
        TypedResults.Ok(await store.SetDisabledAsync(id, disabled, user.Name(), audit, ct));

    /// <summary>Who holds the second-person approvals: the oversight roles.</summary>
    private static readonly Role[] Oversight = [Role.Authority, Role.DataProtectionOfficer, Role.Verifier];

    /// <summary>Who may see what waits for approval: the oversight roles and the administrators who asked.</summary>
    private static readonly Role[] Approvers = [Role.Administrator, .. Oversight];

    private static Dictionary<string, int> Counts(IdentityStore store) => store.CountsByRole().ToDictionary(p => p.Key.ToString(), p => p.Value);

    private static string Remote(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
}
