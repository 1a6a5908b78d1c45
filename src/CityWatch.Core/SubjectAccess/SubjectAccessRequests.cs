using System.Data.Common;
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
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>): the reads and every act, each with its record staged in
/// its transaction (<see cref="AuditTrail.Stage"/>). The search seals its answer through the evidence vault inside
/// the transaction that records it (<see cref="EvidenceVault.Seal"/> over that connection), and reading the answer
/// opens it over the read's connection (<see cref="EvidenceVault.OpenWithin"/>); both use the shared row methods
/// (<see cref="TrySeal"/>, <see cref="SealedAnswer"/>). Each state change is guarded in its statement and says by its
/// row count whether it happened, so no act needs a table lock.
/// </para>
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
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            id = Insert(connection, transaction, salt, hash, verification, received, actor, now);
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

    /// <summary>A received request's row (the identity reference only as <paramref name="hash"/> under <paramref name="salt"/>), in the caller's transaction on either engine; returns its id.</summary>
    internal static long Insert(
        DbConnection connection, DbTransaction transaction, byte[] salt, byte[] hash, IdentityVerification verification, DateTimeOffset received, string actor, DateTimeOffset now) =>
        connection.ExecuteScalar<long>(
            """
            INSERT INTO subject_access_requests (identity_salt, identity_hash, verification, received_at, registered_by, registered_at)
            VALUES (@salt, @hash, @verification, @received, @actor, @now) RETURNING id
            """,
            new { salt, hash, verification = verification.ToString(), received = Timestamps.Format(received), actor, now = Timestamps.Format(now) },
            transaction);

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
        return await SealAnswerAsync(request, answer, grantId, photo, actor, cancellationToken);
    }

    /// <summary>
    /// What <see cref="SearchAsync"/> does with the answer the search found: seals it under a new evidence key and records
    /// the search with its record, in one transaction; a request searched meanwhile is refused (409, logged) and nothing
    /// of this answer is kept (the key sealed for it rolls back with the row).
    /// </summary>
    internal async Task<SubjectAccessRequest> SealAnswerAsync(
        SubjectAccessRequest request, SubjectAccessAnswer answer, Guid grantId, byte[] photo, string actor, CancellationToken cancellationToken)
    {
        var id = request.Id;
        var now = time.GetUtcNow();
        StagedRecord? staged = null;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            var (keyId, sealedAnswer) = alerts.Vault.Seal(JsonSerializer.SerializeToUtf8Bytes(answer, Json), connection, transaction, now);
            if (TrySeal(connection, transaction, id, keyId, sealedAnswer, actor, now))
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

    /// <summary>
    /// Records the search of a request not searched yet, with its answer sealed under evidence key <paramref name="keyId"/>,
    /// in the caller's transaction on either engine; false (nothing written) if it had been searched.
    /// </summary>
    internal static bool TrySeal(DbConnection connection, DbTransaction transaction, long id, string keyId, byte[] sealedAnswer, string actor, DateTimeOffset now) =>
        connection.Execute(
            """
            UPDATE subject_access_requests SET searched_by = @actor, searched_at = @now, result_key = @keyId, result = @sealedAnswer
            WHERE id = @id AND searched_at IS NULL
            """,
            new { id, actor, now = Timestamps.Format(now), keyId, sealedAnswer },
            transaction) == 1;

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
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (!TryApprove(connection, transaction, id, actor, time.GetUtcNow()))
            {
                throw new ConflictException($"Request {request.Reference} changed while this approval was being made; nothing was changed.");
            }

            staged = audit.Stage(connection, transaction, new AuditRecord(actor, SubjectAccessActions.Approve, "released", CaseId: request.Reference));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>
    /// Releases a searched request not released yet, by an account other than the one that searched, in the caller's
    /// transaction on either engine; false (nothing written) otherwise. Its checks and record: <see cref="ApproveAsync"/>.
    /// </summary>
    internal static bool TryApprove(DbConnection connection, DbTransaction transaction, long id, string actor, DateTimeOffset now) =>
        connection.Execute(
            "UPDATE subject_access_requests SET approved_by = @actor, approved_at = @now WHERE id = @id AND searched_at IS NOT NULL AND approved_at IS NULL AND searched_by <> @actor",
            new { id, actor, now = Timestamps.Format(now) },
            transaction) == 1;

    /// <summary>The released answer, decrypted; before approval nobody can read it (403, logged).</summary>
    public async Task<SubjectAccessAnswer> AnswerAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var request = Get(id);
        if (request.State != SubjectAccessState.Released)
        {
            await RefuseAsync(actor, request, "read answer", $"the answer to request {request.Reference} is not released: a second DPO or an authority must approve it first", conflict: false, cancellationToken);
        }

        byte[] plaintext;
        using (var connection = database.Connect())
        {
            var row = SealedAnswer(connection, null, id);
            plaintext = alerts.Vault.OpenWithin(row.KeyId, row.Sealed, connection, null);
        }

        await audit.AppendAsync(new AuditRecord(actor, SubjectAccessActions.Release, "answer read", CaseId: request.Reference), cancellationToken);
        return JsonSerializer.Deserialize<SubjectAccessAnswer>(plaintext, Json)!;
    }

    /// <summary>A searched request's evidence key and sealed answer (either engine); opening it is the vault's.</summary>
    internal static (string KeyId, byte[] Sealed) SealedAnswer(DbConnection connection, DbTransaction? transaction, long id) =>
        connection.QuerySingle<(string KeyId, byte[] Sealed)>("SELECT result_key, result FROM subject_access_requests WHERE id = @id", new { id }, transaction);

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
        using var connection = database.Connect();
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
