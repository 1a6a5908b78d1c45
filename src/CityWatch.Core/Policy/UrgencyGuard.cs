using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Matching;
using Dapper;

namespace CityWatch.Policy;

/// <summary>
/// Urgency use (G3, AI Act 5(3)): an urgent basis is in force before its authorisation only until its
/// deadline (24 h from its start for live use, 48 h for retrospective). If the authority refuses it, the
/// deadline passes without an authorisation, or it is revoked before it was ever authorised, the basis stops
/// granting anything and everything made under it is destroyed: its alerts (rows, keys and crop files), the
/// watchlist entries enrolled under it, and its running deployments are stopped. The deletion and its record
/// (counts and ids) commit in one transaction, then the vault erases what was destroyed
/// (<see cref="Evidence.EvidenceVault.EraseDestroyed"/>: on SQLite the WAL checkpoint, so that no copy of a destroyed
/// key or template stays on disk). Checked by the policy engine at every decision and by
/// <see cref="GovernanceJob"/> in the background.
/// <para>
/// The destruction runs over <see cref="CityWatchDatabase.Connect"/> in <see cref="SqlDialect.BeginWrite"/> on
/// <see cref="DestructionTables"/>: it reads what was made under the basis and deletes it, so no alert or enrolment
/// under it commits between the two (on SQLite <c>BEGIN IMMEDIATE</c>, as before).
/// </para>
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

    /// <summary>
    /// What the destruction locks, in the order the deployment start names the policy and watchlist tables and then
    /// the alert tables as <see cref="AlertStore.LockOrder"/> does (a decision holds <c>alert_decisions</c> while it
    /// writes <c>alerts</c>; taking them the other way round could deadlock with it on PostgreSQL).
    /// </summary>
    internal static readonly string[] DestructionTables = ["legal_bases", "watchlists", "watchlist_entries", .. AlertStore.LockOrder];

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

    /// <summary>
    /// An authority or the DPO revokes a basis, which stops its deployments; an urgent basis that was never
    /// authorised is then destroyed exactly as a refused one.
    /// </summary>
    public async Task<LegalBasis> RevokeAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var basis = await legalBases.RevokeAsync(id, actor, cancellationToken);
        await deployments.StopForBasisAsync(id, actor, "legal basis revoked", cancellationToken);
        if (basis.Urgent && basis.DecidedBy is null)
        {
            await EnforceAsync(cancellationToken);
        }

        return legalBases.Get(id);
    }

    /// <summary>Lapses urgent bases past their deadline and destroys what refused, lapsed or revoked ones produced. Returns how many were settled.</summary>
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
                if (basis.Status == LegalBasisStatus.Lapsed)
                {
                    await legalBases.MarkLapsedAsync(basis, SystemActor, cancellationToken);
                }

                if (await DestroyAsync(basis, cancellationToken))
                {
                    settled++;
                }
            }

            return settled;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<bool> DestroyAsync(LegalBasis basis, CancellationToken cancellationToken)
    {
        var stopped = await deployments.StopForBasisAsync(basis.Id, SystemActor, "urgency use ended without authorisation", cancellationToken);
        IReadOnlyList<long> destroyed;
        IReadOnlyList<string> files;
        IReadOnlyList<(long WatchlistId, long EntryId)> entries;
        StagedRecord staged;
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginWrite(connection, DestructionTables))
        {
            if (!legalBases.MarkDestroyed(connection, transaction, basis.Id))
            {
                return false;
            }

            var raised = connection.Query<long>("SELECT id FROM alerts WHERE legal_basis_id = @id ORDER BY id", new { id = basis.Id }, transaction).ToList();
            // Each crop's key is destroyed (crypto-shredding), its decisions and row deleted; its file goes after the commit.
            (destroyed, files) = alerts.DeleteWithin(connection, transaction, raised);
            entries = watchlists.RemoveUnderBasis(connection, transaction, basis.Id, SystemActor);
            staged = audit.Stage(connection, transaction, new AuditRecord(
                SystemActor,
                GovernanceActions.UrgencyDestruction,
                basis.Status switch
                {
                    LegalBasisStatus.Refused => "destroyed: urgency use refused",
                    LegalBasisStatus.Revoked => "destroyed: urgency use revoked before authorisation",
                    _ => "destroyed: urgency use not authorised in time",
                },
                basis.Id,
                Parameters: new Dictionary<string, string>
                {
                    ["alerts"] = Invariant(destroyed.Count),
                    ["alertIds"] = string.Join(",", destroyed.Select(Invariant)),
                    ["entries"] = Invariant(entries.Count),
                    ["entryIds"] = string.Join(",", entries.Select(e => $"{Invariant(e.WatchlistId)}/{Invariant(e.EntryId)}")),
                    ["deploymentsStopped"] = string.Join(",", stopped.Select(Invariant)),
                },
                ResultCount: destroyed.Count + entries.Count));
            transaction.Commit();
        }

        alerts.NotifyChanged();
        AlertStore.DeleteFiles(files);
        watchlists.NotifyChanged(entries.Select(e => e.WatchlistId));
        alerts.Vault.EraseDestroyed();
        await audit.CommittedAsync(staged, cancellationToken);
        return true;
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
