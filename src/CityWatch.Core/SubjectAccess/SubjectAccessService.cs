using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Vision;

namespace CityWatch.SubjectAccess;

/// <summary>One stored record about the data subject: when and where, and the stored crop with every other person hidden (JPEG).</summary>
public sealed record SubjectRecord(long AlertId, long? CameraId, DateTimeOffset At, DateTimeOffset LastSeen, string Status, float Score, byte[] RedactedCropJpeg);

/// <summary>The answer to an access request: only the records whose crop shows the requester.</summary>
public sealed record SubjectAccessAnswer(string Reference, int Searched, float Threshold, IReadOnlyList<SubjectRecord> Records);

/// <summary>
/// Answers a data subject's access request (GDPR Art. 15) by searching the stored evidence with the photo
/// they supplied, under a <see cref="ProcessingPurpose.SubjectAccess"/> grant that needs the request's
/// reference and never a watchlist. A record is answered only when a face in its crop matches the
/// requester at or above the operating threshold; that face is kept and everyone else is pixelated
/// (<see cref="FaceRedaction"/>). The photo and its embedding live in memory for the call only; the log
/// records the reference, the result count and the photo's hash.
/// </summary>
internal sealed class SubjectAccessService(
    PolicyEngine policy, FacePipeline vision, AlertStore alerts, EvidenceAccess evidence, AuditTrail audit, TimeProvider time, RecognitionOptions options)
{
    public async Task<SubjectAccessAnswer> AnswerAsync(byte[] photo, string? reference, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(photo);
        var matcher = new EvidenceMatcher(policy, vision, time, new PolicyRequest(actor, ProcessingPurpose.SubjectAccess, null, [], reference));
        var grant = await matcher.GrantAsync(cancellationToken); // refuses (logged) without a reference
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

        await audit.AppendAsync(
            new AuditRecord(
                actor,
                EvidenceActions.SubjectAccess,
                "answered",
                null,
                reference,
                new Dictionary<string, string>
                {
                    ["searched"] = items.Count.ToString(CultureInfo.InvariantCulture),
                    ["threshold"] = threshold.ToString("0.0000", CultureInfo.InvariantCulture),
                    ["grant"] = grant.Id.ToString(),
                },
                records.Count,
                [$"sha256:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(photo))}"]),
            cancellationToken);
        return new SubjectAccessAnswer(reference!, items.Count, threshold, records);
    }
}
