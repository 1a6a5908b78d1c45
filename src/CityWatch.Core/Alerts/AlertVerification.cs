using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Matching;
using CityWatch.Vision;
using Dapper;

namespace CityWatch.Alerts;

[JsonConverter(typeof(JsonStringEnumConverter<VerificationDecision>))]
public enum VerificationDecision
{
    Confirm,
    Reject,
}

/// <summary>A verifier's decision on a candidate, with an optional note.</summary>
public sealed record DecisionInput(VerificationDecision Decision, string? Note = null);

/// <summary>What the deciding verifier gets back: their own decision and the alert's status after it.</summary>
public sealed record DecisionReceipt(long AlertId, VerificationDecision Decision, DateTimeOffset At, string Status);

/// <summary>One recorded decision, for the data-protection officer's and the auditor's view only.</summary>
public sealed record AlertDecision(long AlertId, string Account, VerificationDecision Decision, string? Note, DateTimeOffset At);

/// <summary>
/// A candidate as a verifier sees it: the evidence (score against the threshold, face quality, the top
/// watchlist candidates, where and when), never anyone else's decision nor how many there were.
/// </summary>
public sealed record CandidateView(
    long Id,
    long? CameraId,
    DateTimeOffset At,
    DateTimeOffset LastSeen,
    int Frames,
    long WatchlistId,
    long EntryId,
    string Label,
    long LegalBasisId,
    float Score,
    float Threshold,
    float? Quality,
    IReadOnlyList<MatchCandidate> TopCandidates,
    FaceBox Box);

/// <summary>An export bundle: a ZIP (alert.json, decisions.json, crop.jpg, manifest.json) and the SHA-256 of its manifest, which the audit log records.</summary>
public sealed record EvidenceBundle(string FileName, byte[] Zip, string ManifestSha256);

/// <summary>
/// Two-person verification. An alert stays a candidate until two different accounts confirm it; one
/// rejection rejects it at once. Nobody decides twice on the same alert, and a settled alert takes no more
/// decisions. Decisions are made only by people through the API (nothing in the recognition path calls
/// this). The verifier's view hides every other decision; the audit record of a decision names the account
/// but holds the alert and verdict only as a salted commitment (opened from <c>alert_decisions</c> by the
/// DPO), so the public log does not tell a second verifier what the first decided. The verdict, with the
/// accounts, is logged in clear once the alert is settled. Only a confirmed alert can be exported.
/// </summary>
public sealed class AlertVerification(CityWatchDatabase database, AlertStore alerts, EvidenceAccess evidence, AuditTrail audit, TimeProvider time)
{
    public const int ConfirmationsNeeded = 2;

    private static readonly JsonSerializerOptions BundleJson = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    /// <summary>The candidates <paramref name="account"/> has not decided on yet, newest first; <paramref name="scope"/> limits cameras (null: all).</summary>
    public IReadOnlyList<CandidateView> Candidates(string account, IReadOnlySet<long>? scope, int limit = 100)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        if (limit is < 1 or > 500)
        {
            throw new InvalidRequestException("limit must be between 1 and 500.");
        }

