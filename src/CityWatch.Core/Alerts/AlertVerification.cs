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

/// <summary>
/// One recorded decision, for the data-protection officer's and the auditor's view only, with the salt
/// that opens the commitment its audit record holds (<see cref="AlertVerification.Commitment"/>).
/// </summary>
public sealed record AlertDecision(long AlertId, string Account, VerificationDecision Decision, string? Note, DateTimeOffset At, string Salt);

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
/// this). Verification is blind: no caller holding the Verifier role sees, through any endpoint and
/// whatever other role it also holds, whether or how anyone decided on a candidate it has not decided on
/// (<see cref="IsBlind"/>, <see cref="Blind"/>). The public log cannot tell either: every decision is one
/// record with the same action and outcome, the alert and verdict only inside a salted commitment whose
/// opening (the salt) the DPO reads with the decisions; settling an alert writes nothing more, and a
/// refusal is as neutral. Only a confirmed alert can be exported.
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>): the reads (<see cref="Candidates"/>, <see cref="Decisions"/>,
/// <see cref="Undecided"/>, their lists of cameras and alerts through <see cref="SqlDialect.AnyOf"/>) and
/// <see cref="DecideAsync"/>, which stages its record in its transaction, a <see cref="SqlDialect.BeginWrite"/> on
/// <c>alert_decisions</c>: it counts the confirmations it settles on, so that two verifiers confirming at once cannot
/// each count only their own. <see cref="ExportAsync"/> reads the crop through the evidence vault
/// (<see cref="EvidenceAccess.CropAsync"/>), which is SQLite only.
/// </para>
/// </summary>
public sealed class AlertVerification(CityWatchDatabase database, AlertStore alerts, EvidenceAccess evidence, AuditTrail audit, TimeProvider time)
{
    public const int ConfirmationsNeeded = 2;

    /// <summary>The status a caller holding the Verifier role sees for a candidate they have not decided on.</summary>
    public const string Pending = "pending";

    /// <summary>The outcome of every decision's record, whatever the verdict.</summary>
    public const string DecisionOutcome = "decision recorded";

    /// <summary>The outcome of every refused decision's record, whatever the reason.</summary>
    public const string DecisionRefusedOutcome = "decision refused";

    private static readonly JsonSerializerOptions BundleJson = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    /// <summary>The candidates <paramref name="account"/> has not decided on yet, newest first; <paramref name="scope"/> limits cameras (null: all).</summary>
    public IReadOnlyList<CandidateView> Candidates(string account, IReadOnlySet<long>? scope, int limit = 100)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        if (limit is < 1 or > 500)
        {
            throw new InvalidRequestException("limit must be between 1 and 500.");
        }

        using var connection = database.Connect();
        var inScope = scope is null ? "" : $"AND {database.Dialect.AnyOf("a.camera_id", "scope")}";
        var ids = connection.Query<long>(
            $"""
            SELECT a.id FROM alerts a
            WHERE a.status = @candidate
              AND NOT EXISTS (SELECT 1 FROM alert_decisions d WHERE d.alert_id = a.id AND d.account = @account)
              {inScope}
            ORDER BY a.id DESC LIMIT @limit
            """,
            new { candidate = AlertStore.Candidate, account, limit, scope = scope?.ToArray() }).AsList();
        return ids.Select(id => View(alerts.Get(id))).ToList();
    }

    /// <summary>
    /// Every decision on an alert, with the salt that opens its record's commitment in the log, for the DPO
    /// and the auditor. The API refuses it to a caller who also holds the Verifier role while the alert is a
    /// candidate they have not decided on (<see cref="IsBlind"/>).
    /// </summary>
    public IReadOnlyList<AlertDecision> Decisions(long alertId)
    {
        alerts.Get(alertId);
        using var connection = database.Connect();
        return connection.Query<(string Account, string Decision, string? Note, string At, string Salt)>(
            "SELECT account, decision, note, at, salt FROM alert_decisions WHERE alert_id = @alertId ORDER BY id", new { alertId })
            .Select(r => new AlertDecision(alertId, r.Account, Enum.Parse<VerificationDecision>(r.Decision), r.Note, Timestamps.Parse(r.At), r.Salt))
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
        StagedRecord staged;
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginWrite(connection, "alert_decisions"))
        {
            var alert = AlertStore.Find(connection, transaction, alertId) ?? throw new NotFoundException($"No alert {alertId}.");
            var decidedBefore = connection.ExecuteScalar<long>(
                "SELECT COUNT(*) FROM alert_decisions WHERE alert_id = @alertId AND account = @account", new { alertId, account }, transaction) > 0;
            refusal = decidedBefore ? $"{account} has already decided on alert {alertId}; nobody decides twice"
                : alert.Status != AlertStore.Candidate ? $"alert {alertId} is already {alert.Status}"
                : null;
            status = alert.Status;
            if (refusal is not null)
            {
                // Which alert and why stay in the commitment: "v1 was refused on alert 5" would tell anyone that v1 decided on it.
                connection.Execute(
                    "INSERT INTO alert_decision_refusals (alert_id, account, reason, at, salt) VALUES (@alertId, @account, @refusal, @at, @salt)",
                    new { alertId, account, refusal, at = Timestamps.Format(now), salt },
                    transaction);
                staged = audit.Stage(connection, transaction, new AuditRecord(account, EvidenceActions.DecisionRefused, DecisionRefusedOutcome, Commitments: [RefusalCommitment(salt, alertId, refusal)]));
            }
            else
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
                }

                // One record per decision, the same for a confirmation and a rejection, for a first and a
                // settling decision: the alert and the verdict only inside the commitment. Nothing else is
                // logged now; what depends on the verdict (deletion) happens at a later retention pass.
                staged = audit.Stage(connection, transaction, new AuditRecord(account, EvidenceActions.Decision, DecisionOutcome, Commitments: [Commitment(salt, alertId, input.Decision)]));
            }

            transaction.Commit();
        }

        if (refusal is null)
        {
            alerts.NotifyChanged(); // the deciding verifier's view of it changes, and perhaps its status
        }

        await audit.CommittedAsync(staged, cancellationToken);
        if (refusal is not null)
        {
            throw new ConflictException(refusal + ".");
        }

        return new DecisionReceipt(alertId, input.Decision, now, status);
    }

    /// <summary>
    /// Whether <paramref name="account"/> must not see how others decided on <paramref name="alert"/>: it
    /// is still a candidate and the account has not decided on it. Callers who hold the Verifier role get
    /// such alerts as <see cref="Pending"/>, whatever other role they call through.
    /// </summary>
    public bool IsBlind(string account, Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        return Undecided(account, [alert.Id]).Count == 1;
    }

    /// <summary>
    /// <paramref name="items"/> as a verifier may see them: each one whose alert is a candidate the account
    /// has not decided on goes through <paramref name="redact"/> (status <see cref="Pending"/>).
    /// </summary>
    public IReadOnlyList<T> Blind<T>(string account, IReadOnlyList<T> items, Func<T, long> alertId, Func<T, T> redact)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(alertId);
        ArgumentNullException.ThrowIfNull(redact);
        var undecided = Undecided(account, items.Select(alertId).ToList());
        return items.Select(i => undecided.Contains(alertId(i)) ? redact(i) : i).ToList();
    }

    /// <summary>The alerts among <paramref name="alertIds"/> that are candidates <paramref name="account"/> has not decided on.</summary>
    public IReadOnlySet<long> Undecided(string account, IReadOnlyCollection<long> alertIds)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(account);
        ArgumentNullException.ThrowIfNull(alertIds);
        if (alertIds.Count == 0)
        {
            return new HashSet<long>();
        }

        using var connection = database.Connect();
        return connection.Query<long>(
            $"""
            SELECT a.id FROM alerts a
            WHERE {database.Dialect.AnyOf("a.id", "ids")} AND a.status = @candidate
              AND NOT EXISTS (SELECT 1 FROM alert_decisions d WHERE d.alert_id = a.id AND d.account = @account)
            """,
            new { ids = alertIds.ToArray(), candidate = AlertStore.Candidate, account }).ToHashSet();
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

    /// <summary>The commitment a refused decision's record holds: SHA-256 over salt, alert id and reason (opened from alert_decision_refusals).</summary>
    public static string RefusalCommitment(string salt, long alertId, string reason) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{salt}|alert/{alertId}|refused|{reason}"))));

    private static CandidateView View(Alert a) => new(
        a.Id, a.CameraId, a.At, a.LastSeen, a.Frames, a.WatchlistId, a.EntryId, a.Label, a.LegalBasisId, a.Score, a.Threshold, a.Quality, a.TopCandidates, a.Box);

    private static Dictionary<string, string> AlertParameter(long alertId) =>
        new() { ["alert"] = alertId.ToString(CultureInfo.InvariantCulture) };
}
