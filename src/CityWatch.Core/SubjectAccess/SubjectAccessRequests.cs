using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Evidence;
using Dapper;

namespace CityWatch.SubjectAccess;

/// <summary>
/// The register of subject-access requests, so that a search by someone's photo is only ever made for a
/// request on record. A DPO registers the request (the requester's verified identity reference, kept only
/// as a salted hash; how it was verified; when it came in). A DPO then searches once with the requester's
/// photo: the answer is sealed with its own evidence key (<see cref="EvidenceVault"/>) and nobody can read
/// it until a second DPO (not the one who searched) or an authority approves. Every step commits with its
/// log record; every refused step is logged and answered 403 or 409.
/// </summary>
public sealed class SubjectAccessRequests(CityWatchDatabase database, SubjectAccessService service, AlertStore alerts, AuditTrail audit, TimeProvider time)
{
    public const int MaxIdentityReferenceLength = 256;

    private const int SaltSize = 16;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string ReferenceOf(long id) => $"SAR-{id.ToString(CultureInfo.InvariantCulture)}";

    public async Task<SubjectAccessRequest> RegisterAsync(SubjectAccessRequestInput input, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (string.IsNullOrWhiteSpace(input.IdentityReference) || input.IdentityReference.Length > MaxIdentityReferenceLength)
        {
            throw new InvalidRequestException($"'identityReference' (the requester's verified identity reference) is required, at most {MaxIdentityReferenceLength} characters.");
        }

        if (input.Verification is not { } verification || !Enum.IsDefined(verification))
        {
            throw new InvalidRequestException($"'verification' must be one of {string.Join(", ", Enum.GetNames<IdentityVerification>())}.");
        }

        var now = time.GetUtcNow();
        if (input.ReceivedAt is not { } received || received > now)
        {
            throw new InvalidRequestException("'receivedAt' is required and cannot be in the future.");
        }

        var salt = RandomNumberGenerator.GetBytes(SaltSize);
        var hash = IdentityHash(salt, input.IdentityReference);
        StagedRecord staged;
        long id;
        using (var connection = database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            id = connection.ExecuteScalar<long>(
                """
                INSERT INTO subject_access_requests (identity_salt, identity_hash, verification, received_at, registered_by, registered_at)
                VALUES (@salt, @hash, @verification, @received, @actor, @now) RETURNING id
                """,
                new { salt, hash, verification = verification.ToString(), received = Timestamps.Format(received), actor, now = Timestamps.Format(now) },
                transaction);
            staged = audit.Stage(
                connection,
                transaction,
                new AuditRecord(
                    actor,
                    SubjectAccessActions.Register,
                    "registered",
                    CaseId: ReferenceOf(id),
                    Parameters: new Dictionary<string, string> { ["verification"] = verification.ToString(), ["received"] = Timestamps.Format(received) },
                    Commitments: [$"salted-sha256:{Convert.ToHexStringLower(hash)}"]));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>
    /// Runs the one search of a registered request and seals its answer; the answer is not returned. A
    /// request already searched is refused (409, logged): a DPO cannot search again with another photo.
    /// </summary>
    public async Task<SubjectAccessRequest> SearchAsync(long id, byte[] photo, string actor, CancellationToken cancellationToken = default)
    {
        var request = Get(id);
        if (request.State != SubjectAccessState.Received)
        {
            await RefuseAsync(actor, request, "search", $"request {request.Reference} has already been searched", conflict: true, cancellationToken);
        }

        var (answer, grantId) = await service.SearchAsync(photo, request.Reference, actor, cancellationToken);
        var now = time.GetUtcNow();
        StagedRecord? staged = null;
        using (var connection = database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            var (keyId, sealedAnswer) = alerts.Vault.Seal(JsonSerializer.SerializeToUtf8Bytes(answer, Json), connection, transaction, now);
            var changed = connection.Execute(
                """
                UPDATE subject_access_requests SET searched_by = @actor, searched_at = @now, result_key = @keyId, result = @sealedAnswer
                WHERE id = @id AND searched_at IS NULL
                """,
                new { id, actor, now = Timestamps.Format(now), keyId, sealedAnswer },
                transaction);
            if (changed == 1)
            {
                staged = audit.Stage(
                    connection,
                    transaction,
                    new AuditRecord(
                        actor,
                        EvidenceActions.SubjectAccess,
                        "searched; sealed until a second approval",
                        null,
                        request.Reference,
                        new Dictionary<string, string>
                        {
                            ["searched"] = answer.Searched.ToString(CultureInfo.InvariantCulture),
                            ["threshold"] = answer.Threshold.ToString("0.0000", CultureInfo.InvariantCulture),
                            ["grant"] = grantId.ToString(),
                        },
                        answer.Records.Count,
                        [$"sha256:{Convert.ToHexStringLower(SHA256.HashData(photo))}"]));
                transaction.Commit();
            }
        }

        if (staged is null)
        {
            await RefuseAsync(actor, request, "search", $"request {request.Reference} has already been searched", conflict: true, cancellationToken);
        }

        await audit.CommittedAsync(staged!, cancellationToken);
        return Get(id);
    }

    /// <summary>Releases a searched request's answer. Refused (403, logged) when the approver ran the search; 409 when there is nothing to approve.</summary>
    public async Task<SubjectAccessRequest> ApproveAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var request = Get(id);
        if (request.State != SubjectAccessState.Searched)
        {
            await RefuseAsync(actor, request, "approve", $"request {request.Reference} is {request.State}; only a searched request is approved", conflict: true, cancellationToken);
        }

        if (request.SearchedBy == actor)
        {
            await RefuseAsync(actor, request, "approve", $"{actor} ran the search of request {request.Reference}; another DPO or an authority must approve its release", conflict: false, cancellationToken);
        }

        StagedRecord staged;
        using (var connection = database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            if (connection.Execute(
                "UPDATE subject_access_requests SET approved_by = @actor, approved_at = @now WHERE id = @id AND searched_at IS NOT NULL AND approved_at IS NULL AND searched_by <> @actor",
                new { id, actor, now = Timestamps.Format(time.GetUtcNow()) },
                transaction) != 1)
            {
                throw new ConflictException($"Request {request.Reference} changed while this approval was being made; nothing was changed.");
            }

            staged = audit.Stage(connection, transaction, new AuditRecord(actor, SubjectAccessActions.Approve, "released", CaseId: request.Reference));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>The released answer, decrypted; before approval nobody can read it (403, logged).</summary>
    public async Task<SubjectAccessAnswer> AnswerAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var request = Get(id);
        if (request.State != SubjectAccessState.Released)
        {
            await RefuseAsync(actor, request, "read answer", $"the answer to request {request.Reference} is not released: a second DPO or an authority must approve it first", conflict: false, cancellationToken);
        }

        byte[] plaintext;
        using (var connection = database.Open())
        {
            var row = connection.QuerySingle<(string KeyId, byte[] Sealed)>("SELECT result_key, result FROM subject_access_requests WHERE id = @id", new { id });
            plaintext = alerts.Vault.Open(row.KeyId, row.Sealed);
        }

        await audit.AppendAsync(new AuditRecord(actor, SubjectAccessActions.Release, "answer read", CaseId: request.Reference), cancellationToken);
        return JsonSerializer.Deserialize<SubjectAccessAnswer>(plaintext, Json)!;
    }

    public SubjectAccessRequest Get(long id) =>
        Query("WHERE id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No subject-access request {id}.");

    public IReadOnlyList<SubjectAccessRequest> List() => Query("ORDER BY id", null);

    public SubjectAccessCounts Counts()
    {
        var all = List();
        var days = all.Where(r => r.ApprovedAt is not null).Select(r => (r.ApprovedAt!.Value - r.ReceivedAt).TotalDays).Order().ToList();
        double? median = days.Count == 0 ? null
            : days.Count % 2 == 1 ? days[days.Count / 2]
            : (days[(days.Count / 2) - 1] + days[days.Count / 2]) / 2;
        return new SubjectAccessCounts(all.Count, days.Count, median is { } m ? Math.Round(m, 1) : null);
    }

    private static byte[] IdentityHash(byte[] salt, string identityReference) =>
        SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(identityReference.Trim())]);

