using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.ScaleOut;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace CityWatch.Server.ScaleOut;

/// <summary>
/// With <see cref="ServerOptions.NatsUrl"/> set, the server takes the workers' audit events off JetStream into its
/// log (<see cref="AuditIngest"/>). It opens the stream and consumer when NATS answers (retrying every few seconds
/// until it does), then runs the ingest loop until the host stops.
/// </summary>
internal sealed partial class AuditIngestService(
    string natsUrl,
    CityWatchDatabase database,
    AuditTrail audit,
    TimeProvider time,
    ILogger<AuditIngest> logger) : BackgroundService
{
    private static readonly TimeSpan OpenRetry = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var nats = new NatsConnection(new NatsOpts { Url = natsUrl, Name = "citywatch-server" });
        AuditIngest? ingest = null;
        while (ingest is null)
        {
            try
            {
                ingest = await AuditIngest.OpenAsync(nats, database, audit, time, logger: logger, cancellationToken: stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
            {
                LogOpenFailed(logger, natsUrl, e.Message);
                try
                {
                    await Task.Delay(OpenRetry, TimeProvider.System, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        await ingest.RunAsync(stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit ingest: cannot open the events stream on {Url} ({Reason}); retrying")]
    private static partial void LogOpenFailed(ILogger logger, string url, string reason);
}

internal static class ScaleOutServices
{
    /// <summary>The audit ingest from workers, when the server is given a NATS URL; nothing otherwise.</summary>
    public static IServiceCollection AddScaleOut(this IServiceCollection services, ServerOptions options)
    {
        if (options.NatsUrl is { } url)
        {
            services.AddHostedService(sp => new AuditIngestService(
                url,
                sp.GetRequiredService<CityWatchDatabase>(),
                sp.GetRequiredService<AuditTrail>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<AuditIngest>>()));
        }

        return services;
    }
}
