namespace CityWatch.Retention;

/// <summary>
/// How long each kind of data is kept. Statistics (aggregate counts) and audit records are never deleted
/// by retention: the audit log is an append-only Merkle log, which keeps every record (well beyond the
/// 6 months the law asks for).
/// </summary>
public sealed record RetentionOptions
{
    /// <summary>Unconfirmed candidates, counted from when the person was last seen.</summary>
    public TimeSpan Candidates { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Rejected candidates, counted from the rejection.</summary>
    public TimeSpan Rejected { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Confirmed evidence, counted from when the alert was raised; its legal basis's maximum retention, if shorter, wins.</summary>
    public TimeSpan Confirmed { get; init; } = TimeSpan.FromDays(30);

    /// <summary>How often the background job looks.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(15);

    public RetentionOptions Validate()
    {
        foreach (var (name, value) in new[] { (nameof(Candidates), Candidates), (nameof(Rejected), Rejected), (nameof(Confirmed), Confirmed), (nameof(Interval), Interval) })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new InvalidRequestException($"Retention {name} must be positive, not {value}.");
            }
        }

        return this;
    }
}
