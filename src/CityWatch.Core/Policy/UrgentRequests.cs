using System.Data.Common;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Policy;

/// <summary>Where a request for urgent use stands: waiting for the authority, answered, lapsed or withdrawn.</summary>
public enum UrgentRequestOutcome
{
    Pending,
    Authorised,
    Refused,
    Lapsed,
    Withdrawn,
}

/// <summary>
/// The request that urgent use files with the authority (AI Act 5(3)): which basis, which authority, who
/// filed it and when, by when it must be answered, and the answer.
/// </summary>
public sealed record UrgentRequest(
    long Id,
    long LegalBasisId,
    string Title,
    string Authority,
    string FiledBy,
    DateTimeOffset FiledAt,
    DateTimeOffset Deadline,
    UrgentRequestOutcome Outcome,
    string? AnsweredBy,
    DateTimeOffset? AnsweredAt);

/// <summary>What the public sees of urgent use: counts only.</summary>
public sealed record UrgentRequestCounts(int Filed, int Answered, int Authorised, int Refused, int Lapsed, int Withdrawn, int Pending);

/// <summary>
/// The register of urgent-use requests. A request is filed in the transaction that registers an urgent
/// basis and answered in the transaction of the authority's authorisation or refusal, of the lapse at the
/// deadline, or of a revocation before any answer (withdrawn), so the register and the log never disagree.
/// A request past its deadline with no answer yet reads as lapsed. On both engines: the reads open
/// <see cref="CityWatchDatabase.Connect"/>, filing and answering run in the caller's transaction.
/// </summary>
public sealed class UrgentRequestRegister(CityWatchDatabase database, TimeProvider time)
{
    public IReadOnlyList<UrgentRequest> List()
    {
        using var connection = database.Connect();
        return Read(connection, null, time.GetUtcNow());
    }

    public UrgentRequestCounts Counts() => Counts(List());

    /// <summary>Every request as <paramref name="transaction"/> sees it, in id order, its outcome as at <paramref name="now"/> (either engine).</summary>
    internal static IReadOnlyList<UrgentRequest> Read(DbConnection connection, DbTransaction? transaction, DateTimeOffset now) =>
        connection.Query<Row>(
            """
            SELECT r.id, r.legal_basis_id, b.title, r.authority, r.filed_by, r.filed_at, r.deadline, r.outcome, r.answered_by, r.answered_at
            FROM urgent_requests r JOIN legal_bases b ON b.id = r.legal_basis_id ORDER BY r.id
            """,
            transaction: transaction).Select(r => r.ToModel(now)).ToList();

    /// <summary>The public counts of <paramref name="all"/>: filed, answered (authorised or refused), and each outcome.</summary>
    internal static UrgentRequestCounts Counts(IReadOnlyList<UrgentRequest> all)
    {
        int Count(UrgentRequestOutcome outcome) => all.Count(r => r.Outcome == outcome);
        return new UrgentRequestCounts(
            all.Count,
            Count(UrgentRequestOutcome.Authorised) + Count(UrgentRequestOutcome.Refused),
            Count(UrgentRequestOutcome.Authorised),
            Count(UrgentRequestOutcome.Refused),
            Count(UrgentRequestOutcome.Lapsed),
            Count(UrgentRequestOutcome.Withdrawn),
            Count(UrgentRequestOutcome.Pending));
    }

    /// <summary>Files the request of urgent basis <paramref name="legalBasisId"/> in the caller's transaction (either engine).</summary>
    internal static void File(DbConnection connection, DbTransaction transaction, long legalBasisId, string authority, string actor, DateTimeOffset now, DateTimeOffset deadline) =>
        connection.Execute(
            "INSERT INTO urgent_requests (legal_basis_id, authority, filed_by, filed_at, deadline) VALUES (@legalBasisId, @authority, @actor, @now, @deadline)",
            new { legalBasisId, authority, actor, now = Timestamps.Format(now), deadline = Timestamps.Format(deadline) },
            transaction);

    /// <summary>
    /// Answers the request of a basis, if it has one still unanswered (in the caller's transaction, either engine);
    /// says whether it did. A basis without a request, or one answered already, is left as it is.
    /// </summary>
    internal static bool Answer(DbConnection connection, DbTransaction transaction, long legalBasisId, UrgentRequestOutcome outcome, string actor, DateTimeOffset now) =>
        connection.Execute(
            "UPDATE urgent_requests SET outcome = @outcome, answered_by = @actor, answered_at = @now WHERE legal_basis_id = @legalBasisId AND outcome IS NULL",
            new { legalBasisId, outcome = outcome.ToString(), actor, now = Timestamps.Format(now) },
            transaction) == 1;

    private sealed class Row
    {
        public long Id { get; set; }
        public long LegalBasisId { get; set; }
        public string Title { get; set; } = "";
        public string Authority { get; set; } = "";
        public string FiledBy { get; set; } = "";
        public string FiledAt { get; set; } = "";
        public string Deadline { get; set; } = "";
        public string? Outcome { get; set; }
        public string? AnsweredBy { get; set; }
        public string? AnsweredAt { get; set; }

        public UrgentRequest ToModel(DateTimeOffset now)
        {
            var deadline = Timestamps.Parse(Deadline);
            var outcome = Outcome is null
                ? now >= deadline ? UrgentRequestOutcome.Lapsed : UrgentRequestOutcome.Pending
                : Enum.Parse<UrgentRequestOutcome>(Outcome);
            return new UrgentRequest(
                Id, LegalBasisId, Title, Authority, FiledBy, Timestamps.Parse(FiledAt), deadline, outcome, AnsweredBy,
                AnsweredAt is null ? null : Timestamps.Parse(AnsweredAt));
        }
    }
}
