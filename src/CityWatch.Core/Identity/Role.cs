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

/// <summary>
/// A role held by an account, optionally limited to some sites or cameras and to a validity period.
/// Null scope lists mean every site / camera.
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
    DateTimeOffset GrantedAt)
{
    public bool IsValidAt(DateTimeOffset now) => (ValidFrom is null || now >= ValidFrom) && (ValidUntil is null || now < ValidUntil);
}

public sealed record RoleGrantInput(Role Role, IReadOnlyList<long>? SiteIds = null, IReadOnlyList<long>? CameraIds = null, DateTimeOffset? ValidFrom = null, DateTimeOffset? ValidUntil = null);

/// <summary>A person's account. There are no shared or hidden accounts: every one is listed and counted publicly by role.</summary>
public sealed record Account(long Id, string Username, string DisplayName, bool Disabled, DateTimeOffset CreatedAt, string CreatedBy, IReadOnlyList<RoleGrant> Roles);

public sealed record AccountInput(string Username, string DisplayName, string Password);

/// <summary>An edge device's key: shown once at creation, stored only as a hash, scoped to cameras, revocable.</summary>
public sealed record ApiKey(long Id, string Name, IReadOnlyList<long> CameraIds, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset? RevokedAt);

public sealed record ApiKeyInput(string Name, IReadOnlyList<long> CameraIds);

/// <summary>A new key with its secret: the only time the secret is ever shown.</summary>
public sealed record CreatedApiKey(ApiKey Key, string Secret);
