using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Grants;
using Dapper;

namespace CityWatch.Policy;

/// <summary>
/// The register of cases. A case is opened under a legal basis in force for retrospective use, inside its
/// scope: a listed offence (the basis's own) when the basis is a suspect search, cameras the basis covers, a
/// time range inside its window and an expiry no later than its end. Opening and closing commit with their
/// log record; every refused attempt is logged and answered 403 (409 for a duplicate or a closed case).
/// <para>
/// On the shared code path (<see cref="CityWatchDatabase.Connect"/>), SQLite and PostgreSQL: the reads, the row
/// writes (<see cref="Insert"/>, the guarded <see cref="TryClose"/>) and opening and closing, which check the basis
/// through <see cref="LegalBasisStore"/> and <see cref="CameraScope"/> and stage their records in their
/// transaction (<see cref="AuditTrail.Stage"/>), all on both engines.
/// </para>
/// </summary>
public sealed partial class CaseStore(CityWatchDatabase database, LegalBasisStore legalBases, CameraScope scope, AuditTrail audit, TimeProvider time)
{
    public const int MaxOffenceLength = 200;

    /// <summary>What a case number looks like: upper-case letters and digits in 2 to 5 dash-separated parts, e.g. <c>PD-2026-0042</c>.</summary>
    public const string NumberFormat = "^[A-Z][A-Z0-9]{0,15}(-[A-Z0-9]{1,16}){1,4}$";

    public static bool IsWellFormed(string? number) => number is not null && NumberPattern().IsMatch(number);

    public async Task<Case> OpenAsync(CaseInput input, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!IsWellFormed(input.Number))
        {
            throw new InvalidRequestException($"'number' must be a case number ({NumberFormat}), e.g. PD-2026-0042.");
        }

        if (string.IsNullOrWhiteSpace(input.Offence) || input.Offence.Length > MaxOffenceLength)
        {
            throw new InvalidRequestException($"'offence' is required (at most {MaxOffenceLength} characters).");
        }

        var now = time.GetUtcNow();
        if (input.Until <= input.From)
        {
            throw new InvalidRequestException("'until' must be after 'from'.");
        }

        if (input.ExpiresAt <= now)
        {
            throw new InvalidRequestException("'expiresAt' must be in the future.");
        }

        var cameras = (input.CameraIds ?? []).Distinct().Order().ToList();
        var basis = legalBases.Get(input.LegalBasisId);
        if (basis.InForceUntil(now, ProcessingPurpose.Retrospective) is null)
        {
            await RefuseAsync(actor, input.Number, basis.Id, "open", $"legal basis {basis.Id} is {basis.Status}: not in force for retrospective use", cancellationToken);
        }

        if (basis.Objective == LegalObjective.SeriousOffenceSuspect && input.Offence != basis.Offence)
        {
            await RefuseAsync(
                actor, input.Number, basis.Id, "open", $"legal basis {basis.Id} allows the search for suspects of '{basis.Offence}' only; the offence must be that listed offence", cancellationToken);
        }

        if (cameras.FirstOrDefault(c => !scope.Covers(basis, c)) is var outside and not 0)
        {
            await RefuseAsync(actor, input.Number, basis.Id, "open", $"camera {outside} is outside the scope of legal basis {basis.Id}", cancellationToken);
        }

        if (input.From < basis.ValidFrom || input.Until > basis.ValidUntil)
        {
            await RefuseAsync(
                actor, input.Number, basis.Id, "open", $"the time range is outside the window of legal basis {basis.Id} ({basis.ValidFrom:O} to {basis.ValidUntil:O})", cancellationToken);
        }

        if (input.ExpiresAt > basis.ValidUntil)
        {
            await RefuseAsync(actor, input.Number, basis.Id, "open", $"the case cannot outlive legal basis {basis.Id} (valid until {basis.ValidUntil:O})", cancellationToken);
        }

        if (Find(input.Number) is not null)
        {
            await AppendRefusalAsync(actor, input.Number, basis.Id, "open", $"case number {input.Number} is already registered", cancellationToken);
            throw new ConflictException($"Case number {input.Number} is already registered.");
        }

