using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Vision;

namespace CityWatch.Recognition;

/// <summary>What one analysed frame gave.</summary>
public sealed record FrameOutcome(bool Analysed, int Faces, int Embedded, IReadOnlyList<Alert> Alerts, string? Refusal);

/// <summary>
/// One camera's recognition state: its current grant, when it may ask again after a refusal, and when it
/// last alerted on each watchlist entry.
/// </summary>
public sealed class CameraRecognitionState(long cameraId)
{
    public long CameraId { get; } = cameraId;

    internal ProcessingGrant? Grant { get; set; }

    internal DateTimeOffset RetryAfter { get; set; } = DateTimeOffset.MinValue;

    internal Dictionary<long, DateTimeOffset> LastAlert { get; } = [];

    public string? LastRefusal { get; internal set; }
}

/// <summary>
/// The frame path after ingest: a grant from the policy engine (held while valid, asked again when it
/// expires, so a revoked basis stops processing within the grant's lifetime), detection, embedding,
/// matching, and an alert for a face at or above the threshold. A face that matches nothing is dropped
/// here, in memory: its embedding and pixels are never written anywhere.
/// </summary>
internal sealed class FrameAnalyzer(
    PolicyEngine policy,
    FacePipeline vision,
    WatchlistStore watchlists,
    WatchlistIndex index,
    AlertStore alerts,
    AuditTrail audit,
    TimeProvider time,
    RecognitionOptions options)
{
    public const string CameraActor = "camera-pipeline";

    private static readonly TimeSpan RenewBefore = TimeSpan.FromSeconds(2);

    public async Task<FrameOutcome> AnalyzeAsync(CameraRecognitionState state, BgrImage frame, CancellationToken cancellationToken)
    {
        var grant = await GrantAsync(state, cancellationToken);
        if (grant is null)
        {
            return new FrameOutcome(false, 0, 0, [], state.LastRefusal);
        }

        var faces = vision.Detect(grant, frame);
        var embedded = 0;
        var raised = new List<Alert>();
        foreach (var face in faces)
        {
            if (face.InterEyeDistance < options.MinimumEyeDistance)
            {
                continue;
            }

            var embedding = vision.Embed(grant, frame, face);
            embedded++;
            var candidates = index.Search(grant, embedding, options.Threshold, options.TopCandidates);
            if (candidates.Count == 0)
            {
                continue; // matched nothing: leaves no trace
            }

            var best = candidates[0];
            var now = time.GetUtcNow();
            if (state.LastAlert.TryGetValue(best.EntryId, out var last) && now - last < options.AlertCooldown)
            {
                continue;
            }

            state.LastAlert[best.EntryId] = now;
            var alert = alerts.Add(new NewAlert(
                state.CameraId, best.WatchlistId, best.EntryId, best.Label, grant.LegalBasisId, grant.Id, now, best.Score,
                options.Threshold, face.Box, ImageCodec.EncodeJpeg(frame, face.Box.ToPixelRect(frame.Width, frame.Height, 0.25f))));
            await audit.AppendAsync(
                new AuditRecord(
                    CameraActor,
                    AuditActions.Alert,
                    "candidate",
                    grant.LegalBasisId,
                    Parameters: new Dictionary<string, string>
                    {
                        ["alert"] = Invariant(alert.Id),
                        ["camera"] = Invariant(state.CameraId),
                        ["watchlist"] = Invariant(best.WatchlistId),
                        ["entry"] = Invariant(best.EntryId),
                        ["score"] = best.Score.ToString("0.0000", CultureInfo.InvariantCulture),
                        ["threshold"] = options.Threshold.ToString("0.0000", CultureInfo.InvariantCulture),
                        ["grant"] = grant.Id.ToString(),
                    },
                    ResultCount: candidates.Count),
                cancellationToken);
            raised.Add(alert);
        }

        return new FrameOutcome(true, faces.Count, embedded, raised, null);
    }

    private async Task<ProcessingGrant?> GrantAsync(CameraRecognitionState state, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        // Renew a little before expiry, so that a grant does not run out in the middle of a frame.
        if (state.Grant is { } held && now + RenewBefore < held.ExpiresAt)
        {
            return held;
        }

        state.Grant = null;
        if (now < state.RetryAfter)
        {
            return null;
        }

        var all = watchlists.List().Select(w => w.Id).ToList();
        var decision = await policy.AuthorizeAsync(
            new PolicyRequest(CameraActor, ProcessingPurpose.Live, state.CameraId, all, AllowPartial: true), cancellationToken);
        if (decision.Grant is null)
        {
            state.LastRefusal = decision.RefusalReason;
            state.RetryAfter = now + options.RefusalBackoff;
            return null;
        }

        state.LastRefusal = null;
        state.Grant = decision.Grant;
        return decision.Grant;
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
