using Microsoft.AspNetCore.Diagnostics;

namespace CityWatch.Server;

/// <summary>Every error leaves the API as RFC 9457 problem details, with the status the exception stands for.</summary>
internal static class ProblemMapping
{
    public static IServiceCollection AddProblemMapping(this IServiceCollection services)
    {
        services.AddProblemDetails();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    public static WebApplication UseProblemMapping(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = StatusFor,
            ExceptionHandler = async context =>
            {
                var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
                var status = error is null ? StatusCodes.Status500InternalServerError : StatusFor(error);
                context.Response.StatusCode = status;
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

                var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
                await problems.WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails =
                    {
                        Status = status,
                        Title = TitleFor(status),
                        Detail = status == StatusCodes.Status500InternalServerError ? "An unexpected error occurred; it has been logged." : OneLine(error),
                    },
                    Exception = error,
                });
            },
        });
        app.UseStatusCodePages();
        return app;
    }

    private static int StatusFor(Exception error) => error switch
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

    private static string TitleFor(int status) => status switch
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

    // Malformed JSON surfaces as BadHttpRequestException wrapping the JsonException: show the parser's message.
    private static string? OneLine(Exception? error) =>
        (error is BadHttpRequestException { InnerException: { } inner } ? $"{error.Message} {inner.Message}" : error?.Message)?.ReplaceLineEndings(" ");
}
