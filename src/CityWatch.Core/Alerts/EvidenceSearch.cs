using System.Globalization;
using System.Security.Cryptography;
using CityWatch.Audit;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Vision;

namespace CityWatch.Alerts;

/// <summary>A stored alert whose crop matched the probe.</summary>
public sealed record EvidenceMatch(long AlertId, long? CameraId, DateTimeOffset At, string Status, long WatchlistId, long LegalBasisId, float Score);

/// <summary>The answer of a retrospective search over stored evidence.</summary>
public sealed record EvidenceSearchResult(string CaseId, int Searched, float Threshold, IReadOnlyList<EvidenceMatch> Matches);

/// <summary>
/// Retrospective search by a probe photo over the stored evidence crops (decrypted in memory), for a case:
/// only under a retrospective grant from the policy engine, which refuses without a case id or without an
/// active retrospective authorisation (the refusal is logged). The search covers the evidence raised
/// against the watchlists the case's authorisation covers. Results are ranked by score; the search is
/// logged with its case id and result count, the probe only as its hash. The probe is never stored.
/// </summary>
internal sealed class EvidenceSearch(
    PolicyEngine policy, FacePipeline vision, WatchlistStore watchlists, AlertStore alerts, EvidenceAccess evidence, AuditTrail audit, TimeProvider time, RecognitionOptions options)
{
    public async Task<EvidenceSearchResult> SearchAsync(byte[] probePhoto, string? caseId, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(probePhoto);
        var request = new PolicyRequest(actor, ProcessingPurpose.Retrospective, null, watchlists.List().Select(w => w.Id).ToList(), caseId, AllowPartial: true);
        var matcher = new EvidenceMatcher(policy, vision, time, request);
        var grant = await matcher.GrantAsync(cancellationToken); // refuses (logged) without a case id or authorisation
        var probe = await matcher.ProbeAsync(probePhoto, cancellationToken);
        var threshold = options.CurrentThreshold;
        var items = alerts.All().Where(a => grant.Covers(a.WatchlistId)).ToList();
        var matches = new List<EvidenceMatch>();
        foreach (var (alert, crop) in await evidence.CropsAsync(items, actor, "retrospective search", caseId, cancellationToken))
        {
            var (_, faces) = await matcher.CompareAsync(crop, probe, cancellationToken);
            if (faces.Count > 0 && faces[0].Score >= threshold)
            {
                matches.Add(new EvidenceMatch(alert.Id, alert.CameraId, alert.At, alert.Status, alert.WatchlistId, alert.LegalBasisId, faces[0].Score));
            }
        }

        matches.Sort((a, b) => b.Score.CompareTo(a.Score));
        await audit.AppendAsync(
            new AuditRecord(
                actor,
                EvidenceActions.EvidenceSearch,
                "completed",
                grant.LegalBasisId,
                caseId,
                new Dictionary<string, string>
                {
                    ["searched"] = items.Count.ToString(CultureInfo.InvariantCulture),
                    ["threshold"] = threshold.ToString("0.0000", CultureInfo.InvariantCulture),
                    ["grant"] = grant.Id.ToString(),
                },
                matches.Count,
                [$"sha256:{Convert.ToHexStringLower(SHA256.HashData(probePhoto))}"]),
            cancellationToken);
        return new EvidenceSearchResult(caseId!, items.Count, threshold, matches);
    }
}
