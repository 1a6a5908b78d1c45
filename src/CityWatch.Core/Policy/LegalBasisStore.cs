using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Grants;
using Dapper;

namespace CityWatch.Policy;

/// <summary>
/// The register of legal bases and their lifecycle (G1, G3, G4): register a draft, record its
/// prerequisites (DPIA, FRIA, registration, the regulator's opinion), then an account other than the
/// registrant authorises or refuses it with the decision's reference; an authority or the DPO may revoke
/// it. Every transition, and every refused attempt, is logged with the actor.
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>): the reads, and every act with its record staged in
/// its transaction (<see cref="AuditTrail.Stage"/> takes the connection of either). Each state change is a
/// compare-and-set in its statement and says by its row count whether it happened; the row writes are
/// <c>internal static</c> over the caller's <see cref="DbConnection"/>, for the acts of other stores.
/// </para>
/// </summary>
public sealed class LegalBasisStore(CityWatchDatabase database, AuditTrail audit, TimeProvider time)
{
    public const int MaxRetentionLimitDays = 3650;
    public const int MaxWatchlistEntriesLimit = 100_000;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Registers a draft. An urgent draft files its request with the authority in the same transaction
    /// (<see cref="UrgentRequestRegister"/>), and is refused (the refusal logged) if an urgent basis for the same
    /// objective, sharing a camera (or both by area only) and a watchlist, was refused, lapsed or revoked
    /// before it was authorised: urgent use that ended so cannot restart as urgent.
    /// </summary>
    public async Task<LegalBasis> RegisterAsync(LegalBasisDraft draft, string actor, CancellationToken cancellationToken = default)
    {
        Validate(draft);
        var (id, staged, earlier) = Insert(draft, actor);
        if (earlier is not null)
        {
            await RefuseAsync(
                actor,
                earlier.Id,
                "register urgent",
                $"urgent use for this objective, camera and watchlist ended {earlier.Status} under legal basis {earlier.Id}; it cannot restart as urgent: the authority must authorise a basis before use",
                cancellationToken,
                new Dictionary<string, string> { ["objective"] = draft.Objective.ToString(), ["earlierBasis"] = Invariant(earlier.Id) });
        }

        await audit.CommittedAsync(staged!, cancellationToken);
        return Get(id);
    }

    /// <summary>
    /// Inserts the draft with its record (and an urgent draft's request) in one transaction that takes the write
    /// lock first, then looks for an ended urgent use like it: a refusal or lapse committed before is seen, none can
    /// commit in between, so a registration racing a refusal cannot slip through. Inserts nothing when one is found.
    /// </summary>
    private (long Id, StagedRecord? Staged, LegalBasis? EndedUrgentUse) Insert(LegalBasisDraft draft, string actor)
    {
        var now = time.GetUtcNow();
        using var connection = database.Connect();
        using var transaction = database.Dialect.BeginWrite(connection, "legal_bases");
        if (draft.Urgent && EndedUrgentUseLike(connection, transaction, draft, now) is { } earlier)
        {
            return (0, null, earlier);
        }

        var id = Insert(connection, transaction, draft, actor, now);
        if (draft.Urgent)
        {
            UrgentRequestRegister.File(connection, transaction, id, draft.Authority, actor, now, LegalBasis.DeadlineFor(draft.ValidFrom, draft.Purposes));
        }

        var staged = audit.Stage(connection, transaction, Record(actor, id, draft.Urgent ? "registered (urgent): request filed with the authority" : "registered"));
        transaction.Commit();
        return (id, staged, null);
    }

