using CityWatch.Alerts;
using CityWatch.Grants;
using CityWatch.Investigations;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Vision;

namespace CityWatch.SubjectAccess;

/// <summary>One stored record about the data subject: when and where, and the stored crop with every other person hidden (JPEG).</summary>
public sealed record SubjectRecord(long AlertId, long? CameraId, DateTimeOffset At, DateTimeOffset LastSeen, string Status, float Score, byte[] RedactedCropJpeg);

/// <summary>The answer to an access request: only the records whose crop shows the requester.</summary>
public sealed record SubjectAccessAnswer(string Reference, int Searched, float Threshold, IReadOnlyList<SubjectRecord> Records);

/// <summary>
/// Searches the stored evidence for a registered access request (GDPR Art. 15) with the photo the
/// requester supplied, under a <see cref="ProcessingPurpose.SubjectAccess"/> grant that needs the request's
/// reference and never a watchlist. A record is kept only when a face in its crop matches the requester at
/// or above the operating threshold; that face is kept and everyone else is pixelated
/// (<see cref="FaceRedaction"/>). The photo and its embedding live in memory for the call only. The caller
/// (<see cref="SubjectAccessRequests"/>) seals the answer and records the search in one transaction.
/// </summary>
public sealed class SubjectAccessService(
    PolicyEngine policy, FacePipeline vision, AlertStore alerts, EvidenceAccess evidence, TimeProvider time, RecognitionOptions options)
{
    public async Task<(SubjectAccessAnswer Answer, Guid GrantId)> SearchAsync(byte[] photo, string reference, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(photo);
        var matcher = new EvidenceMatcher(policy, vision, time, new PolicyRequest(actor, ProcessingPurpose.SubjectAccess, null, [], reference));
        var grant = await matcher.GrantAsync(cancellationToken);
        var probe = await matcher.ProbeAsync(photo, cancellationToken);
        var threshold = options.CurrentThreshold;
        var items = alerts.All();
        var records = new List<SubjectRecord>();
        foreach (var (alert, crop) in await evidence.CropsAsync(items, actor, "subject access", reference, cancellationToken))
        {
            var (image, faces) = await matcher.CompareAsync(crop, probe, cancellationToken);
            if (faces.Count == 0 || faces[0].Score < threshold)
            {
                continue;
            }

            var redacted = FaceRedaction.Redact(image, faces[0].Face.Box, faces.Skip(1).Select(f => f.Face.Box));
            records.Add(new SubjectRecord(alert.Id, alert.CameraId, alert.At, alert.LastSeen, alert.Status, faces[0].Score, ImageCodec.EncodeJpeg(redacted)));
        }

        return (new SubjectAccessAnswer(reference, items.Count, threshold, records), grant.Id);
    }
}
