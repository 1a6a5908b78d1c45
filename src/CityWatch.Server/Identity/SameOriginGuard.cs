using CityWatch.Audit;
using Microsoft.AspNetCore.Antiforgery;

namespace CityWatch.Server.Identity;

/// <summary>
/// Cross-site request forgery: a browser attaches the session cookie to a request that another site makes
/// it send. An unsafe request (POST, PUT, PATCH, DELETE) that is signed in by the cookie alone, not by a
/// bearer token or an edge key, is refused (403, problem details, recorded) unless its <c>Origin</c> (or, without
/// one, its <c>Referer</c>) is this server's own origin, or it carries a valid antiforgery token in
/// <see cref="HeaderName"/> (fetched from <c>GET /api/auth/antiforgery</c>).
/// </summary>
internal static class SameOriginGuard
{
    public const string HeaderName = "X-CSRF-TOKEN";

    /// <summary>Set by <see cref="SessionAuthentication"/> when the session came from the cookie.</summary>
    public static readonly object CookieSession = new();

    public static IServiceCollection AddSameOriginGuard(this IServiceCollection services) =>
        services.AddAntiforgery(o =>
        {
            o.HeaderName = HeaderName;
            o.Cookie.Name = "citywatch_csrf";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.SuppressXFrameOptionsHeader = true; // SecurityHeaders sends DENY on every response
        });

    public static WebApplication UseSameOriginGuard(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            if (!context.Items.ContainsKey(CookieSession) || !IsUnsafe(context.Request.Method) || IsSameOrigin(context.Request)
                || await context.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(context))
            {
                await next(context);
                return;
            }

            await RefuseAsync(context);
        });
        return app;
    }

    public static IEndpointRouteBuilder MapAntiforgery(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/auth/antiforgery", (IAntiforgery antiforgery, HttpContext http) =>
            TypedResults.Ok(new AntiforgeryToken(antiforgery.GetAndStoreTokens(http).RequestToken!, HeaderName)))
            .Allow().WithTags("Identity");
        return app;
    }

    private static bool IsUnsafe(string method) =>
        HttpMethods.IsPost(method) || HttpMethods.IsPut(method) || HttpMethods.IsPatch(method) || HttpMethods.IsDelete(method);

    private static bool IsSameOrigin(HttpRequest request)
    {
        var own = $"{request.Scheme}://{request.Host.Value}";
        var claimed = request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(claimed) && Uri.TryCreate(request.Headers.Referer.ToString(), UriKind.Absolute, out var referer))
        {
            claimed = referer.GetLeftPart(UriPartial.Authority);
        }

        return Uri.TryCreate(claimed, UriKind.Absolute, out var origin)
            && string.Equals(origin.GetLeftPart(UriPartial.Authority), new Uri(own).GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase);
    }

    private static async Task RefuseAsync(HttpContext context)
    {
        var origin = context.Request.Headers.Origin.ToString() is { Length: > 0 } o ? o : context.Request.Headers.Referer.ToString();
        await context.RequestServices.GetRequiredService<AuditTrail>().AppendAsync(
            new AuditRecord(context.User.Identity?.Name ?? "anonymous", SessionAuthentication.Denied, "403", Parameters: new Dictionary<string, string>
            {
                ["method"] = context.Request.Method,
                ["path"] = context.Request.Path.ToString(),
                ["reason"] = "cross-site request",
                ["origin"] = origin.Length > 200 ? origin[..200] : origin,
            }),
            context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = StatusCodes.Status403Forbidden,
                Title = "Cross-site request refused",
                Detail = $"A request signed in by the session cookie must come from this server's own pages (Origin or Referer) or carry an antiforgery token in {HeaderName} (GET /api/auth/antiforgery).",
                Type = SessionAuthentication.AccessDeniedType,
            },
        });
    }
}

/// <summary>An antiforgery token for a cookie-signed-in page, and the header to send it in.</summary>
internal sealed record AntiforgeryToken(string Token, string HeaderName);