    /// <summary>
    /// A draft's row, in the state <c>Draft</c>, in the caller's transaction on either engine; returns its id. It
    /// validates, files and logs nothing: <see cref="RegisterAsync"/> does.
    /// </summary>
    internal static long Insert(DbConnection connection, DbTransaction transaction, LegalBasisDraft draft, string actor, DateTimeOffset now) =>
        connection.ExecuteScalar<long>(
            """
            INSERT INTO legal_bases (title, instrument, authority, objective, offence, objective_detail, purposes, camera_ids, area,
                watchlist_ids, valid_from, valid_until, max_retention_days, max_watchlist_entries, urgent, state, is_demonstration, created_by, created_at)
            VALUES (@Title, @Instrument, @Authority, @objective, @Offence, @ObjectiveDetail, @purposes, @cameras, @area,
                @watchlists, @from, @until, @MaxRetentionDays, @MaxWatchlistEntries, @Urgent, 'Draft', @IsDemonstration, @actor, @now) RETURNING id
            """,
            new
            {
                draft.Title,
                draft.Instrument,
                draft.Authority,
                objective = draft.Objective.ToString(),
                draft.Offence,
                draft.ObjectiveDetail,
                purposes = JsonSerializer.Serialize(draft.Purposes.Select(p => p.ToString())),
                cameras = JsonSerializer.Serialize(draft.CameraIds ?? []),
                area = draft.Area is { Count: > 0 } area ? JsonSerializer.Serialize(area, Json) : null,
                watchlists = JsonSerializer.Serialize(draft.WatchlistIds ?? []),
                from = Timestamps.Format(draft.ValidFrom),
                until = Timestamps.Format(draft.ValidUntil),
                draft.MaxRetentionDays,
                draft.MaxWatchlistEntries,
                draft.Urgent,
                draft.IsDemonstration,
                actor,
                now = Timestamps.Format(now),
            },
            transaction);

    /// <summary>Records the DPIA, the FRIA, the registration id and the regulator's opinion: Draft to PrerequisitesRecorded.</summary>
    public async Task<LegalBasis> RecordPrerequisitesAsync(long id, Prerequisites prerequisites, string actor, CancellationToken cancellationToken = default)
    {
        var basis = Get(id);
        ValidatePrerequisites(prerequisites);
        if (basis.Status != LegalBasisStatus.Draft)
        {
            await RefuseAsync(actor, id, "record prerequisites", $"legal basis {id} is {basis.Status}; prerequisites are recorded on a draft", cancellationToken);
        }

        await TransitionAsync(
            id,
            ["Draft"],
            "state = 'PrerequisitesRecorded', prerequisites = @json, prerequisites_by = @actor, prerequisites_at = @now",
            new { json = JsonSerializer.Serialize(prerequisites, Json) },
            Record(actor, id, "prerequisites recorded", new Dictionary<string, string>
            {
                ["dpia"] = prerequisites.DpiaReference,
                ["registration"] = prerequisites.RegistrationId,
                ["regulatorOpinion"] = prerequisites.RegulatorOpinionReference,
            }),
            cancellationToken);
        return Get(id);
    }

    /// <summary>
    /// The authority's authorisation, with its decision's reference. Refused (and the attempt logged) for a
    /// basis without prerequisites, one past its urgency deadline, or when the authoriser is the account
    /// that registered the basis or recorded its prerequisites. The caller's role is checked by the API.
    /// </summary>
    public async Task<LegalBasis> AuthoriseAsync(long id, AuthorityDecision decision, string actor, CancellationToken cancellationToken = default)
    {
        var basis = Get(id);
        RequireText(decision?.DecisionReference, "decisionReference");
        await RequireDecidableAsync(basis, actor, "authorise", cancellationToken);
        await TransitionAsync(
            id,
            ["PrerequisitesRecorded"],
            "state = 'Authorised', decision_reference = @reference, decided_by = @actor, decided_at = @now",
            new { reference = decision!.DecisionReference },
            Record(actor, id, "authorised", new Dictionary<string, string> { ["decision"] = decision.DecisionReference }),
            cancellationToken,
            (connection, transaction, now) => UrgentRequestRegister.Answer(connection, transaction, id, UrgentRequestOutcome.Authorised, actor, now));
        return Get(id);
    }

