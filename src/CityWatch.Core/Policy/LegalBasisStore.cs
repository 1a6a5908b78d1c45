using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Policy;

/// <summary>The register of legal bases. Every change is logged.</summary>
public sealed class LegalBasisStore(CityWatchDatabase database, AuditTrail audit, TimeProvider time)
{
    public async Task<LegalBasis> RegisterAsync(LegalBasisDraft draft, string actor, CancellationToken cancellationToken = default)
    {
        Validate(draft);
        using var connection = database.Open();
        var id = connection.ExecuteScalar<long>(
            """
            INSERT INTO legal_bases (title, instrument, authority, decision_id, objective, purposes, camera_ids,
                watchlist_ids, valid_from, valid_until, status, is_demonstration, created_by, created_at)
            VALUES (@Title, @Instrument, @Authority, @DecisionId, @Objective, @purposes, @cameras, @watchlists,
                @from, @until, 'Draft', @IsDemonstration, @actor, @now) RETURNING id
            """,
            new
            {
                draft.Title,
                draft.Instrument,
                draft.Authority,
                draft.DecisionId,
                draft.Objective,
                purposes = JsonSerializer.Serialize(draft.Purposes.Select(p => p.ToString())),
                cameras = JsonSerializer.Serialize(draft.CameraIds),
                watchlists = JsonSerializer.Serialize(draft.WatchlistIds),
                from = Timestamps.Format(draft.ValidFrom),
                until = Timestamps.Format(draft.ValidUntil),
                draft.IsDemonstration,
                actor,
                now = Timestamps.Format(time.GetUtcNow()),
            });
        await LogAsync(actor, id, "registered", cancellationToken);
        return Get(id);
    }

    public async Task<LegalBasis> ActivateAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var basis = Get(id);
        if (basis.Status != LegalBasisStatus.Draft)
        {
            throw new ConflictException($"Legal basis {id} is {basis.Status}; only a draft can be activated.");
        }

        SetStatus(id, LegalBasisStatus.Active, revokedAt: null);
        await LogAsync(actor, id, "activated", cancellationToken);
        return Get(id);
    }

    public async Task<LegalBasis> RevokeAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var basis = Get(id);
        if (basis.Status == LegalBasisStatus.Revoked)
        {
            throw new ConflictException($"Legal basis {id} is already revoked.");
        }

        SetStatus(id, LegalBasisStatus.Revoked, time.GetUtcNow());
        await LogAsync(actor, id, "revoked", cancellationToken);
        return Get(id);
    }

    public LegalBasis Get(long id) =>
        Query("WHERE id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No legal basis {id}.");

    public IReadOnlyList<LegalBasis> List() => Query("ORDER BY id", null);

    /// <summary>The bases that are active and inside their window at <paramref name="now"/>.</summary>
    public IReadOnlyList<LegalBasis> InForce(DateTimeOffset now) =>
        Query("WHERE status = 'Active' ORDER BY id", null).Where(b => b.IsInForceAt(now)).ToList();

    private static void Validate(LegalBasisDraft draft)
    {
        RequireText(draft.Title, "title");
        RequireText(draft.Instrument, "instrument");
        RequireText(draft.Authority, "authority");
        RequireText(draft.DecisionId, "decisionId");
        RequireText(draft.Objective, "objective");
        if (draft.Purposes is null || draft.Purposes.Count == 0)
        {
            throw new InvalidRequestException("A legal basis must name at least one purpose.");
        }

        if ((draft.WatchlistIds is null || draft.WatchlistIds.Count == 0) && draft.Purposes.Any(p => p != ProcessingPurpose.Evaluation))
        {
            throw new InvalidRequestException("A legal basis must name the watchlists it covers.");
        }

        if (draft.Purposes.Contains(ProcessingPurpose.Live) && (draft.CameraIds is null || draft.CameraIds.Count == 0))
        {
            throw new InvalidRequestException("A legal basis for live use must name its cameras.");
        }

        if (draft.ValidUntil <= draft.ValidFrom)
        {
            throw new InvalidRequestException("validUntil must be after validFrom.");
        }
    }

    private static void RequireText(string? value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidRequestException($"'{name}' is required.");
        }
    }

    private void SetStatus(long id, LegalBasisStatus status, DateTimeOffset? revokedAt)
    {
        using var connection = database.Open();
        connection.Execute(
            "UPDATE legal_bases SET status = @status, revoked_at = @revoked WHERE id = @id",
            new { id, status = status.ToString(), revoked = revokedAt is { } r ? Timestamps.Format(r) : null });
    }

    private Task<long> LogAsync(string actor, long id, string outcome, CancellationToken cancellationToken) =>
        audit.AppendAsync(new AuditRecord(actor, AuditActions.LegalBasisChange, outcome, LegalBasisId: id), cancellationToken);

    private List<LegalBasis> Query(string where, object? parameters)
    {
        using var connection = database.Open();
        return connection.Query<Row>($"SELECT * FROM legal_bases {where}", parameters).Select(r => r.ToModel()).ToList();
    }

    private sealed class Row
    {
        public long Id { get; set; }
        public string Title { get; set; } = "";
        public string Instrument { get; set; } = "";
        public string Authority { get; set; } = "";
        public string DecisionId { get; set; } = "";
        public string Objective { get; set; } = "";
        public string Purposes { get; set; } = "[]";
        public string CameraIds { get; set; } = "[]";
        public string WatchlistIds { get; set; } = "[]";
        public string ValidFrom { get; set; } = "";
        public string ValidUntil { get; set; } = "";
        public string Status { get; set; } = "";
        public bool IsDemonstration { get; set; }
        public string CreatedBy { get; set; } = "";
        public string CreatedAt { get; set; } = "";
        public string? RevokedAt { get; set; }

        public LegalBasis ToModel() => new(
            Id,
            Title,
            Instrument,
            Authority,
            DecisionId,
            Objective,
            JsonSerializer.Deserialize<string[]>(Purposes)!.Select(Enum.Parse<ProcessingPurpose>).ToList(),
            JsonSerializer.Deserialize<long[]>(CameraIds)!,
            JsonSerializer.Deserialize<long[]>(WatchlistIds)!,
            Timestamps.Parse(ValidFrom),
            Timestamps.Parse(ValidUntil),
            Enum.Parse<LegalBasisStatus>(Status),
            IsDemonstration,
            CreatedBy,
            Timestamps.Parse(CreatedAt),
            RevokedAt is null ? null : Timestamps.Parse(RevokedAt));
    }
}
