using System.Globalization;
using CityWatch.Audit;
using CityWatch.Cameras;

namespace CityWatch.Policy;

/// <summary>A request for biometric processing: who asks, for what, where, against which watchlists.</summary>
public sealed record PolicyRequest(
    string Actor,
    ProcessingPurpose Purpose,
    long? CameraId,
    IReadOnlyList<long> WatchlistIds,
    string? CaseId = null,
    bool AllowPartial = false);

/// <summary>The answer: a grant, or the reason there is none. Both are already logged.</summary>
public sealed record PolicyDecision(ProcessingGrant? Grant, string? RefusalReason)
{
    public bool IsGranted => Grant is not null;
}

/// <summary>
/// The only place where a <see cref="ProcessingGrant"/> can be made. It checks the request against the
/// legal bases in force (purpose, camera, time window, watchlists, case id for retrospective use) and
/// logs every grant and every refusal with its reason. Grants are short-lived
/// (<see cref="GrantLifetime"/>), so a revoked or expired basis stops processing on a running stream
/// within that time.
/// </summary>
public sealed class PolicyEngine(LegalBasisStore legalBases, CameraStore cameras, AuditTrail audit, TimeProvider time)
{
    public static readonly TimeSpan GrantLifetime = TimeSpan.FromSeconds(10);

    /// <summary>The basis a subject-access grant carries (id 0): GDPR Art. 15, not a registered legal basis.</summary>
    private static readonly LegalBasis SubjectAccessBasis = new(
        0, "Data-subject access", "GDPR Art. 15", "data subject", "-", "access request", [ProcessingPurpose.SubjectAccess], [], [],
        DateTimeOffset.MinValue, DateTimeOffset.MaxValue, LegalBasisStatus.Active, false, "system", DateTimeOffset.MinValue, null);

    public async Task<PolicyDecision> AuthorizeAsync(PolicyRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var now = time.GetUtcNow();
        var (basis, watchlists, reason) = CameraRefusal(request) is { } refusal
            ? (null, [], refusal)
            : Evaluate(request, legalBases.InForce(now));
        if (basis is null)
        {
            await audit.AppendAsync(Record(request, AuditActions.PolicyRefusal, reason!, null), cancellationToken);
            return new PolicyDecision(null, reason);
        }

        var expires = now + GrantLifetime;
        if (basis.ValidUntil < expires)
        {
            expires = basis.ValidUntil;
        }

        var grant = new IssuedGrant(Guid.NewGuid(), basis.Id, request.Purpose, request.CameraId, watchlists, request.CaseId, now, expires);
        await audit.AppendAsync(Record(request, AuditActions.PolicyGrant, "granted", basis.Id, grant), cancellationToken);
        return new PolicyDecision(grant, null);
    }

    /// <summary>Authorizes or throws <see cref="PolicyRefusedException"/> (the refusal is logged first).</summary>
    public async Task<ProcessingGrant> RequireAsync(PolicyRequest request, CancellationToken cancellationToken = default)
    {
        var decision = await AuthorizeAsync(request, cancellationToken);
        return decision.Grant ?? throw new PolicyRefusedException(decision.RefusalReason!);
    }

    // The register says where face recognition may ever run; no legal basis overrides that.
    private string? CameraRefusal(PolicyRequest request)
    {
        if (request.CameraId is not { } id)
        {
            return null;
        }

        var camera = cameras.Find(id);
        return camera is null ? $"camera {id} is not in the register"
            : !camera.FaceRecognitionAllowed ? $"camera {id} is registered without face recognition"
            : null;
    }

    private static (LegalBasis? Basis, IReadOnlyList<long> Watchlists, string? Reason) Evaluate(PolicyRequest request, IReadOnlyList<LegalBasis> inForce)
    {
        if (request.Purpose == ProcessingPurpose.SubjectAccess)
        {
            // The data subject's own request is the basis (GDPR Art. 15): a reference, and never a watchlist.
            return string.IsNullOrWhiteSpace(request.CaseId) ? (null, [], "a subject-access request needs its request reference")
                : request.WatchlistIds.Count > 0 ? (null, [], "a subject-access request never matches against a watchlist")
                : (SubjectAccessBasis, [], null);
        }

        if (request.WatchlistIds.Count == 0 && request.Purpose != ProcessingPurpose.Evaluation)
        {
            return (null, [], "no watchlist named: biometric processing is only ever against a named watchlist");
        }

        if (request.Purpose == ProcessingPurpose.Retrospective && string.IsNullOrWhiteSpace(request.CaseId))
        {
            return (null, [], "retrospective use needs a case id");
        }

        if (request.Purpose == ProcessingPurpose.Live && request.CameraId is null)
        {
            return (null, [], "live use needs a camera");
        }

        if (inForce.Count == 0)
        {
            return (null, [], "no legal basis is in force");
        }

        var forPurpose = inForce.Where(b => b.Purposes.Contains(request.Purpose)).ToList();
        if (forPurpose.Count == 0)
        {
            return (null, [], $"no legal basis in force allows {request.Purpose.ToString().ToLowerInvariant()} use");
        }

        var forCamera = request.CameraId is { } camera
            ? forPurpose.Where(b => b.CameraIds.Contains(camera)).ToList()
            : forPurpose;
        if (forCamera.Count == 0)
        {
            return (null, [], $"camera {request.CameraId} is outside the scope of every legal basis in force");
        }

        if (request.Purpose == ProcessingPurpose.Evaluation)
        {
            return request.WatchlistIds.Count == 0
                ? (forCamera[0], [], null)
                : (null, [], "evaluation never matches against a watchlist");
        }

        // The basis that covers most of the requested watchlists. A camera stream asks for every watchlist
        // and takes the covered part (AllowPartial); an explicit request must be covered whole.
        var best = forCamera
            .Select(b => (Basis: b, Covered: request.WatchlistIds.Where(b.WatchlistIds.Contains).ToList()))
            .MaxBy(c => c.Covered.Count);
        if (best.Covered.Count == request.WatchlistIds.Count || (request.AllowPartial && best.Covered.Count > 0))
        {
            return (best.Basis, best.Covered, null);
        }

        var outside = request.WatchlistIds.Where(w => !forCamera.Any(b => b.WatchlistIds.Contains(w)));
        return (null, [], $"watchlist {string.Join(", ", outside)} is outside the scope of every legal basis in force here");
    }

    private static AuditRecord Record(PolicyRequest request, string action, string outcome, long? basisId, ProcessingGrant? grant = null)
    {
        var parameters = new Dictionary<string, string>
        {
            ["purpose"] = request.Purpose.ToString(),
            ["watchlists"] = string.Join(",", request.WatchlistIds),
        };
        if (request.CameraId is { } camera)
        {
            parameters["camera"] = camera.ToString(CultureInfo.InvariantCulture);
        }

        if (grant is not null)
        {
            parameters["grant"] = grant.Id.ToString();
            parameters["expires"] = grant.ExpiresAt.ToString("O", CultureInfo.InvariantCulture);
        }

        return new AuditRecord(request.Actor, action, outcome, basisId, request.CaseId, parameters);
    }

    // The only concrete grant. Private, so only this engine can construct one.
    private sealed class IssuedGrant(
        Guid id,
        long legalBasisId,
        ProcessingPurpose purpose,
        long? cameraId,
        IReadOnlyList<long> watchlistIds,
        string? caseId,
        DateTimeOffset issuedAt,
        DateTimeOffset expiresAt)
        : ProcessingGrant(id, legalBasisId, purpose, cameraId, watchlistIds, caseId, issuedAt, expiresAt);
}
