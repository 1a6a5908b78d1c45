using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Policy;
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
/// unreadable) and crop files, then checkpoints the WAL so that no older copy of a deleted page stays on
/// disk. Each kind's period applies, and no alert of any kind outlives its legal basis's
/// <see cref="LegalBasis.MaxRetentionDays"/> (counted from when it was raised). Each kind deleted is one audit
/// record, with its count and ids, staged in the transaction of the deletion. Statistics and the audit log are kept.
/// </summary>
public sealed class RetentionEnforcer(AlertStore alerts, LegalBasisStore legalBases, AuditTrail audit, TimeProvider time, RetentionOptions options)
{
    public const string Actor = "retention";

    public async Task<RetentionReport> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var maximum = legalBases.List().ToDictionary(b => b.Id, b => TimeSpan.FromDays(b.MaxRetentionDays));
        var due = new Dictionary<string, List<long>>();
        var byBasis = new HashSet<long>();
        foreach (var alert in alerts.All())
        {
            var ownPeriodOver = alert.Status switch
            {
                AlertStore.Candidate => alert.LastSeen + options.Candidates <= now,
                AlertStore.Rejected => (alert.SettledAt ?? alert.At) + options.Rejected <= now,
                AlertStore.Confirmed => alert.At + options.Confirmed <= now,
                _ => false,
            };
            var basisMaximumOver = maximum.TryGetValue(alert.LegalBasisId, out var max) && alert.At + max <= now;
            if (ownPeriodOver || basisMaximumOver)
            {
                (due.TryGetValue(alert.Status, out var ids) ? ids : due[alert.Status] = []).Add(alert.Id);
                if (!ownPeriodOver)
                {
                    byBasis.Add(alert.Id);
                }
            }
        }

        var report = new RetentionReport(
            now,
            await DeleteAsync(due, byBasis, AlertStore.Candidate, options.Candidates, cancellationToken),
            await DeleteAsync(due, byBasis, AlertStore.Rejected, options.Rejected, cancellationToken),
            await DeleteAsync(due, byBasis, AlertStore.Confirmed, options.Confirmed, cancellationToken));

        // Keys destroyed without an erasure of their own since the last run (a track's crop replaced by a better one,
        // many a minute at a busy camera) are erased here, their epochs rotated together.
        alerts.Vault.EraseDestroyed();
        return report;
    }

    private async Task<IReadOnlyList<long>> DeleteAsync(
        Dictionary<string, List<long>> due, HashSet<long> byBasis, string kind, TimeSpan period, CancellationToken cancellationToken)
    {
        if (!due.TryGetValue(kind, out var ids) || ids.Count == 0)
        {
            return [];
        }

        return await alerts.DeleteAsync(
            ids,
            audit,
            deleted => new AuditRecord(
                Actor,
                EvidenceActions.RetentionDeletion,
                "deleted",
                Parameters: new Dictionary<string, string>
                {
                    ["kind"] = kind,
                    ["period"] = period.ToString("c", CultureInfo.InvariantCulture),
                    ["alerts"] = Join(deleted),
                    ["byBasisMaximum"] = Join(deleted.Where(byBasis.Contains)),
                },
                ResultCount: deleted.Count),
            cancellationToken);
    }

    private static string Join(IEnumerable<long> ids) => string.Join(",", ids.Select(id => id.ToString(CultureInfo.InvariantCulture)));
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
