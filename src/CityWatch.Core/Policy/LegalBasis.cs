namespace CityWatch.Policy;

public enum LegalBasisStatus
{
    Draft,
    Active,
    Revoked,
}

/// <summary>
/// A registered legal basis for biometric processing: the instrument and decision that allow it, its
/// objective, and its scope (purposes, cameras, watchlists, time window). Only an active basis inside
/// its window lets the <see cref="PolicyEngine"/> grant processing.
/// </summary>
public sealed record LegalBasis(
    long Id,
    string Title,
    string Instrument,
    string Authority,
    string DecisionId,
    string Objective,
    IReadOnlyList<ProcessingPurpose> Purposes,
    IReadOnlyList<long> CameraIds,
    IReadOnlyList<long> WatchlistIds,
    DateTimeOffset ValidFrom,
    DateTimeOffset ValidUntil,
    LegalBasisStatus Status,
    bool IsDemonstration,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? RevokedAt)
{
    public bool IsInForceAt(DateTimeOffset now) =>
        Status == LegalBasisStatus.Active && now >= ValidFrom && now < ValidUntil;
}

/// <summary>What a city registers; the server assigns the id and the status.</summary>
public sealed record LegalBasisDraft(
    string Title,
    string Instrument,
    string Authority,
    string DecisionId,
    string Objective,
    IReadOnlyList<ProcessingPurpose> Purposes,
    IReadOnlyList<long> CameraIds,
    IReadOnlyList<long> WatchlistIds,
    DateTimeOffset ValidFrom,
    DateTimeOffset ValidUntil,
    bool IsDemonstration = false);
