namespace CityWatch.Matching;

/// <summary>
/// A watchlist and its approval state (G5). <see cref="CurrentDigest"/> is the hash over its entries now;
/// <see cref="ApprovedDigest"/> the hash a second account approved. Any enrolment or removal changes the
/// current digest, so the list is <see cref="Approved"/> again only once re-approved, and a deployment
/// approved on an older digest no longer gets it.
/// </summary>
public sealed record Watchlist(
    long Id,
    string Name,
    string Description,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    int Entries,
    string CurrentDigest,
    string? ApprovedDigest,
    string? ApprovedBy,
    DateTimeOffset? ApprovedAt,
    string? ChangedBy,
    DateTimeOffset? ChangedAt)
{
    public bool Approved => ApprovedDigest is not null && ApprovedDigest == CurrentDigest;
}

/// <summary>
/// One enrolled person. The template itself never leaves the store through this record: the API shows
/// who was enrolled, by whom, under which legal basis, from what source, who approved it and until when,
/// plus the template's hash.
/// </summary>
public sealed record WatchlistEntry(
    long Id,
    long WatchlistId,
    string Label,
    string Category,
    string ImageSource,
    long? LegalBasisId,
    string EnrolledBy,
    DateTimeOffset EnrolledAt,
    DateTimeOffset? ExpiresAt,
    string? ApprovedBy,
    DateTimeOffset? ApprovedAt,
    string Model,
    string TemplateHash);

public sealed record WatchlistInput(string Name, string Description);

/// <summary>A watchlist's state as the audit log's checkpoints commit to it: entry count and a hash over every template.</summary>
public sealed record WatchlistDigest(long WatchlistId, string Name, long Count, byte[] RootHash)
{
    public string Hex => Convert.ToHexStringLower(RootHash);
}