    private async Task RefuseAsync(string actor, SubjectAccessRequest request, string act, string reason, bool conflict, CancellationToken cancellationToken)
    {
        await audit.AppendAsync(
            new AuditRecord(actor, SubjectAccessActions.Refusal, reason, CaseId: request.Reference, Parameters: new Dictionary<string, string> { ["act"] = act }),
            cancellationToken);
        throw conflict ? new ConflictException(reason) : new PolicyRefusedException(reason);
    }

    private List<SubjectAccessRequest> Query(string where, object? parameters)
    {
        using var connection = database.Open();
        return connection.Query<Row>(
            $"SELECT id, verification, received_at, registered_by, registered_at, searched_by, searched_at, approved_by, approved_at FROM subject_access_requests {where}", parameters).Select(r => r.ToModel()).ToList();
    }

    private sealed class Row
    {
        public long Id { get; set; }
        public string Verification { get; set; } = "";
        public string ReceivedAt { get; set; } = "";
        public string RegisteredBy { get; set; } = "";
        public string RegisteredAt { get; set; } = "";
        public string? SearchedBy { get; set; }
        public string? SearchedAt { get; set; }
        public string? ApprovedBy { get; set; }
        public string? ApprovedAt { get; set; }

        public SubjectAccessRequest ToModel() => new(
            Id,
            ReferenceOf(Id),
            Enum.Parse<IdentityVerification>(Verification),
            Timestamps.Parse(ReceivedAt),
            ApprovedAt is not null ? SubjectAccessState.Released : SearchedAt is not null ? SubjectAccessState.Searched : SubjectAccessState.Received,
            RegisteredBy,
            Timestamps.Parse(RegisteredAt),
            SearchedBy,
            SearchedAt is null ? null : Timestamps.Parse(SearchedAt),
            ApprovedBy,
            ApprovedAt is null ? null : Timestamps.Parse(ApprovedAt));
    }
}
