using System.Globalization;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;

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
/// legal bases in force (purpose, camera or area, time window or urgency deadline, watchlists) and, for
/// retrospective use, against the case register: the case id must be the number of an open, unexpired
/// case, only that case's basis may grant, a camera must be one of the case's, and the grant ends with the
/// case. For live use it checks the running deployments (the camera must be in one, and
/// each watchlist's digest must still be the one approved for it). It logs every grant and every refusal
/// with its reason. Grants are short-lived (<see cref="GrantLifetime"/>), so a revoked, expired or lapsed
/// basis, a stopped deployment or a changed watchlist stops processing on a running stream within that time.
/// Before each decision it settles urgent bases past their deadline (<see cref="UrgencyGuard"/>).
/// A grant it issued can be signed for a worker (<see cref="Sign"/>) with the key ring's grant-signing key;
/// in one process the grant object itself is used and nothing is signed.
/// </summary>
public sealed class PolicyEngine(
    LegalBasisStore legalBases,
    CameraStore cameras,
    DeploymentStore deployments,
    WatchlistStore watchlists,
    CameraScope scope,
    UrgencyGuard urgency,
    CaseStore cases,
    AuditTrail audit,
    CityWatchDatabase database,
    TimeProvider time)
{
    public static readonly TimeSpan GrantLifetime = TimeSpan.FromSeconds(10);

    private readonly Lock _signerGate = new();
    private GrantSigner? _signer;

    /// <summary>
    /// The grant-signing key's raw Ed25519 public key, for a worker's <see cref="GrantVerifier"/>. The first call
    /// unwraps the key, which logs the unwrap and so needs the database's write lock: make it outside any write
    /// transaction (the server role does, before it answers its workers).
    /// </summary>
    public byte[] GrantSigningPublicKey => Signer.PublicKey;

    // Not a Lazy: a Lazy keeps the exception of a failed first unwrap (the database busy, say) and throws it for ever
    // after, so that no grant could be signed again until a restart; here a failed unwrap is simply tried again.
    private GrantSigner Signer
    {
        get
        {
            lock (_signerGate)
            {
                return _signer ??= new GrantSigner(database.Keys.GrantSigningSeed("the policy engine signs the grants it issues"));
            }
        }
    }

    /// <summary>
    /// The wire form of a grant this engine issued, signed for <paramref name="audience"/> (a worker id);
    /// a grant from anywhere else (a verified one included) is refused, so only the engine signs.
    /// </summary>
    public SignedGrant Sign(ProcessingGrant grant, string audience)
    {
        ArgumentNullException.ThrowIfNull(grant);
        if (grant is not IssuedGrant)
        {
            throw new ArgumentException($"Grant {grant.Id} was not issued by this policy engine, so it is not signed.", nameof(grant));
        }

        return Signer.Sign(grant, audience);
    }

    public async Task<PolicyDecision> AuthorizeAsync(PolicyRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        await urgency.EnforceAsync(cancellationToken);
        var now = time.GetUtcNow();
        // A log that is shorter than, forked from or altered since what a witness cosigned cannot record acts
        // anyone could trust: no biometric processing until it is investigated.
        var verdict = audit.StartupFailure is { } broken ? Verdict.Refused($"the audit log failed its start-up check: {broken}")
            : CameraRefusal(request) is { } refusal ? Verdict.Refused(refusal)
            : Evaluate(request, now);
        if (verdict.Reason is not null)
        {
            await audit.AppendAsync(Record(request, AuditActions.PolicyRefusal, verdict.Reason, null, null, null), cancellationToken);
            return new PolicyDecision(null, verdict.Reason);
        }

        // A subject-access grant carries basis id 0: GDPR Art. 15 itself, not a registered legal basis.
        var basisId = verdict.Basis?.Id ?? 0;

        var expires = now + GrantLifetime;
        if (verdict.Until < expires)
        {
            expires = verdict.Until;
        }

        var grant = new IssuedGrant(Guid.NewGuid(), basisId, request.Purpose, request.CameraId, verdict.Watchlists, request.CaseId, now, expires);
        await audit.AppendAsync(Record(request, AuditActions.PolicyGrant, "granted", basisId, grant, verdict.DeploymentId), cancellationToken);
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

    private Verdict Evaluate(PolicyRequest request, DateTimeOffset now)
    {
        if (request.Purpose == ProcessingPurpose.SubjectAccess)
        {
            // The data subject's own request is the basis (GDPR Art. 15): a reference, and never a watchlist.
            return string.IsNullOrWhiteSpace(request.CaseId) ? Verdict.Refused("a subject-access request needs its request reference")
                : request.WatchlistIds.Count > 0 ? Verdict.Refused("a subject-access request never matches against a watchlist")
                : new Verdict(null, [], now + GrantLifetime, null, null);
        }

        if (request.WatchlistIds.Count == 0 && request.Purpose != ProcessingPurpose.Evaluation)
        {
            return Verdict.Refused("no watchlist named: biometric processing is only ever against a named watchlist");
        }

        Case? registered = null;
        if (request.Purpose == ProcessingPurpose.Retrospective)
        {
            if (string.IsNullOrWhiteSpace(request.CaseId))
            {
                return Verdict.Refused("retrospective use needs a case id");
            }

            registered = cases.Find(request.CaseId);
            if (CaseRefusal(request, registered) is { } caseRefusal)
            {
                return Verdict.Refused(caseRefusal);
            }
        }

        if (request.Purpose == ProcessingPurpose.Live && request.CameraId is null)
        {
            return Verdict.Refused("live use needs a camera");
        }

        var inForce = legalBases.InForce(now);
        if (inForce.Count == 0)
        {
            return Verdict.Refused("no legal basis is in force");
        }

        var forPurpose = inForce.Where(b => b.InForceUntil(now, request.Purpose) is not null).ToList();
        if (forPurpose.Count == 0)
        {
            return Verdict.Refused($"no legal basis in force allows {request.Purpose.ToString().ToLowerInvariant()} use");
        }

        var forCamera = request.CameraId is { } camera
            ? forPurpose.Where(b => scope.Covers(b, camera)).ToList()
            : forPurpose;
        if (forCamera.Count == 0)
        {
            return Verdict.Refused($"camera {request.CameraId} is outside the scope of every legal basis in force");
        }

        if (registered is not null)
        {
            // Only the basis the case was opened under grants for it, and never beyond the case's expiry.
            var ofCase = forCamera.Where(b => b.Id == registered.LegalBasisId).ToList();
            if (ofCase.Count == 0)
            {
                return Verdict.Refused($"legal basis {registered.LegalBasisId} of case {registered.Number} is not in force for retrospective use");
            }

            var verdict = EvaluateWatchlists(request, now, ofCase);
            return verdict.Reason is null && registered.ExpiresAt < verdict.Until ? verdict with { Until = registered.ExpiresAt } : verdict;
        }

        if (request.Purpose == ProcessingPurpose.Evaluation)
        {
            return request.WatchlistIds.Count == 0
                ? new Verdict(forCamera[0], [], forCamera[0].InForceUntil(now, request.Purpose)!.Value, null, null)
                : Verdict.Refused("evaluation never matches against a watchlist");
        }

        return request.Purpose == ProcessingPurpose.Live
            ? EvaluateLive(request, now, forCamera)
            : EvaluateWatchlists(request, now, forCamera);
    }

    // A retrospective request names a registered case: not free text, not a closed or expired case, and a
    // camera only if it is one of the case's.
    private static string? CaseRefusal(PolicyRequest request, Case? registered)
    {
        if (registered is null)
        {
            var given = request.CaseId!.Length <= 64 ? request.CaseId : request.CaseId[..64] + "…";
            return $"'{given}' is not a registered case";
        }

        return registered.Status switch
        {
            CaseStatus.Closed => $"case {registered.Number} is closed",
            CaseStatus.Expired => $"case {registered.Number} expired at {registered.ExpiresAt:O}",
            _ when request.CameraId is { } camera && !registered.CameraIds.Contains(camera) => $"camera {camera} is outside the scope of case {registered.Number}",
            _ => null,
        };
    }

    // The basis that covers most of the requested watchlists. An explicit request must be covered whole;
    // AllowPartial takes the covered part.
    private static Verdict EvaluateWatchlists(PolicyRequest request, DateTimeOffset now, List<LegalBasis> candidates)
    {
        var best = candidates
            .Select(b => (Basis: b, Covered: request.WatchlistIds.Where(b.WatchlistIds.Contains).ToList()))
            .MaxBy(c => c.Covered.Count);
        if (best.Covered.Count == request.WatchlistIds.Count || (request.AllowPartial && best.Covered.Count > 0))
        {
            return new Verdict(best.Basis, best.Covered, best.Basis.InForceUntil(now, request.Purpose)!.Value, null, null);
        }

        var outside = request.WatchlistIds.Where(w => !candidates.Any(b => b.WatchlistIds.Contains(w)));
        return Verdict.Refused($"watchlist {string.Join(", ", outside)} is outside the scope of every legal basis in force here");
    }

    // Live use runs only inside a running deployment on this camera, for the deployment's watchlists, and
    // only while each watchlist is still the version approved for it.
    private Verdict EvaluateLive(PolicyRequest request, DateTimeOffset now, List<LegalBasis> candidates)
    {
        var camera = request.CameraId!.Value;
        var bases = candidates.ToDictionary(b => b.Id);
        var running = deployments.Running().Where(d => bases.ContainsKey(d.LegalBasisId) && d.CameraIds.Contains(camera)).ToList();
        if (running.Count == 0)
        {
            return Verdict.Refused($"no deployment is running on camera {camera}");
        }

        var digests = watchlists.Digests().ToDictionary(d => d.WatchlistId, d => d.Hex);
        var options = running.Select(d =>
        {
            var basis = bases[d.LegalBasisId];
            var usable = d.Watchlists.Where(w => basis.WatchlistIds.Contains(w.WatchlistId) && digests.GetValueOrDefault(w.WatchlistId) == w.Digest).Select(w => w.WatchlistId).ToHashSet();
            var changed = d.Watchlists.Where(w => !usable.Contains(w.WatchlistId) && request.WatchlistIds.Contains(w.WatchlistId)).Select(w => w.WatchlistId).ToList();
            return (Deployment: d, Basis: basis, Covered: request.WatchlistIds.Where(usable.Contains).ToList(), Changed: changed);
        }).ToList();
        var best = options.MaxBy(o => o.Covered.Count);
        if (best.Covered.Count > 0 && (best.Covered.Count == request.WatchlistIds.Count || request.AllowPartial))
        {
            return new Verdict(best.Basis, best.Covered, best.Basis.InForceUntil(now, ProcessingPurpose.Live)!.Value, null, best.Deployment.Id);
        }

        if (options.FirstOrDefault(o => o.Changed.Count > 0) is { Deployment: not null } stale)
        {
            return Verdict.Refused($"watchlist {string.Join(", ", stale.Changed)} changed since its approval for deployment {stale.Deployment.Id}; it must be re-approved and deployed again");
        }

        var outside = request.WatchlistIds.Where(w => !options.Any(o => o.Covered.Contains(w)));
        return Verdict.Refused($"watchlist {string.Join(", ", outside)} is outside every deployment running on camera {camera}");
    }

    private sealed record Verdict(LegalBasis? Basis, IReadOnlyList<long> Watchlists, DateTimeOffset Until, string? Reason, long? DeploymentId)
    {
        public static Verdict Refused(string reason) => new(null, [], default, reason, null);
    }

    private static AuditRecord Record(PolicyRequest request, string action, string outcome, long? basisId, ProcessingGrant? grant, long? deploymentId)
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

        if (deploymentId is { } deployment)
        {
            parameters["deployment"] = deployment.ToString(CultureInfo.InvariantCulture);
        }

        if (grant is not null)
        {
            parameters["grant"] = grant.Id.ToString();
            parameters["expires"] = grant.ExpiresAt.ToString("O", CultureInfo.InvariantCulture);
        }

        // A free-text "case" longer than a record may carry is cut, so that its refusal is still recorded.
        var caseId = request.CaseId is { Length: > AuditRecordLimits.CaseId } text ? text[..AuditRecordLimits.CaseId] : request.CaseId;
        return new AuditRecord(request.Actor, action, outcome, basisId, caseId, parameters);
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
