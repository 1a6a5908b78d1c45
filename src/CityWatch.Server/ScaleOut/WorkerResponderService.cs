using System.Data.Common;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.ScaleOut;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace CityWatch.Server.ScaleOut;

/// <summary>
/// In the server role (<c>serve --role server</c>), answers the workers' register, grant and gallery requests over NATS
/// (<see cref="WorkerRequests"/>). It opens the lease bucket (with the lease TTL every worker uses) once NATS answers,
/// retrying every few seconds until it does, then serves until the host stops.
/// </summary>
internal sealed partial class WorkerResponderService(IServiceProvider services, ScaleOutOptions options, ILogger<WorkerRequests> logger) : BackgroundService
{
    private static readonly TimeSpan OpenRetry = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var link = options.Link ?? throw new InvalidOperationException("The server role needs a NATS URL.");
        var url = link.Url;
        await using var nats = new NatsConnection(link.Options("citywatch-server-responder"));
        var time = services.GetRequiredService<TimeProvider>();
        CameraLeases? leases = null;
        var keys = false;
        while (leases is null || !keys)
        {
            try
            {
                leases ??= await CameraLeases.OpenAsync(nats, options.LeaseTtl, time, cancellationToken: stoppingToken);
                // Both keys are unwrapped now, outside any transaction, before the first request: a failed unwrap
                // (the database busy) is tried again here rather than failing requests one by one.
                _ = services.GetRequiredService<CropSealing>().PublicKey;
                _ = services.GetRequiredService<PolicyEngine>().GrantSigningPublicKey;
                keys = true;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException or DbException)
            {
                LogOpenFailed(logger, url, e.Message);
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

        var requests = new WorkerRequests(
            services.GetRequiredService<CameraStore>(),
            services.GetRequiredService<PolicyEngine>(),
            services.GetRequiredService<WatchlistStore>(),
            leases,
            services.GetRequiredService<CropSealing>(),
            services.GetRequiredService<AuditTrail>(),
            services.GetRequiredService<CityWatchDatabase>(),
            () => services.GetRequiredService<RecognitionOptions>().CurrentThreshold,
            time,
            logger);
        await requests.ServeAsync(nats, stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker responders: cannot open the lease bucket on {Url} or unwrap the grant and crop keys ({Reason}); retrying")]
    private static partial void LogOpenFailed(ILogger logger, string url, string reason);
}
