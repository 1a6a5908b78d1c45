using CityWatch.Server.Identity;
namespace CityWatch.Server;

/// <summary>Set once the server can serve: schema migrated and, with --demo, the demo city in place.</summary>
public sealed class Readiness
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    public string? Failure { get; private set; }

    public void MarkReady() => _ready.TrySetResult();

    public void MarkFailed(string reason)
    {
        Failure = reason;
        _ready.TrySetException(new InvalidOperationException(reason));
    }

    public static IEndpointRouteBuilder MapHealth(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", (Readiness readiness) => readiness.IsReady
            ? Results.Ok(new { status = "ready" })
            : Results.Problem(readiness.Failure ?? "Starting up.", statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready"))
            .Public().WithTags("Health");
        return app;
    }
}
