using System.Data.Common;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Policy;
using CityWatch.ScaleOut;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace CityWatch.Server.ScaleOut;

/// <summary>
/// In the server role, takes the workers' candidates off JetStream into alerts and statistics (<see cref="CandidateIngest"/>).
/// It opens the stream and consumer when NATS answers (retrying every few seconds), then runs the loop until the host stops.
/// </summary>
internal sealed partial class CandidateIngestService(
    NatsLink link,
    CityWatchDatabase database,
    AlertStore alerts,
    CropSealing crops,
    PolicyEngine policy,
    AuditTrail audit,
    TimeProvider time,
    ILogger<CandidateIngest> logger) : BackgroundService
{
    private static readonly TimeSpan OpenRetry = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var nats = new NatsConnection(link.Options("citywatch-server-candidates"));
        CandidateIngest? ingest = null;
        while (ingest is null)
        {
            try
            {
                ingest = await CandidateIngest.OpenAsync(nats, database, alerts, crops, policy.GrantSigningPublicKey, audit, time, logger: logger, cancellationToken: stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException or DbException)
            {
                LogOpenFailed(logger, link.Url, e.Message);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Candidate ingest: cannot open the crop key or the candidate stream on {Url} ({Reason}); retrying")]
    private static partial void LogOpenFailed(ILogger logger, string url, string reason);
}
