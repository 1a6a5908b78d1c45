using System.Security.Cryptography;
using System.Text;
using CityWatch.Transparency;

namespace CityWatch.Server;

/// <summary>
/// The headers every response carries, errors included (set when the response starts, after the exception
/// handler has cleared it): a content security policy that runs no script and loads nothing from elsewhere,
/// no MIME sniffing, no referrer, no framing. The one inline stylesheet (the reports') is admitted by its hash.
/// </summary>
internal static class SecurityHeaders
{
    public static readonly string ContentSecurityPolicy =
        $"default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; style-src 'self' 'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(Reports.Stylesheet)))}'";

    public static WebApplication UseSecurityHeaders(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            context.Response.OnStarting(() =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
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
