using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;

namespace CityWatch.Recognition;

/// <summary>A live grant for a camera, or why there is none.</summary>
public sealed record LinkGrant(ProcessingGrant? Grant, string? Refusal);

/// <summary>
/// An alert the analyser raised, as the link knows it: in one process the stored <see cref="Alert"/> (its id as the key);
/// on a worker the worker's own alert key (the server stores the alert when it takes the candidate, so there is no row here).
/// </summary>
public sealed record LinkedAlert(string Key, Alert? Stored)
{
    /// <summary>What the link that raised it keeps with it (a worker: the grant and fencing token the alert was last written under).</summary>
    internal object? Origin { get; init; }
}

/// <summary>What the audit record of a raised or improved candidate names besides the alert itself.</summary>
public sealed record CandidateTrace(long CameraId, Guid TrackId, int FusedFrames, float Threshold, IReadOnlyList<MatchCandidate> Candidates);

/// <summary>
/// Everything <see cref="FrameAnalyzer"/> needs beyond the vision pipeline, at exactly the boundary where a worker
/// process would talk to the server: a grant for a camera, the gallery that grant covers, the candidates it raises,
/// improves and touches, the faces it counted. <see cref="InProcessRecognitionLink"/> does it in one process against the
/// stores; <c>ScaleOut.ServerLink</c> does it over NATS. Every biometric call takes a <see cref="ProcessingGrant"/>, which
/// only the policy engine or <see cref="GrantVerifier"/> can make, so no link lets a caller skip it.
/// </summary>
public interface IRecognitionLink
{
    /// <summary>A live-processing grant for <paramref name="cameraId"/> (all the watchlists it may search), or the refusal.</summary>
    Task<LinkGrant> GrantAsync(long cameraId, CancellationToken cancellationToken);

    /// <summary>The operating threshold in force for what <paramref name="grant"/> covers.</summary>
    float Threshold(ProcessingGrant grant);

    /// <summary>The best candidates at or above <paramref name="threshold"/> in the gallery the grant covers (see <see cref="WatchlistIndex.Search"/>).</summary>
    IReadOnlyList<MatchCandidate> Search(ProcessingGrant grant, ReadOnlySpan<float> probe, float threshold, int top);

    /// <summary>Raises a new candidate alert and its audit record.</summary>
    Task<LinkedAlert> RaiseAsync(ProcessingGrant grant, NewAlert alert, CandidateTrace trace, CancellationToken cancellationToken);

    /// <summary>Gives an alert this analyser raised a better score and crop, with its audit record.</summary>
    Task<LinkedAlert> ImproveAsync(ProcessingGrant grant, LinkedAlert alert, AlertImprovement update, CandidateTrace trace, CancellationToken cancellationToken);

    /// <summary>Moves an alert's last-seen time and frame count on.</summary>
    void Touch(LinkedAlert alert, DateTimeOffset lastSeen, int frames);

    /// <summary>Counts faces analysed on a camera under a basis, for the statistics.</summary>
    void AddFaces(DateTimeOffset since, long cameraId, long legalBasisId, long faces);
}

/// <summary>
/// The link in one process: the policy engine grants, the in-memory <see cref="WatchlistIndex"/> searches, the alert
/// store and statistics write, the audit trail logs, each exactly as the analyser did before the seam (the alert row,
/// then its record; one statistics write per flush).
/// </summary>
public sealed class InProcessRecognitionLink(
    PolicyEngine policy,
    WatchlistStore watchlists,
    WatchlistIndex index,
    AlertStore alerts,
    AlertStatistics statistics,
    AuditTrail audit,
    RecognitionOptions options) : IRecognitionLink
{
    public async Task<LinkGrant> GrantAsync(long cameraId, CancellationToken cancellationToken)
    {
        var all = watchlists.List().Select(w => w.Id).ToList();
        var decision = await policy.AuthorizeAsync(
            new PolicyRequest(FrameAnalyzer.CameraActor, ProcessingPurpose.Live, cameraId, all, AllowPartial: true), cancellationToken);
        return new LinkGrant(decision.Grant, decision.RefusalReason);
    }

    public float Threshold(ProcessingGrant grant) => options.CurrentThreshold;

    public IReadOnlyList<MatchCandidate> Search(ProcessingGrant grant, ReadOnlySpan<float> probe, float threshold, int top) =>
        index.Search(grant, probe, threshold, top);

    public async Task<LinkedAlert> RaiseAsync(ProcessingGrant grant, NewAlert alert, CandidateTrace trace, CancellationToken cancellationToken)
    {
        var stored = alerts.Add(alert);
        await LogAsync("candidate", stored.Id, grant, trace, cancellationToken);
        return new LinkedAlert(Key(stored.Id), stored);
    }

    public async Task<LinkedAlert> ImproveAsync(ProcessingGrant grant, LinkedAlert alert, AlertImprovement update, CandidateTrace trace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var stored = alerts.Improve(Id(alert), update);
        await LogAsync("improved", stored.Id, grant, trace, cancellationToken);
        return new LinkedAlert(alert.Key, stored);
    }

    public void Touch(LinkedAlert alert, DateTimeOffset lastSeen, int frames)
    {
        ArgumentNullException.ThrowIfNull(alert);
        alerts.Touch(Id(alert), lastSeen, frames);
    }

    public void AddFaces(DateTimeOffset since, long cameraId, long legalBasisId, long faces) =>
        statistics.AddFaces(since, cameraId, legalBasisId, faces);

    private static string Key(long id) => id.ToString(CultureInfo.InvariantCulture);

    private static long Id(LinkedAlert alert) => alert.Stored?.Id ?? long.Parse(alert.Key, CultureInfo.InvariantCulture);

    private Task LogAsync(string outcome, long alertId, ProcessingGrant grant, CandidateTrace trace, CancellationToken cancellationToken)
    {
        var best = trace.Candidates[0];
        return audit.AppendAsync(
            new AuditRecord(
                FrameAnalyzer.CameraActor,
                AuditActions.Alert,
                outcome,
                grant.LegalBasisId,
                Parameters: new Dictionary<string, string>
                {
                    ["alert"] = Invariant(alertId),
                    ["camera"] = Invariant(trace.CameraId),
                    ["watchlist"] = Invariant(best.WatchlistId),
                    ["entry"] = Invariant(best.EntryId),
                    ["score"] = best.Score.ToString("0.0000", CultureInfo.InvariantCulture),
                    ["threshold"] = trace.Threshold.ToString("0.0000", CultureInfo.InvariantCulture),
                    ["grant"] = grant.Id.ToString(),
                    ["track"] = trace.TrackId.ToString("N"),
                    ["fused"] = Invariant(trace.FusedFrames),
                },
                ResultCount: trace.Candidates.Count),
            cancellationToken);
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
