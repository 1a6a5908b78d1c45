using System.Data.Common;
using System.Globalization;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Policy;
using CityWatch.Vision;
using Dapper;

namespace CityWatch.Settings;

public enum ProposalStatus
{
    Pending,
    Approved,
    Rejected,
}

/// <summary>A proposed change of a governed setting, and what became of it.</summary>
public sealed record SettingProposal(
    long Id,
    string Key,
    string Value,
    string Reason,
    string ProposedBy,
    DateTimeOffset ProposedAt,
    ProposalStatus Status,
    string? DecidedBy,
    DateTimeOffset? DecidedAt,
    string? Warning);

public sealed record ProposalInput(string Key, string Value, string Reason);

/// <summary>
/// The governed settings (G12): an embedder's operating threshold and the models in use change only
/// through a proposal that a second account approves. Both steps are logged; a threshold below the
/// validated operating point (the model card's measured threshold) carries a warning that the approver sees.
/// <para>
/// The table is the <c>settings</c> feature's (<see cref="SettingsSchema"/>). The whole feature is on the shared
/// code path (<see cref="CityWatchDatabase.Connect"/>) and runs on SQLite and PostgreSQL: the reads, the row writes
/// (<see cref="Insert"/>, the compare-and-set <see cref="TryDecide"/>) and proposing, approving and rejecting, each
/// staging its records (<see cref="AuditTrail.Stage"/>) in its own transaction (<see cref="SqlDialect.BeginWrite"/>;
/// an approval on <c>settings</c>, whose replaced value its record names, as <see cref="SettingsStore.SetAsync"/>).
/// </para>
/// </summary>
public sealed class SettingProposals
{
    public const string Proposed = "setting.proposed";
    public const string Decided = "setting.decided";
    public const string ModelKey = "vision.embedder";
    public const string DetectorKey = "vision.detector";

    private readonly CityWatchDatabase _database;
    private readonly SettingsStore _settings;
    private readonly AuditTrail _audit;
    private readonly TimeProvider _time;

    public SettingProposals(CityWatchDatabase database, SettingsStore settings, AuditTrail audit, TimeProvider time)
    {
        _database = database;
        _settings = settings;
        _audit = audit;
        _time = time;
    }

    public async Task<SettingProposal> ProposeAsync(ProposalInput input, string actor, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(input.Reason))
        {
            throw new InvalidRequestException("A proposal needs a reason.");
        }

        var warning = Check(input.Key, input.Value);
        long id;
        StagedRecord staged;
        using (var connection = _database.Connect())
        using (var transaction = _database.Dialect.BeginWrite(connection))
        {
            id = Insert(connection, transaction, input, actor, _time.GetUtcNow(), warning);
            staged = _audit.Stage(connection, transaction, new AuditRecord(actor, Proposed, "pending", Parameters: new Dictionary<string, string>
            {
                ["proposal"] = id.ToString(CultureInfo.InvariantCulture),
                ["key"] = input.Key,
                ["value"] = input.Value,
                ["warning"] = warning ?? "",
            }));
            transaction.Commit();
        }

        await _audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>
    /// Approves and applies a pending proposal. The proposer may not approve their own. The decision, the
    /// setting and both records are one transaction whose first write is a compare-and-set on the proposal's
    /// state: of two concurrent approvals one takes effect, the other gets 409 and changes nothing.
    /// </summary>
    public async Task<SettingProposal> ApproveAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var proposal = await PendingAsync(id, actor, "approve setting proposal", cancellationToken);
        Check(proposal.Key, proposal.Value);
        var staged = new List<StagedRecord>();
        try
        {
            using var connection = _database.Connect();
            using var transaction = _database.Dialect.BeginWrite(connection, "settings");
            staged.Add(Decide(connection, transaction, id, ProposalStatus.Approved, actor, "approved"));
            staged.Add(_settings.Write(connection, transaction, proposal.Key, proposal.Value, actor, $"proposal {id} by {proposal.ProposedBy}, approved by {actor}: {proposal.Reason}").Staged);
            transaction.Commit();
        }
        catch (ConflictException lost)
        {
            await LogLostAsync(id, actor, "approve setting proposal", lost, cancellationToken);
            throw;
        }
        finally
        {
            _settings.Refresh(proposal.Key);
        }

