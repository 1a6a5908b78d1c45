namespace CityWatch.SubjectAccess;

/// <summary>How the requester's identity was verified before the request was registered.</summary>
public enum IdentityVerification
{
    /// <summary>An identity document seen in person by the DPO's office.</summary>
    DocumentInPerson,

    /// <summary>A national electronic identification (eID) sign-in.</summary>
    ElectronicIdentification,

    /// <summary>A certified copy of an identity document, received by post.</summary>
    CertifiedCopy,
}

/// <summary>
/// Where a request stands: registered (Received), searched with the requester's photo and held sealed
/// until approval (Searched), released by a second DPO or an authority (Released).
/// </summary>
public enum SubjectAccessState
{
    Received,
    Searched,
    Released,
}

/// <summary>
/// A data subject's access request (GDPR Art. 15) as registered: the requester appears only as a salted
/// hash of their verified identity reference (never stored in clear), with how it was verified and when
/// the request was received. <see cref="Reference"/> is what the log and the policy engine name.
/// </summary>
public sealed record SubjectAccessRequest(
    long Id,
    string Reference,
    IdentityVerification Verification,
    DateTimeOffset ReceivedAt,
    SubjectAccessState State,
    string RegisteredBy,
    DateTimeOffset RegisteredAt,
    string? SearchedBy,
    DateTimeOffset? SearchedAt,
    string? ApprovedBy,
    DateTimeOffset? ApprovedAt);

/// <summary>What the DPO registers: the requester's verified identity reference (e.g. a document number), how it was verified, when the request came in.</summary>
public sealed record SubjectAccessRequestInput(string IdentityReference, IdentityVerification? Verification, DateTimeOffset? ReceivedAt);

/// <summary>Published counts: requests received, answered (released), and the median days from receipt to release.</summary>
public sealed record SubjectAccessCounts(int Received, int Answered, double? MedianDaysToAnswer);

/// <summary>The audit actions of the request register.</summary>
public static class SubjectAccessActions
{
    public const string Register = "subject_access.register";
    public const string Approve = "subject_access.approve";
    public const string Release = "subject_access.release";

    /// <summary>A refused act: searching twice, approving one's own search, reading before approval.</summary>
    public const string Refusal = "subject_access.refusal";
}
