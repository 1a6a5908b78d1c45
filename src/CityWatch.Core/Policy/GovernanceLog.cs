using CityWatch.Audit;

namespace CityWatch.Policy;

/// <summary>
/// The governance acts this folder records, beside <see cref="AuditActions"/> (which the lead may merge
/// them into): deployments, watchlist approval and expiry, urgency destruction, and refused acts.
/// </summary>
public static class GovernanceActions
{
    /// <summary>A governance act refused (authorising one's own basis, a deployment on an unapproved watchlist, the size cap...).</summary>
    public const string Refusal = "governance.refusal";
    public const string DeploymentStart = "deployment.start";
    public const string DeploymentStop = "deployment.stop";
    public const string WatchlistApproval = "watchlist.approve";
    public const string WatchlistExpiry = "watchlist.expiry";

    /// <summary>Proof of deletion of everything made under an urgent basis that was refused or not authorised in time.</summary>
    public const string UrgencyDestruction = "legal_basis.destruction";
}

internal static class GovernanceLog
{
    public static Task<long> RefusalAsync(AuditTrail audit, string actor, long? basisId, string act, string reason, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? parameters = null)
    {
        var all = new Dictionary<string, string> { ["act"] = act };
        foreach (var (key, value) in parameters ?? new Dictionary<string, string>())
        {
            all[key] = value;
        }

        return audit.AppendAsync(new AuditRecord(actor, GovernanceActions.Refusal, reason, basisId, Parameters: all), cancellationToken);
    }
}
