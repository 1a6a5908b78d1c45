using System.Globalization;
using CityWatch.Audit;
using CityWatch.Matching;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CityWatch.Policy;

/// <summary>
/// The governance sweep that must happen with no traffic at all: every <see cref="Period"/> (on the
/// injected clock) it lapses urgent bases past their deadline and destroys what they produced
/// (<see cref="UrgencyGuard"/>), and removes watchlist entries past their expiry, the removal and its record in
/// one transaction, followed by a WAL checkpoint.
/// </summary>
public sealed partial class GovernanceJob(
    UrgencyGuard urgency,
    WatchlistStore watchlists,
    AuditTrail audit,
    TimeProvider time,
    ILogger<GovernanceJob> logger) : BackgroundService
{
    public const string SystemActor = "governance-job";

    public static readonly TimeSpan Period = TimeSpan.FromSeconds(30);

    /// <summary>One sweep; returns the number of urgent bases settled and of entries expired.</summary>
    public async Task<(int UrgentSettled, int EntriesExpired)> SweepAsync(CancellationToken cancellationToken = default)
    {
        var settled = await urgency.EnforceAsync(cancellationToken);
        var staged = new List<StagedRecord>();
        var expired = watchlists.RemoveExpired(time.GetUtcNow(), SystemActor, (connection, transaction, removed) =>
        {
            foreach (var group in removed.GroupBy(e => e.WatchlistId))
            {
                staged.Add(audit.Stage(connection, transaction, new AuditRecord(SystemActor, GovernanceActions.WatchlistExpiry, "expired entries removed", Parameters: new Dictionary<string, string>
                {
                    ["watchlist"] = group.Key.ToString(CultureInfo.InvariantCulture),
                    ["entries"] = string.Join(",", group.Select(e => e.EntryId.ToString(CultureInfo.InvariantCulture))),
                }, ResultCount: group.Count())));
            }
        });
        foreach (var record in staged)
        {
            await audit.CommittedAsync(record, cancellationToken);
        }

        return (settled, expired.Count);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(logger, e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Governance sweep failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
