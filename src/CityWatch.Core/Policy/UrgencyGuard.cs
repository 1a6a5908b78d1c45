using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Matching;
using Dapper;

namespace CityWatch.Policy;

/// <summary>
/// Urgency use (G3, AI Act 5(3)): an urgent basis is in force before its authorisation only until its
/// deadline (24 h from its start for live use, 48 h for retrospective). If the authority refuses it, or the
/// deadline passes without an authorisation, the basis stops granting anything and everything made under
/// it is destroyed: its alerts (rows and crop files), the watchlist entries enrolled under it, and its
/// running deployments are stopped. The deletion is logged with counts and ids. Checked by the policy
/// engine at every decision and by <see cref="GovernanceJob"/> in the background.
/// </summary>
public sealed class UrgencyGuard(
    CityWatchDatabase database,
    LegalBasisStore legalBases,
    DeploymentStore deployments,
    WatchlistStore watchlists,
    AlertStore alerts,
    AuditTrail audit)
{
    public const string SystemActor = "urgency-guard";

    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>The authority refuses a basis; if it was urgent, what was made under it is destroyed.</summary>
    public async Task<LegalBasis> RefuseAsync(long id, AuthorityDecision decision, string actor, CancellationToken cancellationToken = default)
    {
        var basis = await legalBases.RefuseAsync(id, decision, actor, cancellationToken);
        await deployments.StopForBasisAsync(id, actor, "legal basis refused", cancellationToken);
        if (basis.Urgent)
        {
            await EnforceAsync(cancellationToken);
        }

        return legalBases.Get(id);
    }

    /// <summary>Lapses urgent bases past their deadline and destroys what refused or lapsed ones produced. Returns how many were settled.</summary>
    public async Task<int> EnforceAsync(CancellationToken cancellationToken = default)
    {
        var pending = legalBases.UrgentToSettle();
        if (pending.Count == 0)
        {
            return 0;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            var settled = 0;
            foreach (var basis in legalBases.UrgentToSettle())
            {
                if (basis.Status == LegalBasisStatus.Lapsed && legalBases.MarkLapsed(basis.Id))
                {
                    await audit.AppendAsync(
                        new AuditRecord(SystemActor, AuditActions.LegalBasisChange, "lapsed: no authorisation by the urgency deadline", basis.Id,
                            Parameters: new Dictionary<string, string> { ["deadline"] = Timestamps.Format(basis.UrgencyDeadline!.Value) }),
                        cancellationToken);
                }

                await DestroyAsync(basis, cancellationToken);
                settled++;
            }

            return settled;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task DestroyAsync(LegalBasis basis, CancellationToken cancellationToken)
    {
        var stopped = await deployments.StopForBasisAsync(basis.Id, SystemActor, "urgency use ended without authorisation", cancellationToken);
        List<long> raised;
        using (var connection = database.Open())
        {
            raised = connection.Query<long>("SELECT id FROM alerts WHERE legal_basis_id = @id ORDER BY id", new { id = basis.Id }).ToList();
        }

        // Through the alert store: each crop's key is destroyed (crypto-shredding), its decisions and row deleted, then its file.
        var destroyed = alerts.Delete(raised);

        var entries = watchlists.RemoveUnderBasis(basis.Id, SystemActor);
        legalBases.MarkDestroyed(basis.Id);
        await audit.AppendAsync(
            new AuditRecord(
                SystemActor,
                GovernanceActions.UrgencyDestruction,
                basis.Status == LegalBasisStatus.Refused ? "destroyed: urgency use refused" : "destroyed: urgency use not authorised in time",
                basis.Id,
                Parameters: new Dictionary<string, string>
                {
                    ["alerts"] = Invariant(destroyed.Count),
                    ["alertIds"] = string.Join(",", destroyed.Select(Invariant)),
                    ["entries"] = Invariant(entries.Count),
                    ["entryIds"] = string.Join(",", entries.Select(e => $"{Invariant(e.WatchlistId)}/{Invariant(e.EntryId)}")),
                    ["deploymentsStopped"] = string.Join(",", stopped.Select(Invariant)),
                },
                ResultCount: destroyed.Count + entries.Count),
            cancellationToken);
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
