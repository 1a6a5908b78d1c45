using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace CityWatch.Server;

/// <summary>
/// Every error leaves the API as RFC 9457 problem details, with the status the exception stands for; a
/// browser (<c>Accept: text/html</c>) gets the same as a small page, and no <c>Accept</c> header makes an
/// error a 500. A path that names no endpoint is 404 for anyone, signed in or not. A refusal of the caller's
/// request (4xx) is logged on one line at Information; only the server's own failures (5xx) are errors with
/// their stack trace.
/// </summary>
internal static class ProblemMapping
{
    public static IServiceCollection AddProblemMapping(this IServiceCollection services)
    {
        // Writers are asked in the order they are registered: the page first, the default JSON writer, the fallback.
        services.AddSingleton<IProblemDetailsWriter, HtmlErrorPage>();
        services.AddProblemDetails();
        services.AddSingleton<IProblemDetailsWriter, ProblemJsonFallback>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    public static WebApplication UseProblemMapping(this WebApplication app)
    {
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ProblemMapping).FullName!);
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = StatusFor,
            SuppressDiagnosticsCallback = context => StatusFor(context.Exception) < StatusCodes.Status500InternalServerError,
            ExceptionHandler = async context =>
            {
                var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
                var status = error is null ? StatusCodes.Status500InternalServerError : StatusFor(error);
                context.Response.StatusCode = status;
                if (status < StatusCodes.Status500InternalServerError)
                {
                    log.LogInformation("{Method} {Path} refused with {Status}: {Reason}", context.Request.Method, context.Request.Path, status, OneLine(error));
                }

                if (error is ForbiddenException forbidden)
                {
                    // A refusal by role, scope or separation of duties is recorded like any other.
                    await context.RequestServices.GetRequiredService<CityWatch.Audit.AuditTrail>().AppendAsync(
                        new CityWatch.Audit.AuditRecord(context.User.Identity?.Name ?? "anonymous", CityWatch.Server.Identity.SessionAuthentication.Denied, "403", Parameters: new Dictionary<string, string>
                        {
                            ["method"] = context.Request.Method,
                            ["path"] = context.Request.Path.ToString(),
                            ["reason"] = forbidden.Message,
                        }),
                        CancellationToken.None);
                }

                var problem = new Microsoft.AspNetCore.Mvc.ProblemDetails
                {
                    Status = status,
                    Title = TitleFor(status),
                    Detail = status == StatusCodes.Status500InternalServerError ? "An unexpected error occurred; it has been logged." : OneLine(error),
                };
                if (error is CityWatch.Cameras.InventoryRejectedException rejected)
                {
                    problem.Extensions["problems"] = rejected.Problems;
                }

                await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails = problem,
                    Exception = error,
                });
            },
        });
        app.UseStatusCodePages();
        return app;
    }

    /// <summary>
    /// A request routing matched to no endpoint ends here as 404, before authorisation, whose fallback policy
    /// (signed-in only) would otherwise answer an unknown path with 401. Goes after authentication, which
    /// answers its own callback paths.
    /// </summary>
    public static WebApplication UseNotFoundForUnknownPaths(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            if (context.GetEndpoint() is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        return app;
    }

    internal static int StatusFor(Exception error) => error switch
    {
        InvalidRequestException => StatusCodes.Status400BadRequest,
        BadHttpRequestException bad => bad.StatusCode,
        NotFoundException => StatusCodes.Status404NotFound,
        ConflictException => StatusCodes.Status409Conflict,
        PolicyRefusedException => StatusCodes.Status403Forbidden,
        UnauthorizedException => StatusCodes.Status401Unauthorized,
        ForbiddenException => StatusCodes.Status403Forbidden,
        TooManyRequestsException => StatusCodes.Status429TooManyRequests,
        _ => StatusCodes.Status500InternalServerError,
    };

    internal static string TitleFor(int status) => status switch
    {
        400 => "The request is not valid",
        401 => "Sign in required",
        429 => "Too many attempts",
        403 => "Refused by policy",
        404 => "Not found",
        409 => "Conflict",
        413 => "Request too large",
        415 => "Unsupported media type",
        _ => "Server error",
    };

    // Malformed JSON surfaces as BadHttpRequestException wrapping the JsonException: show the parser's message
    // (an enum's lists the valid names, see EnumNames) and where in the body it is.
    private static string? OneLine(Exception? error) => (error switch
    {
        BadHttpRequestException { InnerException: JsonException { Path: { } path } json } when !json.Message.Contains("Path:", StringComparison.Ordinal) => $"{error.Message} {json.Message} (at {path})",
        BadHttpRequestException { InnerException: { } inner } => $"{error.Message} {inner.Message}",
        _ => error?.Message,
    })?.ReplaceLineEndings(" ");
}
