using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CityWatch.Retention;

/// <summary>What one retention pass deleted, by kind of data.</summary>
public sealed record RetentionReport(DateTimeOffset At, IReadOnlyList<long> Candidates, IReadOnlyList<long> Rejected, IReadOnlyList<long> Confirmed)
{
    public int Total => Candidates.Count + Rejected.Count + Confirmed.Count;
}

/// <summary>
/// Deletes alerts past their retention: rows, decisions, item keys (so any surviving copy of a crop is
/// unreadable) and crop files. Each kind deleted is one audit record with its count and ids. Statistics
/// and the audit log are kept.
/// </summary>
public sealed class RetentionEnforcer(AlertStore alerts, AuditTrail audit, TimeProvider time, RetentionOptions options)
{
    public const string Actor = "retention";

    public async Task<RetentionReport> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var due = alerts.All()
            .Where(a => a.Status switch
            {
                AlertStore.Candidate => a.LastSeen + options.Candidates <= now,
                AlertStore.Rejected => (a.SettledAt ?? a.At) + options.Rejected <= now,
                AlertStore.Confirmed => a.At + (options.MaximumRetentionOfBasis(a.LegalBasisId) ?? options.Confirmed) <= now,
                _ => false,
            })
            .GroupBy(a => a.Status)
            .ToDictionary(g => g.Key, g => g.Select(a => a.Id).ToList());
        var report = new RetentionReport(
            now,
            await DeleteAsync(due, AlertStore.Candidate, options.Candidates, cancellationToken),
            await DeleteAsync(due, AlertStore.Rejected, options.Rejected, cancellationToken),
            await DeleteAsync(due, AlertStore.Confirmed, options.Confirmed, cancellationToken));
        return report;
    }

    private async Task<IReadOnlyList<long>> DeleteAsync(Dictionary<string, List<long>> due, string kind, TimeSpan period, CancellationToken cancellationToken)
    {
        if (!due.TryGetValue(kind, out var ids) || ids.Count == 0)
        {
            return [];
        }

        var deleted = alerts.Delete(ids);
        await audit.AppendAsync(
            new AuditRecord(
                Actor,
                EvidenceActions.RetentionDeletion,
                "deleted",
                Parameters: new Dictionary<string, string>
                {
                    ["kind"] = kind,
                    ["period"] = period.ToString("c", CultureInfo.InvariantCulture),
                    ["alerts"] = string.Join(",", deleted.Select(id => id.ToString(CultureInfo.InvariantCulture))),
                },
                ResultCount: deleted.Count),
            cancellationToken);
        return deleted;
    }
}

/// <summary>Runs <see cref="RetentionEnforcer"/> at start and then every <see cref="RetentionOptions.Interval"/> of the <see cref="TimeProvider"/>'s time.</summary>
public sealed class RetentionService(RetentionEnforcer enforcer, TimeProvider time, RetentionOptions options, ILogger<RetentionService> logger) : BackgroundService
{
    /// <summary>Completed passes (for tests and health).</summary>
    public long Passes => Interlocked.Read(ref passes);

    private long passes;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Interval, time);
        do
        {
            try
            {
                var report = await enforcer.RunOnceAsync(stoppingToken);
                if (report.Total > 0)
                {
                    logger.LogInformation(
                        "Retention deleted {Candidates} candidates, {Rejected} rejected and {Confirmed} confirmed alerts",
                        report.Candidates.Count, report.Rejected.Count, report.Confirmed.Count);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Retention pass failed; it runs again at the next interval");
            }

            Interlocked.Increment(ref passes);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
