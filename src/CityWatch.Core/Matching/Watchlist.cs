namespace CityWatch.Matching;

public sealed record Watchlist(long Id, string Name, string Description, string CreatedBy, DateTimeOffset CreatedAt, int Entries);

/// <summary>
/// One enrolled person. The template itself never leaves the store through this record: the API shows
/// who was enrolled, by whom, from what source and until when, plus the template's hash.
/// </summary>
public sealed record WatchlistEntry(
    long Id,
    long WatchlistId,
    string Label,
    string Category,
    string ImageSource,
    string EnrolledBy,
    DateTimeOffset EnrolledAt,
    DateTimeOffset? ExpiresAt,
    string Model,
    string TemplateHash);

public sealed record WatchlistInput(string Name, string Description);

/// <summary>A watchlist's state as the audit log's checkpoints commit to it: entry count and a hash over every template.</summary>
public sealed record WatchlistDigest(long WatchlistId, string Name, long Count, byte[] RootHash);