        StagedRecord staged;
        long id;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            id = Insert(connection, transaction, input, cameras, actor, now)
                ?? throw new ConflictException($"Case number {input.Number} is already registered.");

            staged = audit.Stage(
                connection,
                transaction,
                new AuditRecord(
                    actor,
                    CaseActions.Open,
                    "opened",
                    basis.Id,
                    input.Number,
                    new Dictionary<string, string>
                    {
                        ["case"] = id.ToString(CultureInfo.InvariantCulture),
                        ["offence"] = input.Offence,
                        ["cameras"] = string.Join(",", cameras),
                        ["from"] = Timestamps.Format(input.From),
                        ["until"] = Timestamps.Format(input.Until),
                        ["expires"] = Timestamps.Format(input.ExpiresAt),
                    }));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>Closes an open (or expired) case; a case already closed is refused (409, logged).</summary>
    public async Task<Case> CloseAsync(long id, string? reason, string actor, CancellationToken cancellationToken = default)
    {
        var current = Get(id);
        StagedRecord? staged = null;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (TryClose(connection, transaction, id, reason, actor, time.GetUtcNow()))
            {
                staged = audit.Stage(
                    connection,
                    transaction,
                    new AuditRecord(actor, CaseActions.Close, "closed", current.LegalBasisId, current.Number, new Dictionary<string, string> { ["reason"] = reason ?? "" }));
                transaction.Commit();
            }
        }

