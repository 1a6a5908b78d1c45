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
    /// <summary>The colour its alerts are marked with in the console's queue (one of <see cref="WatchlistColours.Palette"/>).</summary>
    public string Colour { get; init; } = WatchlistColours.Default;

    /// <summary>Whether its new alerts play a tone in the console's queue (for an operator who turned sound on there).</summary>
    public bool Sound { get; init; }

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

/// <param name="Colour">One of <see cref="WatchlistColours.Palette"/>; null: <see cref="WatchlistColours.Default"/>.</param>
/// <param name="Sound">Whether its new alerts play a tone in the console's queue.</param>
public sealed record WatchlistInput(string Name, string Description, string? Colour = null, bool Sound = false);

/// <summary>How a watchlist's alerts show in the console's queue: both optional, what is left out stays as it is.</summary>
public sealed record WatchlistDisplayInput(string? Colour, bool? Sound);

/// <summary>
/// The fixed palette a watchlist's alerts are marked with in the console (one stylesheet class per colour,
/// as the CSP admits no inline style). Each is dark enough to stand out at 3:1 or more on the console's white.
/// </summary>
public static class WatchlistColours
{
    public const string Default = "blue";

    public static IReadOnlyList<string> Palette { get; } = ["blue", "teal", "green", "olive", "orange", "red", "purple", "grey"];

    /// <summary>The colour, trimmed and lower-cased; null gives <see cref="Default"/>; one outside the palette is a bad request.</summary>
    public static string Check(string? colour)
    {
        if (colour is null)
        {
            return Default;
        }

        var name = colour.Trim().ToLowerInvariant();
        return Palette.Contains(name)
            ? name
            : throw new InvalidRequestException($"'colour' must be one of {string.Join(", ", Palette)} (got '{colour}').");
    }
}

/// <summary>A watchlist's state as the audit log's checkpoints commit to it: entry count and a hash over every template.</summary>
public sealed record WatchlistDigest(long WatchlistId, string Name, long Count, byte[] RootHash)
{
    public string Hex => Convert.ToHexStringLower(RootHash);
}