    /// <summary>
    /// The authority's refusal. For an urgent basis already in use, the caller must then destroy what was
    /// made under it (<see cref="UrgencyGuard.RefuseAsync"/> does both).
    /// </summary>
    internal async Task<LegalBasis> RefuseAsync(long id, AuthorityDecision decision, string actor, CancellationToken cancellationToken = default)
    {
        var basis = Get(id);
        RequireText(decision?.DecisionReference, "decisionReference");
        if (basis.Status is not (LegalBasisStatus.Draft or LegalBasisStatus.PrerequisitesRecorded or LegalBasisStatus.UrgentActive))
        {
            throw new ConflictException($"Legal basis {id} is {basis.Status}; only an undecided basis can be refused.");
        }

        await TransitionAsync(
            id,
            ["Draft", "PrerequisitesRecorded"],
            "state = 'Refused', decision_reference = @reference, decided_by = @actor, decided_at = @now, refusal_reason = @reason",
            new { reference = decision!.DecisionReference, reason = decision.Reason },
            Record(actor, id, "refused by the authority", new Dictionary<string, string> { ["decision"] = decision.DecisionReference, ["reason"] = decision.Reason ?? "" }),
            cancellationToken,
            (connection, transaction, now) => UrgentRequestRegister.Answer(connection, transaction, id, UrgentRequestOutcome.Refused, actor, now));
        return Get(id);
    }

    public async Task<LegalBasis> RevokeAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var basis = Get(id);
        if (basis.Status is LegalBasisStatus.Revoked or LegalBasisStatus.Refused or LegalBasisStatus.Lapsed)
        {
            throw new ConflictException($"Legal basis {id} is already {basis.Status}.");
        }

