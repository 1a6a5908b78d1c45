namespace CityWatch.Policy;

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
/// embedding, matching) takes one. The constructor is <c>private protected</c> and the only concrete
/// grant is a private type inside <see cref="PolicyEngine"/>, so no other code can make one; a test
/// checks that no other subclass exists.
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

public sealed class GrantExpiredException(ProcessingGrant grant, DateTimeOffset now)
    : InvalidOperationException($"Processing grant {grant.Id} is valid from {grant.IssuedAt:O} to {grant.ExpiresAt:O}, not at {now:O}.");

public sealed class GrantScopeException(string message) : InvalidOperationException(message);
