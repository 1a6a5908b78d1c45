namespace CityWatch.Policy;

/// <summary>Where a case stands: open until closed, or until its expiry passes (then reported as expired).</summary>
public enum CaseStatus
{
    Open,
    Closed,
    Expired,
}

/// <summary>
/// A registered case: the only thing retrospective search and analysis may name. Opened by an
/// investigator under a legal basis in force for retrospective use, with its offence, the cameras and the
/// time range it may search (inside the basis's scope and window) and an expiry no later than the basis's
/// end. <see cref="Status"/> is computed at the time of reading.
/// </summary>
public sealed record Case(
    long Id,
    string Number,
    long LegalBasisId,
    string Offence,
    IReadOnlyList<long> CameraIds,
    DateTimeOffset From,
    DateTimeOffset Until,
    DateTimeOffset ExpiresAt,
    CaseStatus Status,
    string OpenedBy,
    DateTimeOffset OpenedAt,
    string? ClosedBy,
    DateTimeOffset? ClosedAt,
    string? CloseReason)
{
    /// <summary>Whether evidence recorded by <paramref name="cameraId"/> at <paramref name="at"/> is inside the case's scope.</summary>
    public bool Covers(long? cameraId, DateTimeOffset at) =>
        cameraId is { } camera && CameraIds.Contains(camera) && at >= From && at < Until;
}

/// <summary>
/// What an investigator registers. <see cref="Offence"/> is a listed offence code
/// (<see cref="Policy.ListedOffences"/>) when the basis's objective is a suspect search, else a short
/// description of what the case is about.
/// </summary>
public sealed record CaseInput(
    string Number,
    long LegalBasisId,
    string Offence,
    IReadOnlyList<long>? CameraIds,
    DateTimeOffset From,
    DateTimeOffset Until,
    DateTimeOffset ExpiresAt);

/// <summary>Why a case is closed.</summary>
public sealed record CaseClosure(string? Reason);

/// <summary>Published counts of cases: per legal basis and month, no case numbers.</summary>
public sealed record CaseCount(long LegalBasisId, string Month, int Opened, int Closed);

/// <summary>The audit actions of the case register.</summary>
public static class CaseActions
{
    public const string Open = "case.open";
    public const string Close = "case.close";

    /// <summary>A refused act on the register (out of scope, duplicate number, closing a closed case).</summary>
    public const string Refusal = "case.refusal";
}