        if (staged is null)
        {
            await AppendRefusalAsync(actor, current.Number, current.LegalBasisId, "close", $"case {current.Number} is already closed", cancellationToken);
            throw new ConflictException($"Case {current.Number} is already closed.");
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    public Case Get(long id) => Query("WHERE id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No case {id}.");

    /// <summary>The case with this number, or null.</summary>
    public Case? Find(string number) => Query("WHERE number = @number", new { number }).SingleOrDefault();

    public IReadOnlyList<Case> List() => Query("ORDER BY id", null);

    /// <summary>Cases opened and closed per legal basis and calendar month (UTC), for the public page.</summary>
    public IReadOnlyList<CaseCount> Counts() => Counts(List());

    /// <summary>
    /// A case's row, in the caller's transaction on either engine, with <paramref name="cameras"/> as given
    /// (distinct, in order); returns its id, or null when the number is already registered (nothing written).
    /// It checks and logs nothing: <see cref="OpenAsync"/> does both.
    /// </summary>
    internal static long? Insert(DbConnection connection, DbTransaction transaction, CaseInput input, IReadOnlyList<long> cameras, string actor, DateTimeOffset now) =>
        connection.ExecuteScalar<long?>(
            """
            INSERT INTO cases (number, legal_basis_id, offence, camera_ids, from_at, until_at, expires_at, opened_by, opened_at)
            VALUES (@Number, @LegalBasisId, @Offence, @cameras, @from, @until, @expires, @actor, @now) ON CONFLICT (number) DO NOTHING RETURNING id
            """,
            new
            {
                input.Number,
                input.LegalBasisId,
                input.Offence,
                cameras = JsonSerializer.Serialize(cameras),
                from = Timestamps.Format(input.From),
                until = Timestamps.Format(input.Until),
                expires = Timestamps.Format(input.ExpiresAt),
                actor,
                now = Timestamps.Format(now),
            },
            transaction);

    /// <summary>
    /// Closes case <paramref name="id"/> in the caller's transaction on either engine, only while it is not
    /// closed (the guard is in the <c>UPDATE</c>); says whether it did. Logs nothing: <see cref="CloseAsync"/> does.
    /// </summary>
    internal static bool TryClose(DbConnection connection, DbTransaction transaction, long id, string? reason, string actor, DateTimeOffset now) =>
        connection.Execute(
            "UPDATE cases SET closed_by = @actor, closed_at = @now, close_reason = @reason WHERE id = @id AND closed_at IS NULL",
            new { id, actor, reason, now = Timestamps.Format(now) },
            transaction) == 1;

    /// <summary>Every case as <paramref name="transaction"/> sees it, in id order, its status as at <paramref name="now"/> (either engine).</summary>
    internal static IReadOnlyList<Case> ReadAll(DbConnection connection, DbTransaction? transaction, DateTimeOffset now) =>
        Query(connection, transaction, "ORDER BY id", null, now);

    /// <summary>Cases opened and closed per legal basis and calendar month (UTC) of <paramref name="all"/>.</summary>
    internal static IReadOnlyList<CaseCount> Counts(IReadOnlyList<Case> all)
    {
        var opened = all.GroupBy(c => (c.LegalBasisId, Month(c.OpenedAt))).ToDictionary(g => g.Key, g => g.Count());
        var closed = all.Where(c => c.ClosedAt is not null).GroupBy(c => (c.LegalBasisId, Month(c.ClosedAt!.Value))).ToDictionary(g => g.Key, g => g.Count());
        return opened.Keys.Union(closed.Keys)
            .OrderBy(k => k.Item1).ThenBy(k => k.Item2, StringComparer.Ordinal)
            .Select(k => new CaseCount(k.Item1, k.Item2, opened.GetValueOrDefault(k), closed.GetValueOrDefault(k)))
            .ToList();
    }

    /// <summary>Logs a refused act on the register and throws <see cref="PolicyRefusedException"/> (403).</summary>
    internal async Task RefuseAsync(string actor, string? number, long? basisId, string act, string reason, CancellationToken cancellationToken)
    {
        await AppendRefusalAsync(actor, number, basisId, act, reason, cancellationToken);
        throw new PolicyRefusedException(reason);
    }

    private Task<long> AppendRefusalAsync(string actor, string? number, long? basisId, string act, string reason, CancellationToken cancellationToken) =>
        audit.AppendAsync(
            new AuditRecord(actor, CaseActions.Refusal, reason, basisId, IsWellFormed(number) ? number : null, new Dictionary<string, string> { ["act"] = act }),
            cancellationToken);

    private static string Month(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    private List<Case> Query(string where, object? parameters)
    {
        var now = time.GetUtcNow();
        using var connection = database.Connect();
        return Query(connection, null, where, parameters, now);
    }

    private static List<Case> Query(DbConnection connection, DbTransaction? transaction, string where, object? parameters, DateTimeOffset now) =>
        connection.Query<Row>($"SELECT * FROM cases {where}", parameters, transaction).Select(r => r.ToModel(now)).ToList();

    [GeneratedRegex(NumberFormat, RegexOptions.CultureInvariant)]
    private static partial Regex NumberPattern();

    private sealed class Row
    {
        public long Id { get; set; }
        public string Number { get; set; } = "";
        public long LegalBasisId { get; set; }
        public string Offence { get; set; } = "";
        public string CameraIds { get; set; } = "[]";
        public string FromAt { get; set; } = "";
        public string UntilAt { get; set; } = "";
        public string ExpiresAt { get; set; } = "";
        public string OpenedBy { get; set; } = "";
        public string OpenedAt { get; set; } = "";
        public string? ClosedBy { get; set; }
        public string? ClosedAt { get; set; }
        public string? CloseReason { get; set; }

        public Case ToModel(DateTimeOffset now)
        {
            var expires = Timestamps.Parse(ExpiresAt);
            return new Case(
                Id,
                Number,
                LegalBasisId,
                Offence,
                JsonSerializer.Deserialize<long[]>(CameraIds)!,
                Timestamps.Parse(FromAt),
                Timestamps.Parse(UntilAt),
                expires,
                ClosedAt is not null ? CaseStatus.Closed : now >= expires ? CaseStatus.Expired : CaseStatus.Open,
                OpenedBy,
                Timestamps.Parse(OpenedAt),
                ClosedBy,
                ClosedAt is null ? null : Timestamps.Parse(ClosedAt),
                CloseReason);
        }
    }
}