        var unauthorisedUrgent = basis.Urgent && basis.DecidedBy is null;
        await TransitionAsync(
            id,
            ["Draft", "PrerequisitesRecorded", "Authorised"],
            "state = 'Revoked', revoked_by = @actor, revoked_at = @now",
            null,
            Record(actor, id, unauthorisedUrgent ? "revoked (urgent, never authorised: its outputs are destroyed)" : "revoked"),
            cancellationToken,
            (connection, transaction, now) => UrgentRequestRegister.Answer(connection, transaction, id, UrgentRequestOutcome.Withdrawn, actor, now));
        return Get(id);
    }

    /// <summary>
    /// Marks an urgent basis whose deadline passed without authorisation as lapsed, its request lapsed and the
    /// lapse's record staged in one transaction; false (nothing written) if it was no longer pending.
    /// </summary>
    internal async Task<bool> MarkLapsedAsync(LegalBasis basis, string actor, CancellationToken cancellationToken)
    {
        StagedRecord staged;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (!TryLapse(connection, transaction, basis.Id))
            {
                return false;
            }

            UrgentRequestRegister.Answer(connection, transaction, basis.Id, UrgentRequestOutcome.Lapsed, actor, time.GetUtcNow());
            staged = audit.Stage(connection, transaction, new AuditRecord(actor, AuditActions.LegalBasisChange, "lapsed: no authorisation by the urgency deadline", basis.Id,
                Parameters: new Dictionary<string, string> { ["deadline"] = Timestamps.Format(basis.UrgencyDeadline!.Value) }));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return true;
    }

    /// <summary>
    /// Marks an urgent basis still undecided (a draft, or prerequisites recorded) as lapsed, in the caller's
    /// transaction on either engine; false (nothing written) if it was not. Its request and record: <see cref="MarkLapsedAsync"/>.
    /// </summary>
    internal static bool TryLapse(DbConnection connection, DbTransaction transaction, long id) =>
        connection.Execute(
            "UPDATE legal_bases SET state = 'Lapsed' WHERE id = @id AND state IN ('Draft', 'PrerequisitesRecorded') AND urgent = TRUE", new { id }, transaction) == 1;

    /// <summary>Marks what an urgent basis produced as destroyed, in the caller's transaction; false if it already was (another sweep settled it).</summary>
    internal bool MarkDestroyed(DbConnection connection, DbTransaction transaction, long id) => MarkDestroyed(connection, transaction, id, time.GetUtcNow());

    /// <summary>The destruction mark at <paramref name="now"/> (either engine), set once: false if it already was.</summary>
    internal static bool MarkDestroyed(DbConnection connection, DbTransaction transaction, long id, DateTimeOffset now) =>
        connection.Execute(
            "UPDATE legal_bases SET destroyed_at = @now WHERE id = @id AND destroyed_at IS NULL",
            new { id, now = Timestamps.Format(now) },
            transaction) == 1;

    /// <summary>
    /// Urgent bases refused, past their deadline without authorisation, or revoked before any authorisation,
    /// whose data has not been destroyed yet.
    /// </summary>
    internal IReadOnlyList<LegalBasis> UrgentToSettle()
    {
        using var connection = database.Connect();
        return UrgentToSettle(connection, null, time.GetUtcNow());
    }

    /// <summary><see cref="UrgentToSettle()"/> as <paramref name="transaction"/> sees it at <paramref name="now"/> (either engine).</summary>
    internal static IReadOnlyList<LegalBasis> UrgentToSettle(DbConnection connection, DbTransaction? transaction, DateTimeOffset now) =>
        Read(connection, transaction, "WHERE urgent = TRUE AND destroyed_at IS NULL AND (state IN ('PrerequisitesRecorded', 'Draft', 'Refused', 'Lapsed') OR (state = 'Revoked' AND decided_by IS NULL)) ORDER BY id", null, now)
            .Where(b => b.Status is LegalBasisStatus.Refused or LegalBasisStatus.Lapsed or LegalBasisStatus.Revoked)
            .ToList();

    /// <summary>
    /// An urgent basis for the draft's objective, sharing a camera (or, both without cameras, by area) and a
    /// watchlist with it, that ended without authorisation: refused, lapsed, or revoked undecided.
    /// </summary>
    private static LegalBasis? EndedUrgentUseLike(DbConnection connection, DbTransaction transaction, LegalBasisDraft draft, DateTimeOffset now)
    {
        var cameras = draft.CameraIds ?? [];
        var watchlists = draft.WatchlistIds ?? [];
        return Read(connection, transaction, "WHERE urgent = TRUE AND objective = @objective ORDER BY id", new { objective = draft.Objective.ToString() }, now)
            .Where(b => b.Status is LegalBasisStatus.Refused or LegalBasisStatus.Lapsed || (b.Status == LegalBasisStatus.Revoked && b.DecidedBy is null))
            .FirstOrDefault(b =>
                (b.CameraIds.Intersect(cameras).Any() || (b.CameraIds.Count == 0 && cameras.Count == 0))
                && (b.WatchlistIds.Intersect(watchlists).Any() || (b.WatchlistIds.Count == 0 && watchlists.Count == 0)));
    }

    public LegalBasis Get(long id) =>
        Query("WHERE id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No legal basis {id}.");

    public IReadOnlyList<LegalBasis> List() => Query("ORDER BY id", null);

    /// <summary>The bases that grant something at <paramref name="now"/> (authorised in their window, or urgent before their deadline).</summary>
    public IReadOnlyList<LegalBasis> InForce(DateTimeOffset now)
    {
        using var connection = database.Connect();
        return InForce(connection, null, now);
    }

    /// <summary><see cref="InForce(DateTimeOffset)"/> as <paramref name="transaction"/> sees it (either engine).</summary>
    internal static IReadOnlyList<LegalBasis> InForce(DbConnection connection, DbTransaction? transaction, DateTimeOffset now) =>
        Read(connection, transaction, "WHERE state IN ('Authorised', 'PrerequisitesRecorded') ORDER BY id", null, now).Where(b => b.IsInForceAt(now)).ToList();

    /// <summary>Logs a refused governance act and throws <see cref="PolicyRefusedException"/> (403).</summary>
    internal async Task RefuseAsync(string actor, long? basisId, string act, string reason, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? parameters = null)
    {
        await GovernanceLog.RefusalAsync(audit, actor, basisId, act, reason, cancellationToken, parameters);
        throw new PolicyRefusedException(reason);
    }

    private async Task RequireDecidableAsync(LegalBasis basis, string actor, string act, CancellationToken cancellationToken)
    {
        if (basis.Status == LegalBasisStatus.Draft)
        {
            await RefuseAsync(actor, basis.Id, act, $"legal basis {basis.Id} has no prerequisites on record (DPIA, FRIA, registration id, regulator's opinion)", cancellationToken);
        }

        if (basis.Status is not (LegalBasisStatus.PrerequisitesRecorded or LegalBasisStatus.UrgentActive))
        {
            await RefuseAsync(actor, basis.Id, act, $"legal basis {basis.Id} is {basis.Status}", cancellationToken);
        }

        if (actor == basis.CreatedBy || actor == basis.PrerequisitesRecordedBy)
        {
            await RefuseAsync(actor, basis.Id, act, $"{actor} registered legal basis {basis.Id} or recorded its prerequisites; another account must decide on it", cancellationToken);
        }
    }

    private static void Validate(LegalBasisDraft draft)
    {
        ArgumentNullException.ThrowIfNull(draft);
        RequireText(draft.Title, "title");
        RequireText(draft.Instrument, "instrument");
        RequireText(draft.Authority, "authority");
        RequireText(draft.ObjectiveDetail, "objectiveDetail");
        if (!Enum.IsDefined(draft.Objective))
        {
            throw new InvalidRequestException($"'objective' must be one of {string.Join(", ", Enum.GetNames<LegalObjective>())}.");
        }

        if (draft.Objective == LegalObjective.SeriousOffenceSuspect)
        {
            if (draft.Offence is null || !ListedOffences.All.ContainsKey(draft.Offence))
            {
                throw new InvalidRequestException($"A search for a suspect must name a listed offence ('offence': one of {string.Join(", ", ListedOffences.All.Keys)}).");
            }
        }
        else if (draft.Offence is not null)
        {
            throw new InvalidRequestException("'offence' is named only when the objective is SeriousOffenceSuspect.");
        }

        if (draft.Purposes is null || draft.Purposes.Count == 0 || draft.Purposes.Any(p => !Enum.IsDefined(p)))
        {
            throw new InvalidRequestException("A legal basis must name at least one purpose.");
        }

        if ((draft.Objective == LegalObjective.AccuracyEvaluation) != draft.Purposes.Contains(ProcessingPurpose.Evaluation)
            || (draft.Objective == LegalObjective.AccuracyEvaluation && draft.Purposes.Any(p => p != ProcessingPurpose.Evaluation)))
        {
            throw new InvalidRequestException("The Evaluation purpose goes with the AccuracyEvaluation objective only, and that objective allows nothing else.");
        }

        if ((draft.WatchlistIds is null || draft.WatchlistIds.Count == 0) && draft.Purposes.Any(p => p != ProcessingPurpose.Evaluation))
        {
            throw new InvalidRequestException("A legal basis must name the watchlists it covers.");
        }

        if (draft.Area is { Count: > 0 } area)
        {
            if (area.Count < 3 || area.Any(p => p is null || p.Latitude is < -90 or > 90 || p.Longitude is < -180 or > 180 || double.IsNaN(p.Latitude) || double.IsNaN(p.Longitude)))
            {
                throw new InvalidRequestException("'area' must be a polygon of at least 3 points with latitude in [-90, 90] and longitude in [-180, 180].");
            }
        }

        if (draft.Purposes.Contains(ProcessingPurpose.Live) && (draft.CameraIds is null || draft.CameraIds.Count == 0) && draft.Area is not { Count: > 0 })
        {
            throw new InvalidRequestException("A legal basis for live use must name its cameras or an area.");
        }

        if (draft.ValidUntil <= draft.ValidFrom)
        {
            throw new InvalidRequestException("validUntil must be after validFrom.");
        }

        if (draft.MaxRetentionDays is < 1 or > MaxRetentionLimitDays)
        {
            throw new InvalidRequestException($"'maxRetentionDays' must be between 1 and {MaxRetentionLimitDays}.");
        }

        if (draft.MaxWatchlistEntries is < 1 or > MaxWatchlistEntriesLimit)
        {
            throw new InvalidRequestException($"'maxWatchlistEntries' must be between 1 and {MaxWatchlistEntriesLimit}.");
        }
    }

    private static void ValidatePrerequisites(Prerequisites? prerequisites)
    {
        if (prerequisites?.Fria is null)
        {
            throw new InvalidRequestException("Prerequisites need 'dpiaReference', 'fria' (processes, periodAndFrequency, affectedGroups, risks, humanOversight, mitigationAndComplaints), 'registrationId' and 'regulatorOpinionReference'.");
        }

        RequireText(prerequisites.DpiaReference, "dpiaReference");
        RequireText(prerequisites.RegistrationId, "registrationId");
        RequireText(prerequisites.RegulatorOpinionReference, "regulatorOpinionReference");
        var fria = prerequisites.Fria;
        RequireText(fria.Processes, "fria.processes");
        RequireText(fria.PeriodAndFrequency, "fria.periodAndFrequency");
        RequireText(fria.AffectedGroups, "fria.affectedGroups");
        RequireText(fria.Risks, "fria.risks");
        RequireText(fria.HumanOversight, "fria.humanOversight");
        RequireText(fria.MitigationAndComplaints, "fria.mitigationAndComplaints");
    }

    private static void RequireText(string? value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidRequestException($"'{name}' is required.");
        }
    }

    private static AuditRecord Record(string actor, long id, string outcome, IReadOnlyDictionary<string, string>? parameters = null) =>
        new(actor, AuditActions.LegalBasisChange, outcome, LegalBasisId: id, Parameters: parameters);

    // A transition is a compare-and-set: the row changes only if it is still in one of the states the caller
    // checked, and the change and its log record commit in one transaction. Two concurrent decisions on one
    // basis: one wins, the other gets 409 and changes nothing.
    private async Task TransitionAsync(
        long id,
        string[] fromStates,
        string assignments,
        object? values,
        AuditRecord record,
        CancellationToken cancellationToken,
        Action<DbConnection, DbTransaction, DateTimeOffset>? alsoInTransaction = null)
    {
        var now = time.GetUtcNow();
        StagedRecord staged;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (!TryTransition(connection, transaction, id, fromStates, assignments, values, record.Actor, now))
            {
                throw new ConflictException($"Legal basis {id} changed while this request was being decided; nothing was changed.");
            }

            alsoInTransaction?.Invoke(connection, transaction, now);
            staged = audit.Stage(connection, transaction, record);
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
    }

    /// <summary>
    /// Sets <paramref name="assignments"/> (which may use <c>@actor</c> and <c>@now</c> besides <paramref name="values"/>)
    /// on basis <paramref name="id"/> only while it is in one of <paramref name="fromStates"/>, in the caller's
    /// transaction on either engine; says whether it did.
    /// </summary>
    internal static bool TryTransition(
        DbConnection connection, DbTransaction transaction, long id, string[] fromStates, string assignments, object? values, string actor, DateTimeOffset now)
    {
        var arguments = new DynamicParameters(values);
        arguments.Add("id", id);
        arguments.Add("from", fromStates);
        arguments.Add("actor", actor);
        arguments.Add("now", Timestamps.Format(now));
        return connection.Execute(
            $"UPDATE legal_bases SET {assignments} WHERE id = @id AND {SqlDialect.Of(connection).AnyOf("state", "from")}", arguments, transaction) == 1;
    }

    /// <summary>The bases matching <paramref name="where"/> as <paramref name="transaction"/> sees them, their status as at <paramref name="now"/> (either engine).</summary>
    internal static List<LegalBasis> Read(DbConnection connection, DbTransaction? transaction, string where, object? parameters, DateTimeOffset now) =>
        connection.Query<Row>($"SELECT * FROM legal_bases {where}", parameters, transaction).Select(r => r.ToModel(now)).ToList();

    private List<LegalBasis> Query(string where, object? parameters)
    {
        var now = time.GetUtcNow();
        using var connection = database.Connect();
        return Read(connection, null, where, parameters, now);
    }

    private sealed class Row
    {
        public long Id { get; set; }
        public string Title { get; set; } = "";
        public string Instrument { get; set; } = "";
        public string Authority { get; set; } = "";
        public string Objective { get; set; } = "";
        public string? Offence { get; set; }
        public string ObjectiveDetail { get; set; } = "";
        public string Purposes { get; set; } = "[]";
        public string CameraIds { get; set; } = "[]";
        public string? Area { get; set; }
        public string WatchlistIds { get; set; } = "[]";
        public string ValidFrom { get; set; } = "";
        public string ValidUntil { get; set; } = "";
        public int MaxRetentionDays { get; set; }
        public int MaxWatchlistEntries { get; set; }
        public bool Urgent { get; set; }
        public string State { get; set; } = "";
        public bool IsDemonstration { get; set; }
        public string CreatedBy { get; set; } = "";
        public string CreatedAt { get; set; } = "";
        public string? Prerequisites { get; set; }
        public string? PrerequisitesBy { get; set; }
        public string? DecisionReference { get; set; }
        public string? DecidedBy { get; set; }
        public string? DecidedAt { get; set; }
        public string? RefusalReason { get; set; }
        public string? RevokedBy { get; set; }
        public string? RevokedAt { get; set; }

        public LegalBasis ToModel(DateTimeOffset now)
        {
            var purposes = JsonSerializer.Deserialize<string[]>(Purposes)!.Select(Enum.Parse<ProcessingPurpose>).ToList();
            var from = Timestamps.Parse(ValidFrom);
            var until = Timestamps.Parse(ValidUntil);
            DateTimeOffset? deadline = Urgent ? LegalBasis.DeadlineFor(from, purposes) : null;
            return new LegalBasis(
                Id,
                Title,
                Instrument,
                Authority,
                Enum.Parse<LegalObjective>(Objective),
                Offence,
                ObjectiveDetail,
                purposes,
                JsonSerializer.Deserialize<long[]>(CameraIds)!,
                Area is null ? null : JsonSerializer.Deserialize<GeoPoint[]>(Area, Json),
                JsonSerializer.Deserialize<long[]>(WatchlistIds)!,
                from,
                until,
                MaxRetentionDays,
                MaxWatchlistEntries,
                Urgent,
                deadline,
                StatusAt(now, from, until, deadline),
                IsDemonstration,
                CreatedBy,
                Timestamps.Parse(CreatedAt),
                Prerequisites is null ? null : JsonSerializer.Deserialize<Prerequisites>(Prerequisites, Json),
                PrerequisitesBy,
                DecisionReference,
                DecidedBy,
                DecidedAt is null ? null : Timestamps.Parse(DecidedAt),
                RefusalReason,
                RevokedBy,
                RevokedAt is null ? null : Timestamps.Parse(RevokedAt));
        }

        private LegalBasisStatus StatusAt(DateTimeOffset now, DateTimeOffset from, DateTimeOffset until, DateTimeOffset? deadline) => State switch
        {
            "Draft" when deadline is { } d && now >= d => LegalBasisStatus.Lapsed,
            "Draft" => LegalBasisStatus.Draft,
            "PrerequisitesRecorded" when deadline is { } d && now >= d => LegalBasisStatus.Lapsed,
            "PrerequisitesRecorded" when deadline is not null && now >= from && now < until => LegalBasisStatus.UrgentActive,
            "PrerequisitesRecorded" => LegalBasisStatus.PrerequisitesRecorded,
            "Authorised" when now < from => LegalBasisStatus.Authorised,
            "Authorised" when now >= until => LegalBasisStatus.Expired,
            "Authorised" => LegalBasisStatus.Active,
            _ => Enum.Parse<LegalBasisStatus>(State),
        };
    }

    internal static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
