using System.Globalization;
using System.Security.Cryptography;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Vision;

namespace CityWatch.Investigations;

/// <summary>A stored alert whose crop matched the probe.</summary>
public sealed record EvidenceMatch(long AlertId, long? CameraId, DateTimeOffset At, string Status, long WatchlistId, long LegalBasisId, float Score);

/// <summary>The answer of a retrospective search over stored evidence.</summary>
public sealed record EvidenceSearchResult(string CaseId, int Searched, float Threshold, IReadOnlyList<EvidenceMatch> Matches);

/// <summary>
/// Retrospective search by a probe photo over the stored evidence crops (decrypted in memory), for a
/// registered case: only under a retrospective grant from the policy engine, which refuses a case id that
/// is not an open, unexpired case, or whose basis is not in force (the refusal is logged). The search
/// covers only the evidence raised against the watchlists the case's basis covers, on the case's cameras,
/// inside the case's time range. Results are ranked by score; the search is
/// logged with its case id and result count, the probe only as its hash. The probe is never stored.
/// </summary>
public sealed class EvidenceSearch(
    PolicyEngine policy,
    FacePipeline vision,
    WatchlistStore watchlists,
    AlertStore alerts,
    CaseStore cases,
    EvidenceAccess evidence,
    AuditTrail audit,
    TimeProvider time,
    RecognitionOptions options)
{
    public async Task<EvidenceSearchResult> SearchAsync(byte[] probePhoto, string? caseId, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(probePhoto);
        var request = new PolicyRequest(actor, ProcessingPurpose.Retrospective, null, watchlists.List().Select(w => w.Id).ToList(), caseId, AllowPartial: true);
        var matcher = new EvidenceMatcher(policy, vision, time, request);
        var grant = await matcher.GrantAsync(cancellationToken); // refuses (logged) without a registered, open case or authorisation
        var registered = cases.Find(grant.CaseId!) ?? throw new NotFoundException($"No case {grant.CaseId}.");
        var probe = await matcher.ProbeAsync(probePhoto, cancellationToken);
        var threshold = options.CurrentThreshold;
        var items = alerts.All().Where(a => grant.Covers(a.WatchlistId) && registered.Covers(a.CameraId, a.At)).ToList();
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
                    ["case"] = registered.Id.ToString(CultureInfo.InvariantCulture),
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
