namespace CityWatch.Policy;

/// <summary>A watchlist as a deployment uses it: the digest a second account approved (G13: the watchlist version).</summary>
public sealed record DeploymentWatchlist(long WatchlistId, string Digest);

/// <summary>
/// One use of a legal basis for live identification (G9, G13): on some of its cameras, with approved
/// versions of some of its watchlists, started and stopped by named people. The policy engine grants live
/// processing only on the cameras of a running deployment, for its watchlists, while each watchlist's
/// digest is still the approved one.
/// </summary>
public sealed record Deployment(
    long Id,
    long LegalBasisId,
    IReadOnlyList<long> CameraIds,
    IReadOnlyList<DeploymentWatchlist> Watchlists,
    string StartedBy,
    DateTimeOffset StartedAt,
    string? StoppedBy,
    DateTimeOffset? StoppedAt,
    string? StopReason)
{
    public bool Running => StoppedAt is null;
}

public sealed record DeploymentInput(long LegalBasisId, IReadOnlyList<long> CameraIds, IReadOnlyList<long> WatchlistIds);

public sealed record DeploymentStop(string? Reason = null);