        using var connection = database.Open();
        var ids = connection.Query<long>(
            """
            SELECT a.id FROM alerts a
            WHERE a.status = @candidate
              AND NOT EXISTS (SELECT 1 FROM alert_decisions d WHERE d.alert_id = a.id AND d.account = @account)
              AND (@scope IS NULL OR a.camera_id IN (SELECT value FROM json_each(@scope)))
            ORDER BY a.id DESC LIMIT @limit
            """,
            new { candidate = AlertStore.Candidate, account, limit, scope = scope is null ? null : JsonSerializer.Serialize(scope) }).AsList();
        return ids.Select(id => View(alerts.Get(id))).ToList();
    }

    /// <summary>Every decision on an alert, for the DPO and the auditor.</summary>
    public IReadOnlyList<AlertDecision> Decisions(long alertId)
    {
        alerts.Get(alertId);
        using var connection = database.Open();
        return connection.Query<(string Account, string Decision, string? Note, string At)>(
            "SELECT account, decision, note, at FROM alert_decisions WHERE alert_id = @alertId ORDER BY id", new { alertId })
            .Select(r => new AlertDecision(alertId, r.Account, Enum.Parse<VerificationDecision>(r.Decision), r.Note, Timestamps.Parse(r.At)))
            .AsList();
    }

    /// <summary>Records <paramref name="account"/>'s decision; refuses (logged, 409) a second decision by the same account or one on a settled alert.</summary>
    public async Task<DecisionReceipt> DecideAsync(long alertId, string account, DecisionInput input, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        ArgumentNullException.ThrowIfNull(input);
        if (!Enum.IsDefined(input.Decision))
        {
            throw new InvalidRequestException("decision must be confirm or reject.");
        }

        if (input.Note is { Length: > 2000 })
        {
            throw new InvalidRequestException("The note is longer than 2000 characters.");
        }

        var now = time.GetUtcNow();
        var salt = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        string? refusal;
        string status;
        Alert alert;
        IReadOnlyList<string> deciders = [];
        using (var connection = database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            alert = AlertStore.Find(connection, transaction, alertId) ?? throw new NotFoundException($"No alert {alertId}.");
            var decidedBefore = connection.ExecuteScalar<long>(
                "SELECT COUNT(*) FROM alert_decisions WHERE alert_id = @alertId AND account = @account", new { alertId, account }, transaction) > 0;
            refusal = decidedBefore ? $"{account} has already decided on alert {alertId}; nobody decides twice"
                : alert.Status != AlertStore.Candidate ? $"alert {alertId} is already {alert.Status}"
                : null;
            status = alert.Status;
            if (refusal is null)
            {
                connection.Execute(
                    "INSERT INTO alert_decisions (alert_id, account, decision, note, at, salt) VALUES (@alertId, @account, @decision, @Note, @at, @salt)",
                    new { alertId, account, decision = input.Decision.ToString(), input.Note, at = Timestamps.Format(now), salt },
                    transaction);
                var confirmations = connection.ExecuteScalar<long>(
                    "SELECT COUNT(*) FROM alert_decisions WHERE alert_id = @alertId AND decision = @confirm",
                    new { alertId, confirm = nameof(VerificationDecision.Confirm) },
                    transaction);
                var settled = input.Decision == VerificationDecision.Reject ? AlertStore.Rejected
                    : confirmations >= ConfirmationsNeeded ? AlertStore.Confirmed
                    : null;
                if (settled is not null && AlertStore.Settle(connection, transaction, alertId, settled, now))
                {
                    AlertStatistics.Count(
                        connection, transaction, settled == AlertStore.Confirmed ? AlertStatistics.Confirmed : AlertStatistics.Rejected,
                        alert.At, alert.CameraId, alert.LegalBasisId);
                    status = settled;
                    deciders = connection.Query<string>("SELECT account FROM alert_decisions WHERE alert_id = @alertId ORDER BY id", new { alertId }, transaction).AsList();
                }

                transaction.Commit();
            }
        }

        if (refusal is not null)
        {
            await audit.AppendAsync(
                new AuditRecord(account, EvidenceActions.DecisionRefused, refusal, alert.LegalBasisId, Parameters: AlertParameter(alertId)),
                cancellationToken);
            throw new ConflictException(refusal + ".");
        }

        await audit.AppendAsync(
            new AuditRecord(account, EvidenceActions.Decision, "recorded", Commitments: [Commitment(salt, alertId, input.Decision)]),
            cancellationToken);
        if (deciders.Count > 0)
        {
            var parameters = AlertParameter(alertId);
            parameters["verifiers"] = string.Join(",", deciders);
            await audit.AppendAsync(new AuditRecord("verification", EvidenceActions.Verdict, status, alert.LegalBasisId, Parameters: parameters), cancellationToken);
        }

        return new DecisionReceipt(alertId, input.Decision, now, status);
    }

    /// <summary>
    /// The bundle of a confirmed alert for <paramref name="recipient"/> and <paramref name="purpose"/>:
    /// the alert, its decisions, the crop and a manifest of SHA-256 hashes, whose own hash goes into the
    /// signed audit log (so the bundle can later be checked against the log). An unconfirmed alert is
    /// refused (logged, 409).
    /// </summary>
    public async Task<EvidenceBundle> ExportAsync(long alertId, string account, string purpose, string recipient, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        if (string.IsNullOrWhiteSpace(purpose) || string.IsNullOrWhiteSpace(recipient))
        {
            throw new InvalidRequestException("An export names its purpose and its recipient.");
        }

        var alert = alerts.Get(alertId);
        if (alert.Status != AlertStore.Confirmed)
        {
            var reason = $"alert {alertId} is {alert.Status}: only an alert confirmed by {ConfirmationsNeeded} verifiers can be exported";
            var refused = AlertParameter(alertId);
            refused["recipient"] = recipient;
            await audit.AppendAsync(new AuditRecord(account, EvidenceActions.ExportRefused, reason, alert.LegalBasisId, Parameters: refused), cancellationToken);
            throw new ConflictException(reason + ".");
        }

        var crop = await evidence.CropAsync(alert, account, "export", null, cancellationToken);
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["alert.json"] = JsonSerializer.SerializeToUtf8Bytes(alert, BundleJson),
            ["decisions.json"] = JsonSerializer.SerializeToUtf8Bytes(Decisions(alertId), BundleJson),
            ["crop.jpg"] = crop,
        };
        var now = time.GetUtcNow();
        var manifest = JsonSerializer.SerializeToUtf8Bytes(
            new
            {
                alert = alertId,
                exportedBy = account,
                exportedAt = now,
                purpose,
                recipient,
                auditOrigin = audit.Origin,
                files = files.ToDictionary(f => f.Key, f => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f.Value))),
            },
            BundleJson);
        var manifestHash = Convert.ToHexStringLower(SHA256.HashData(manifest));
        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in files.Append(new KeyValuePair<string, byte[]>("manifest.json", manifest)))
            {
                var entry = archive.CreateEntry(name, CompressionLevel.Optimal);
                entry.LastWriteTime = now;
                await using var stream = entry.Open();
                await stream.WriteAsync(bytes, cancellationToken);
            }
        }

        var parameters = AlertParameter(alertId);
        parameters["purpose"] = purpose;
        parameters["recipient"] = recipient;
        await audit.AppendAsync(
            new AuditRecord(account, EvidenceActions.Export, "exported", alert.LegalBasisId, Parameters: parameters, Commitments: [$"sha256:{manifestHash}"]),
            cancellationToken);
        return new EvidenceBundle(FormattableString.Invariant($"alert-{alertId}-evidence.zip"), zip.ToArray(), manifestHash);
    }

    /// <summary>The commitment a decision's audit record holds: SHA-256 over salt, alert id and verdict (opened with the salt in alert_decisions).</summary>
    public static string Commitment(string salt, long alertId, VerificationDecision decision) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{salt}|alert/{alertId}|{decision}"))));

    private static CandidateView View(Alert a) => new(
        a.Id, a.CameraId, a.At, a.LastSeen, a.Frames, a.WatchlistId, a.EntryId, a.Label, a.LegalBasisId, a.Score, a.Threshold, a.Quality, a.TopCandidates, a.Box);

    private static Dictionary<string, string> AlertParameter(long alertId) =>
        new() { ["alert"] = alertId.ToString(CultureInfo.InvariantCulture) };
}
