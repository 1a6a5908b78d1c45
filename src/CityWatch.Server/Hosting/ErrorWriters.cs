using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace CityWatch.Server;

/// <summary>
/// An error for a browser: a caller whose <c>Accept</c> names <c>text/html</c> (a person at a browser) gets
/// a small page instead of JSON. Every value on it is HTML-escaped; the only style is the reports' stylesheet,
/// which the content security policy admits by its hash, so the page runs nothing and loads nothing.
/// Registered before the default writer, so it is asked first.
/// </summary>
internal sealed class HtmlErrorPage : IProblemDetailsWriter
{
    // HTML when the caller names it and prefers it to JSON at least as much ("application/json, text/html;q=0.1" stays JSON).
    public bool CanWrite(ProblemDetailsContext context)
    {
        if (!MediaTypeHeaderValue.TryParseList(context.HttpContext.Request.Headers.Accept, out var accepted))
        {
            return false;
        }

        var html = Preference(accepted, "text/html", "application/xhtml+xml");
        return html > 0 && html >= Preference(accepted, "application/json", "application/problem+json");
    }

    private static double Preference(IList<MediaTypeHeaderValue> accepted, params string[] types) =>
        accepted.Where(a => types.Any(t => a.MediaType.Equals(t, StringComparison.OrdinalIgnoreCase))).Select(a => a.Quality ?? 1).DefaultIfEmpty(0).Max();

    public async ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var status = problem.Status ?? context.HttpContext.Response.StatusCode;
        var title = WebUtility.HtmlEncode(problem.Title ?? Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status));
        var page = new StringBuilder()
            .Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
            .Append(status).Append(' ').Append(title).Append(" · CityWatch</title>")
            .Append("<style>").Append(CityWatch.Transparency.Reports.Stylesheet).Append("</style></head><body>")
            .Append("<h1>").Append(status).Append(' ').Append(title).Append("</h1>");
        if (!string.IsNullOrWhiteSpace(problem.Detail))
        {
            page.Append("<p>").Append(WebUtility.HtmlEncode(problem.Detail)).Append("</p>");
        }

        page.Append("<p><a href=\"/openapi/v1.json\">The API's description</a></p></body></html>\n");
        context.HttpContext.Response.ContentType = "text/html; charset=utf-8";
        await context.HttpContext.Response.WriteAsync(page.ToString(), context.HttpContext.RequestAborted);
    }
}

/// <summary>
/// The last resort: a caller whose <c>Accept</c> names neither JSON nor HTML (say <c>application/xml</c>)
/// still gets RFC 9457 problem details, rather than the default writer declining and the error becoming a 500.
/// Registered after the default writer, so it is asked last.
/// </summary>
internal sealed class ProblemJsonFallback(IOptions<JsonOptions> json) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public async ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        problem.Status ??= context.HttpContext.Response.StatusCode;
        problem.Type ??= $"https://www.rfc-editor.org/rfc/rfc9110#status.{problem.Status}";
        context.HttpContext.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(context.HttpContext.Response.Body, problem, json.Value.SerializerOptions, context.HttpContext.RequestAborted);
    }
}