        foreach (var record in staged)
        {
            await _audit.CommittedAsync(record, cancellationToken);
        }

        return Get(id);
    }

    public async Task<SettingProposal> RejectAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        await PendingAsync(id, actor, "reject setting proposal", cancellationToken);
        StagedRecord staged;
        try
        {
            using var connection = _database.Connect();
            using var transaction = _database.Dialect.BeginWrite(connection);
            staged = Decide(connection, transaction, id, ProposalStatus.Rejected, actor, "rejected");
            transaction.Commit();
        }
        catch (ConflictException lost)
        {
            await LogLostAsync(id, actor, "reject setting proposal", lost, cancellationToken);
            throw;
        }

        await _audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    public SettingProposal Get(long id) =>
        Query("WHERE id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No setting proposal {id}.");

    public IReadOnlyList<SettingProposal> List() => Query("ORDER BY id DESC", null);

    // Only known settings with valid values; returns a warning for a threshold below the validated point.
    private static string? Check(string key, string value)
    {
        switch (key)
        {
            case ModelKey or DetectorKey:
                var card = ModelCards.All.FirstOrDefault(c => c.Name == value)
                    ?? throw new InvalidRequestException($"No model named '{value}'.");
                if ((key == ModelKey) != (card.Role == ModelRole.Embedder))
                {
                    throw new InvalidRequestException($"'{value}' is not a{(key == ModelKey ? "n embedder" : " detector")}.");
                }

                return key == ModelKey ? "changing the embedder makes every enrolled template unusable until people are re-enrolled; takes effect at the next start" : "takes effect at the next start";
            case var threshold when threshold.StartsWith("vision.threshold.", StringComparison.Ordinal):
                var embedder = ModelCards.All.FirstOrDefault(c => SettingsStore.ThresholdKey(c.Name) == key && c.Role == ModelRole.Embedder)
                    ?? throw new InvalidRequestException($"No embedder for setting '{key}'.");
                if (!float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var score) || !float.IsFinite(score) || score is < -1 or > 1)
                {
                    throw new InvalidRequestException($"A cosine threshold must be a number in [-1, 1], not '{value}'.");
                }

                return embedder.CalibratedThreshold is { } validated && score < validated
                    ? string.Create(CultureInfo.InvariantCulture, $"below the validated operating point {validated:0.000} of {embedder.Name}: more false alerts than measured")
                    : null;
            default:
                throw new InvalidRequestException($"'{key}' is not a governed setting.");
        }
    }

    /// <summary>
    /// The proposal while it is pending. One already decided (the other of two concurrent decisions may have
    /// committed before this one began) is refused with 409 and the refusal recorded, as when it loses inside
    /// the transaction.
    /// </summary>
    private async Task<SettingProposal> PendingAsync(long id, string actor, string act, CancellationToken cancellationToken)
    {
        try
        {
            return Pending(id, actor);
        }
        catch (ConflictException decided)
        {
            await LogLostAsync(id, actor, act, decided, cancellationToken);
            throw;
        }
    }

    private SettingProposal Pending(long id, string actor)
    {
        var proposal = Get(id);
        if (proposal.Status != ProposalStatus.Pending)
        {
            throw new ConflictException($"Proposal {id} is already {proposal.Status.ToString().ToLowerInvariant()}.");
        }

        if (string.Equals(proposal.ProposedBy, actor, StringComparison.OrdinalIgnoreCase))
        {
            throw new ForbiddenException($"Proposal {id} needs a second person: its proposer cannot decide it.");
        }

        return proposal;
    }

    /// <summary>A pending proposal's row, in the caller's transaction on either engine; returns its id. Logs nothing (<see cref="ProposeAsync"/> does).</summary>
    internal static long Insert(DbConnection connection, DbTransaction transaction, ProposalInput input, string actor, DateTimeOffset now, string? warning) =>
        connection.ExecuteScalar<long>(
            """
            INSERT INTO setting_proposals (key, value, reason, proposed_by, proposed_at, status, warning)
            VALUES (@Key, @Value, @Reason, @actor, @now, 'Pending', @warning) RETURNING id
            """,
            new { input.Key, input.Value, input.Reason, actor, now = Timestamps.Format(now), warning },
            transaction);

    /// <summary>
    /// The compare-and-set on a proposal's state, in the caller's transaction on either engine: decides it only
    /// while it is still pending, and says whether it did (false: it was decided meanwhile, or there is none).
    /// </summary>
    internal static bool TryDecide(DbConnection connection, DbTransaction transaction, long id, ProposalStatus status, string actor, DateTimeOffset now)
    {
        if (status == ProposalStatus.Pending)
        {
            throw new ArgumentOutOfRangeException(nameof(status), "a decision approves or rejects");
        }

        return connection.Execute(
            "UPDATE setting_proposals SET status = @status, decided_by = @actor, decided_at = @now WHERE id = @id AND status = 'Pending'",
            new { id, status = status.ToString(), actor, now = Timestamps.Format(now) },
            transaction) == 1;
    }

    // The compare-and-set: only a proposal still pending is decided; a lost race throws before anything is written.
    private StagedRecord Decide(DbConnection connection, DbTransaction transaction, long id, ProposalStatus status, string actor, string outcome)
    {
        if (!TryDecide(connection, transaction, id, status, actor, _time.GetUtcNow()))
        {
            throw new ConflictException($"Proposal {id} was decided while this request was being made; nothing was changed.");
        }

        return _audit.Stage(connection, transaction, new AuditRecord(actor, Decided, outcome, Parameters: new Dictionary<string, string> { ["proposal"] = id.ToString(CultureInfo.InvariantCulture) }));
    }

    // A decision that lost a race to another is refused and, like every refusal, recorded.
    private Task<long> LogLostAsync(long id, string actor, string act, ConflictException lost, CancellationToken cancellationToken) =>
        GovernanceLog.RefusalAsync(_audit, actor, null, act, lost.Message, cancellationToken, new Dictionary<string, string> { ["proposal"] = id.ToString(CultureInfo.InvariantCulture) });

    private List<SettingProposal> Query(string where, object? parameters)
    {
        using var connection = _database.Connect();
        return Query(connection, null, where, parameters);
    }

    /// <summary>The proposal <paramref name="id"/> as <paramref name="transaction"/> sees it, or null (either engine).</summary>
    internal static SettingProposal? Read(DbConnection connection, DbTransaction? transaction, long id) =>
        Query(connection, transaction, "WHERE id = @id", new { id }).SingleOrDefault();

    private static List<SettingProposal> Query(DbConnection connection, DbTransaction? transaction, string where, object? parameters) =>
        connection.Query<(long Id, string Key, string Value, string Reason, string ProposedBy, string ProposedAt, string Status, string? DecidedBy, string? DecidedAt, string? Warning)>(
                $"SELECT id, key, value, reason, proposed_by, proposed_at, status, decided_by, decided_at, warning FROM setting_proposals {where}", parameters, transaction)
            .Select(r => new SettingProposal(r.Id, r.Key, r.Value, r.Reason, r.ProposedBy, Timestamps.Parse(r.ProposedAt), Enum.Parse<ProposalStatus>(r.Status),
                r.DecidedBy, r.DecidedAt is null ? null : Timestamps.Parse(r.DecidedAt), r.Warning))
            .ToList();
}
