namespace CityWatch.Identity;

/// <summary>
/// What an account may do. Anonymous members of the public hold no role and see only the public pages.
/// No account may hold <see cref="Administrator"/> together with <see cref="Verifier"/> or
/// <see cref="Authority"/>: whoever runs the system must not also confirm matches or authorise their basis.
/// </summary>
public enum Role
{
    /// <summary>Runs the system: accounts, roles, cameras, edge keys.</summary>
    Administrator,

    /// <summary>Watches alerts for the cameras in scope.</summary>
    Operator,

    /// <summary>Confirms or rejects candidate matches.</summary>
    Verifier,

    /// <summary>Curates watchlists, runs retrospective analysis for a case.</summary>
    Investigator,

    /// <summary>Authorises legal bases (a court or the body the law names).</summary>
    Authority,

    /// <summary>The data-protection officer: audits everything, changes nothing biometric.</summary>
    DataProtectionOfficer,

    /// <summary>A smart camera pushing events with an API key, for its own cameras only.</summary>
    EdgeDevice,
}

/// <summary>Which roles govern the others, and which need a second person before they take effect.</summary>
public static class Roles
{
    /// <summary>
    /// The oversight roles: they authorise, verify and audit what the operators and the administrator do,
    /// so no administrator may hand them out alone.
    /// </summary>
    public static bool IsOversight(this Role role) => role is Role.Authority or Role.DataProtectionOfficer or Role.Verifier;

    /// <summary>
    /// A grant of an oversight role or of <see cref="Role.Administrator"/> is pending until a second person,
    /// who holds an oversight role, approves it.
    /// </summary>
    public static bool NeedsSecondPerson(this Role role) => role.IsOversight() || role == Role.Administrator;
}

/// <summary>Where a role grant stands: only an <see cref="Active"/> one is in force.</summary>
public enum GrantStatus
{
    /// <summary>Asked for by an administrator; waits for a second person.</summary>
    Pending,

    /// <summary>In force (within its validity period).</summary>
    Active,

    /// <summary>Refused by the second person; kept for the record.</summary>
    Rejected,
}

/// <summary>
/// A role held by an account, optionally limited to some sites or cameras and to a validity period.
/// Null scope lists mean every site / camera. <see cref="DecidedBy"/> names who approved or rejected a
/// grant that needed a second person ("setup-token" for the bootstrap quorum).
/// </summary>
public sealed record RoleGrant(
    long Id,
    long AccountId,
    Role Role,
    IReadOnlyList<long>? SiteIds,
    IReadOnlyList<long>? CameraIds,
    DateTimeOffset? ValidFrom,
    DateTimeOffset? ValidUntil,
    string GrantedBy,
    DateTimeOffset GrantedAt,
    GrantStatus Status = GrantStatus.Active,
    string? DecidedBy = null,
    DateTimeOffset? DecidedAt = null)
{
    public bool IsValidAt(DateTimeOffset now) => (ValidFrom is null || now >= ValidFrom) && (ValidUntil is null || now < ValidUntil);

    /// <summary>Approved (or needing no approval) and within its validity period.</summary>
    public bool IsInForceAt(DateTimeOffset now) => Status == GrantStatus.Active && IsValidAt(now);
}

public sealed record RoleGrantInput(Role Role, IReadOnlyList<long>? SiteIds = null, IReadOnlyList<long>? CameraIds = null, DateTimeOffset? ValidFrom = null, DateTimeOffset? ValidUntil = null);

/// <summary>
/// A person's account. There are no shared or hidden accounts: every one is listed and counted publicly by
/// role. One natural person has at most one account (their identity reference is stored only as a keyed
/// hash). <see cref="Accepted"/>: the person has set their own password and second factor.
/// </summary>
public sealed record Account(
    long Id,
    string Username,
    string PersonName,
    bool Disabled,
    bool Accepted,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    IReadOnlyList<RoleGrant> Roles);

/// <summary>
/// What an administrator gives to invite a person: never a password (the person sets their own), so any
/// other field, a password included, is refused. <paramref name="IdentityReference"/> is the person's
/// national id or staff number; only its keyed hash is kept.
/// </summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record AccountInput(string Username, string PersonName, string IdentityReference);

/// <summary>An edge device's key: shown once at creation, stored only as a hash, scoped to cameras, revocable.</summary>
public sealed record ApiKey(long Id, string Name, IReadOnlyList<long> CameraIds, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset? RevokedAt);

public sealed record ApiKeyInput(string Name, IReadOnlyList<long> CameraIds);

/// <summary>A new key with its secret: the only time the secret is ever shown.</summary>
public sealed record CreatedApiKey(ApiKey Key, string Secret);
