using CityWatch.Grants;

namespace CityWatch.Policy;

/// <summary>
/// Where a legal basis stands. The stored lifecycle is Draft, PrerequisitesRecorded, Authorised, and then
/// Refused, Lapsed (an urgent basis whose authorisation did not come in time) or Revoked. An authorised
/// basis is reported as Authorised before its window, Active inside it and Expired after it; an urgent
/// basis with its prerequisites recorded is UrgentActive from its start until its deadline.
/// </summary>
public enum LegalBasisStatus
{
    Draft,
    PrerequisitesRecorded,
    UrgentActive,
    Authorised,
    Active,
    Expired,
    Refused,
    Lapsed,
    Revoked,
}

/// <summary>The objectives for which AI Act article 5(1)(h) allows real-time remote biometric identification.</summary>
public enum LegalObjective
{
    /// <summary>Targeted search for specific victims of abduction, trafficking or sexual exploitation, or for missing persons.</summary>
    VictimOrMissingPersonSearch,

    /// <summary>Prevention of a specific, substantial and imminent threat to life or safety, or of a terrorist attack.</summary>
    ImminentThreat,

    /// <summary>Localisation or identification of a suspect of a criminal offence listed in Annex II (<see cref="ListedOffences"/>).</summary>
    SeriousOffenceSuspect,

    /// <summary>
    /// Measuring accuracy on a labelled test set before and during use (AI Act art. 15): never
    /// identification. Allowed only with the Evaluation purpose, and the Evaluation purpose only with it.
    /// </summary>
    AccuracyEvaluation,
}

/// <summary>A point of an area polygon, in degrees (WGS 84), as site coordinates are.</summary>
public sealed record GeoPoint(double Latitude, double Longitude);

/// <summary>
/// The fundamental-rights impact assessment's content as AI Act article 27(1)(a)-(f) lists it: each a
/// non-empty text (or a reference into the assessment document).
/// </summary>
public sealed record FriaAssessment(
    string Processes,
    string PeriodAndFrequency,
    string AffectedGroups,
    string Risks,
    string HumanOversight,
    string MitigationAndComplaints);

/// <summary>What must be on record before a basis can be authorised or used under urgency (G4).</summary>
public sealed record Prerequisites(
    string DpiaReference,
    FriaAssessment Fria,
    string RegistrationId,
    string RegulatorOpinionReference);

/// <summary>The authority's decision on a basis: its reference, and for a refusal the reason.</summary>
public sealed record AuthorityDecision(string DecisionReference, string? Reason = null);

/// <summary>
/// A legal basis for biometric processing: the instrument that allows it, its objective, its scope
/// (purposes, cameras or an area, time window, watchlists, retention, watchlist size cap), the
/// prerequisites on record and the authority's decision. Only a basis in force lets the
/// <see cref="PolicyEngine"/> grant processing. <see cref="Status"/> is computed at the time of reading.
/// </summary>
public sealed record LegalBasis(
    long Id,
    string Title,
    string Instrument,
    string Authority,
    LegalObjective Objective,
    string? Offence,
    string ObjectiveDetail,
    IReadOnlyList<ProcessingPurpose> Purposes,
    IReadOnlyList<long> CameraIds,
    IReadOnlyList<GeoPoint>? Area,
    IReadOnlyList<long> WatchlistIds,
    DateTimeOffset ValidFrom,
    DateTimeOffset ValidUntil,
    int MaxRetentionDays,
    int MaxWatchlistEntries,
    bool Urgent,
    DateTimeOffset? UrgencyDeadline,
    LegalBasisStatus Status,
    bool IsDemonstration,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    Prerequisites? Prerequisites,
    string? PrerequisitesRecordedBy,
    string? DecisionReference,
    string? DecidedBy,
    DateTimeOffset? DecidedAt,
    string? RefusalReason,
    string? RevokedBy,
    DateTimeOffset? RevokedAt)
{
    /// <summary>Urgent use may start before authorisation for at most this long (AI Act 5(3)): live.</summary>
    public static readonly TimeSpan LiveUrgency = TimeSpan.FromHours(24);

    /// <summary>Urgent use may start before authorisation for at most this long: retrospective only.</summary>
    public static readonly TimeSpan RetrospectiveUrgency = TimeSpan.FromHours(48);

    /// <summary>
    /// When this basis stops granting <paramref name="purpose"/>, if it grants it at
    /// <paramref name="now"/>; null if it does not. Authorised: the end of its window. Urgent and not yet
    /// decided: its <see cref="UrgencyDeadline"/> (or the end of its window, if sooner).
    /// </summary>
    public DateTimeOffset? InForceUntil(DateTimeOffset now, ProcessingPurpose purpose)
    {
        if (!Purposes.Contains(purpose) || now < ValidFrom || now >= ValidUntil)
        {
            return null;
        }

        return Status switch
        {
            LegalBasisStatus.Active => ValidUntil,
            LegalBasisStatus.UrgentActive when UrgencyDeadline is { } deadline && now < deadline => deadline < ValidUntil ? deadline : ValidUntil,
            _ => null,
        };
    }

    /// <summary>The deadline for an urgent basis's authorisation: 24 h from its start if it allows live use, else 48 h.</summary>
    public static DateTimeOffset DeadlineFor(DateTimeOffset validFrom, IReadOnlyList<ProcessingPurpose> purposes) =>
        validFrom + (purposes.Contains(ProcessingPurpose.Live) ? LiveUrgency : RetrospectiveUrgency);

    public bool IsInForceAt(DateTimeOffset now) => Purposes.Any(p => InForceUntil(now, p) is not null);
}

/// <summary>What a city registers; the server assigns the id and the status.</summary>
public sealed record LegalBasisDraft(
    string Title,
    string Instrument,
    string Authority,
    LegalObjective Objective,
    string ObjectiveDetail,
    IReadOnlyList<ProcessingPurpose> Purposes,
    IReadOnlyList<long> CameraIds,
    IReadOnlyList<long> WatchlistIds,
    DateTimeOffset ValidFrom,
    DateTimeOffset ValidUntil,
    int MaxRetentionDays = 30,
    int MaxWatchlistEntries = 100,
    string? Offence = null,
    IReadOnlyList<GeoPoint>? Area = null,
    bool Urgent = false,
    bool IsDemonstration = false);
