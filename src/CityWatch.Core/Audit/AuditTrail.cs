using System.Text.Json;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Audit;

/// <summary>
/// The one writer through which every biometric and governance act is recorded.
/// </summary>
public sealed class AuditTrail(CityWatchDatabase database, TimeProvider time)
{
    /// <summary>Appends the record durably and returns its index in the log.</summary>
    public Task<long> AppendAsync(AuditRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        cancellationToken.ThrowIfCancellationRequested();
        using var connection = database.Open();
        var index = connection.ExecuteScalar<long>(
            """
            INSERT INTO audit_events (at, actor, action, outcome, legal_basis_id, case_id, body)
            VALUES (@at, @actor, @action, @outcome, @basis, @caseId, @body) RETURNING id - 1
            """,
            new
            {
                at = Timestamps.Format(time.GetUtcNow()),
                actor = record.Actor,
                action = record.Action,
                outcome = record.Outcome,
                basis = record.LegalBasisId,
                caseId = record.CaseId,
                body = JsonSerializer.Serialize(record),
            });
        return Task.FromResult(index);
    }

    /// <summary>The recorded acts, oldest first, for the API and the tests.</summary>
    public IReadOnlyList<LoggedAct> Read(long start, int count, string? action = null)
    {
        using var connection = database.Open();
        return connection.Query<LoggedAct>(
            """
            SELECT id - 1 AS "Index", at AS At, actor AS Actor, action AS Action, outcome AS Outcome,
                   legal_basis_id AS LegalBasisId, case_id AS CaseId, body AS Body
            FROM audit_events WHERE id > @start AND (@action IS NULL OR action = @action)
            ORDER BY id LIMIT @count
            """,
            new { start, count, action }).AsList();
    }
}

public sealed record LoggedAct(long Index, string At, string Actor, string Action, string Outcome, long? LegalBasisId, string? CaseId, string Body);
