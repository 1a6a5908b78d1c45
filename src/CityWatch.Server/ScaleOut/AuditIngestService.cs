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
/// With a NATS URL (<see cref="ServerOptions.NatsUrl"/> or <c>ScaleOut:Nats</c>), the server takes the workers' audit events off JetStream into its
/// log (<see cref="AuditIngest"/>). It opens the stream and consumer when NATS answers (retrying every few seconds
/// until it does), then runs the ingest loop until the host stops.
/// </summary>
internal sealed partial class AuditIngestService(
    NatsLink nats,
    CityWatchDatabase database,
    AuditTrail audit,
    TimeProvider time,
    ILogger<AuditIngest> logger) : BackgroundService
{
    private static readonly TimeSpan OpenRetry = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var connection = new NatsConnection(nats.Options("citywatch-server"));
        AuditIngest? ingest = null;
        while (ingest is null)
        {
            try
            {
                ingest = await AuditIngest.OpenAsync(connection, database, audit, time, logger: logger, cancellationToken: stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
            {
                LogOpenFailed(logger, nats.Url, e.Message);
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
    /// <summary>
    /// With a NATS URL, the audit ingest from workers; in the server role, the responders to its workers' requests
    /// (<see cref="WorkerResponderService"/>), the candidate ingest (<see cref="CandidateIngestService"/>) and the crop-sealing key; with a worker name too, this process's
    /// <see cref="CameraLeaseKeeper"/> (on its own NATS connection), which <see cref="Recognition.CameraMonitor"/>
    /// then runs its cameras under. Nothing otherwise.
    /// </summary>
    public static IServiceCollection AddScaleOut(this IServiceCollection services, ScaleOutOptions options)
    {
        services.AddSingleton(options);
        if (options.Link is { } link)
        {
            services.AddHostedService(sp => new AuditIngestService(
                link,
                sp.GetRequiredService<CityWatchDatabase>(),
                sp.GetRequiredService<AuditTrail>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<AuditIngest>>()));

            if (options.Role == ServerRole.Server)
            {
                services.AddSingleton(sp => new CropSealing(sp.GetRequiredService<CityWatchDatabase>()));
                services.AddHostedService(sp => new WorkerResponderService(sp, options, sp.GetRequiredService<ILogger<WorkerRequests>>()));
                services.AddHostedService(sp => new CandidateIngestService(
                    link,
                    sp.GetRequiredService<CityWatchDatabase>(),
                    sp.GetRequiredService<CityWatch.Alerts.AlertStore>(),
                    sp.GetRequiredService<CropSealing>(),
                    sp.GetRequiredService<CityWatch.Policy.PolicyEngine>(),
                    sp.GetRequiredService<AuditTrail>(),
                    sp.GetRequiredService<TimeProvider>(),
                    sp.GetRequiredService<ILogger<CandidateIngest>>()));
            }

            if (options.Worker is { } worker)
            {
                services.AddSingleton(sp => new LeaseKeeperService(
                    new NatsConnection(link.Options($"citywatch-worker-{worker}")),
                    worker,
                    options.LeaseTtl,
                    sp.GetRequiredService<TimeProvider>(),
                    sp.GetRequiredService<ILogger<CameraLeaseKeeper>>()));
                services.AddSingleton(sp => sp.GetRequiredService<LeaseKeeperService>().Keeper);
                services.AddHostedService(sp => sp.GetRequiredService<LeaseKeeperService>());
            }
        }

        return services;
    }
}

/// <summary>
/// Runs this worker's <see cref="CameraLeaseKeeper"/> on its own NATS connection until the host stops (the keeper
/// then releases every lease), then closes the connection.
/// </summary>
internal sealed class LeaseKeeperService : BackgroundService
{
    private readonly NatsConnection _nats;

    public LeaseKeeperService(NatsConnection nats, string worker, TimeSpan ttl, TimeProvider time, ILogger<CameraLeaseKeeper> logger)
    {
        _nats = nats;
        Keeper = new CameraLeaseKeeper(nats, worker, ttl, time, logger);
    }

    public CameraLeaseKeeper Keeper { get; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Keeper.RunAsync(stoppingToken);
        }
        finally
        {
            await _nats.DisposeAsync();
        }
    }
}
