namespace CityWatch.Grants;

/// <summary>What biometric processing is for; a legal basis names the purposes it allows.</summary>
public enum ProcessingPurpose
{
    /// <summary>Real-time identification on live camera streams against watchlists.</summary>
    Live,

    /// <summary>Identification on recorded or supplied media, for a case.</summary>
    Retrospective,

    /// <summary>Making templates of a watchlisted person from their photos.</summary>
    Enrolment,

    /// <summary>
    /// Measuring accuracy on a labelled test set (detection and embedding only, no watchlist): allowed
    /// only under a basis that names this purpose, such as the evaluation clause of a DPIA.
    /// </summary>
    Evaluation,

    /// <summary>
    /// Answering a data subject's access request (GDPR Art. 15) with the photo they supplied: no legal-basis
    /// record is needed, but the request's reference (as the case id) is, and no watchlist is ever used.
    /// </summary>
    SubjectAccess,
}

/// <summary>
/// Permission to run biometric processing for one purpose, on one camera (or supplied media), against
/// named watchlists, until a short expiry. Every biometric entry point (detection for identification,
/// embedding, matching) takes one. The constructor is <c>private protected</c> and there are exactly two
/// concrete grants, both private nested types: the one the policy engine issues, and the one
/// <see cref="GrantVerifier"/> makes from a <see cref="SignedGrant"/> whose signature, key, audience and
/// validity window check out. No other code can make one; a test checks that no other subclass exists.
/// </summary>
public abstract class ProcessingGrant
{
    private protected ProcessingGrant(
        Guid id,
        long legalBasisId,
        ProcessingPurpose purpose,
        long? cameraId,
        IReadOnlyList<long> watchlistIds,
        string? caseId,
        DateTimeOffset issuedAt,
        DateTimeOffset expiresAt)
    {
        Id = id;
        LegalBasisId = legalBasisId;
        Purpose = purpose;
        CameraId = cameraId;
        WatchlistIds = watchlistIds;
        CaseId = caseId;
        IssuedAt = issuedAt;
        ExpiresAt = expiresAt;
    }

    public Guid Id { get; }

    public long LegalBasisId { get; }

    public ProcessingPurpose Purpose { get; }

    /// <summary>The camera this grant covers, or null for supplied media (retrospective, enrolment).</summary>
    public long? CameraId { get; }

    public IReadOnlyList<long> WatchlistIds { get; }

    public string? CaseId { get; }

    public DateTimeOffset IssuedAt { get; }

    public DateTimeOffset ExpiresAt { get; }

    public bool Covers(long watchlistId) => WatchlistIds.Contains(watchlistId);

    /// <summary>Throws unless the grant is still valid at <paramref name="now"/>.</summary>
    public void EnsureValid(DateTimeOffset now)
    {
        if (now >= ExpiresAt)
        {
            throw new GrantExpiredException(this, now);
        }

        if (now < IssuedAt)
        {
            throw new GrantExpiredException(this, now);
        }
    }

    /// <summary>Throws unless the grant is valid now and covers the watchlist.</summary>
    public void EnsureCovers(long watchlistId, DateTimeOffset now)
    {
        EnsureValid(now);
        if (!Covers(watchlistId))
        {
            throw new GrantScopeException($"Grant {Id} does not cover watchlist {watchlistId}.");
        }
    }
}

/// <summary>A grant used outside its validity window.</summary>
public sealed class GrantExpiredException : InvalidOperationException
{
    public GrantExpiredException(ProcessingGrant grant, DateTimeOffset now)
        : this((grant ?? throw new ArgumentNullException(nameof(grant))).Id, grant.IssuedAt, grant.ExpiresAt, now)
    {
    }

    public GrantExpiredException(Guid id, DateTimeOffset issuedAt, DateTimeOffset expiresAt, DateTimeOffset now)
        : base($"Processing grant {id} is valid from {issuedAt:O} to {expiresAt:O}, not at {now:O}.")
    {
    }
}

/// <summary>A grant used for a watchlist it does not cover.</summary>
public sealed class GrantScopeException(string message) : InvalidOperationException(message);

/// <summary>A signed grant was refused before any grant was made from it (see <see cref="GrantVerifier"/>).</summary>
public abstract class GrantVerificationException(string message, Exception? inner = null) : InvalidOperationException(message, inner);

/// <summary>The wire form is not a well-formed signed grant (base64url, canonical claims, a 64-byte signature).</summary>
public sealed class MalformedGrantException(string message, Exception? inner = null) : GrantVerificationException(message, inner);

/// <summary>The grant names a signing key other than the one this verifier trusts.</summary>
public sealed class GrantKeyException(string message) : GrantVerificationException(message);

/// <summary>The Ed25519 signature does not verify over the claims.</summary>
public sealed class GrantSignatureException(string message) : GrantVerificationException(message);

/// <summary>The grant was issued for another worker (or for in-process use).</summary>
public sealed class GrantAudienceException(string message) : GrantVerificationException(message);
