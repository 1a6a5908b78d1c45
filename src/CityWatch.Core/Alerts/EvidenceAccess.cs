using System.Globalization;
using CityWatch.Audit;
using CityWatch.Evidence;

namespace CityWatch.Alerts;

/// <summary>The audit actions of verification, evidence, retention and subject access.</summary>
public static class EvidenceActions
{
    public const string KeyRelease = "evidence.key_release";
    public const string Decision = "alert.decision";
    public const string DecisionRefused = "alert.decision_refused";
    public const string Export = "alert.export";
    public const string ExportRefused = "alert.export_refused";
    public const string RetentionDeletion = "retention.deletion";
    public const string EvidenceSearch = "search.evidence";
    public const string SubjectAccess = "subject_access";
}

/// <summary>
/// The one way to read evidence outside the store's own tests: every release of item keys (viewing,
/// export, a search, a subject-access answer) is an audit record naming who, why, the case or request,
/// and the items, before anything is decrypted.
/// </summary>
public sealed class EvidenceAccess(AlertStore alerts, AuditTrail audit)
{
    public async Task<byte[]> CropAsync(Alert alert, string actor, string purpose, string? caseId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alert);
        await LogAsync([alert], actor, purpose, caseId, cancellationToken);
        return alerts.Crop(alert.Id);
    }

    /// <summary>Releases the keys of many items under one record (a search); items whose key is gone are skipped.</summary>
    public async Task<IReadOnlyList<(Alert Alert, byte[] Crop)>> CropsAsync(
        IReadOnlyList<Alert> items, string actor, string purpose, string? caseId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        await LogAsync(items, actor, purpose, caseId, cancellationToken);
        var crops = new List<(Alert, byte[])>(items.Count);
        foreach (var alert in items)
        {
            try
            {
                crops.Add((alert, alerts.Crop(alert.Id)));
            }
            catch (Exception e) when (e is EvidenceDestroyedException or FileNotFoundException or NotFoundException)
            {
                // deleted between listing and reading: nothing to release
            }
        }

        return crops;
    }

    private Task LogAsync(IReadOnlyList<Alert> items, string actor, string purpose, string? caseId, CancellationToken cancellationToken) =>
        audit.AppendAsync(
            new AuditRecord(
                actor,
                EvidenceActions.KeyRelease,
                purpose,
                items.Count == 1 ? items[0].LegalBasisId : null,
                caseId,
                new Dictionary<string, string> { ["alerts"] = string.Join(",", items.Select(a => a.Id.ToString(CultureInfo.InvariantCulture))) },
                items.Count),
            cancellationToken);
}
