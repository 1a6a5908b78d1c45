using System.Security.Cryptography;
using System.Text;
using CityWatch.Server.Portal;
using CityWatch.Transparency;

namespace CityWatch.Server;

/// <summary>
/// The headers every response carries, errors included (set when the response starts, after the exception
/// handler has cleared it): a content security policy that runs only the server's own script files (the
/// portal's, under <c>/portal</c> and <c>/vendor</c>: never inline script, never eval) and loads nothing from
/// elsewhere but, when the city configured one, its map tiles; no MIME sniffing, no referrer, no framing.
/// The one inline stylesheet (the reports') is admitted by its hash.
/// </summary>
internal static class SecurityHeaders
{
    public static string ContentSecurityPolicy(PortalOptions portal) =>
        "default-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        + $"img-src 'self'{(portal.TileOrigin is { } tiles ? " " + tiles : "")}; "
        + $"style-src 'self' 'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(Reports.Stylesheet)))}'";

    public static WebApplication UseSecurityHeaders(this WebApplication app)
    {
        var policy = ContentSecurityPolicy(app.Services.GetRequiredService<PortalOptions>());
        app.Use((context, next) =>
        {
            context.Response.OnStarting(() =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = policy;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                headers.XFrameOptions = "DENY";
                return Task.CompletedTask;
            });
            return next(context);
        });
        return app;
    }
}
