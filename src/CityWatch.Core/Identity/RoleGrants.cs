using System.Data.Common;
using System.Globalization;
using CityWatch.Audit;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Identity;

/// <summary>What happened to a role, as the public history shows it.</summary>
public enum RoleChangeKind
{
    /// <summary>Given with the set-up token to the first administrator and the first oversight quorum, without approval.</summary>
    Bootstrap,

    /// <summary>Given by an administrator; in force at once (a role that needs no second person).</summary>
    Granted,

    /// <summary>Asked for by an administrator; not in force until a second person approves.</summary>
    Requested,

    Approved,
    Rejected,
    Removed,

    /// <summary>A pending grant taken back before anyone decided.</summary>
    Withdrawn,
    AccountDisabled,
    AccountEnabled,
}

/// <summary>One point of the public history: no names, the day only, and how many hold the role afterwards.</summary>
public sealed record RoleChange(DateOnly Date, Role Role, RoleChangeKind Change, int CountAfter);

/// <summary>A grant waiting for a second person.</summary>
public sealed record PendingGrant(RoleGrant Grant, string Username, string PersonName);

/// <summary>
/// Giving and taking roles. A grant of a role that <see cref="Roles.NeedsSecondPerson"/> is pending until a
/// second person approves it: someone other than the administrator who asked and other than the grantee,
/// who holds an oversight role in force. Only then does it appear in <see cref="Caller.Roles"/>. Every
/// step is logged and counted in the public history.
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>), whole. Every act runs in
/// <see cref="SqlDialect.BeginWrite"/> on <c>accounts</c> and <c>role_grants</c> (<see cref="IdentityStore.RoleTables"/>):
/// separation of duties is checked there against the account's grants as they stand when it commits (so two grants
/// at once cannot together give an account roles that exclude each other), and the count of holders it records is
/// the one it commits. A decision is a compare-and-set (<see cref="TryDecide"/>: only a pending grant, and never by
/// its grantee or the account that asked), and a removal deletes the row it names once (<see cref="TryRemove"/>).
/// </para>
/// </summary>
public sealed class RoleGrants(IdentityStore store, AuditTrail audit, TimeProvider time)
{
    public async Task<RoleGrant> GrantAsync(long accountId, RoleGrantInput input, Caller granter, CancellationToken cancellationToken = default)
    {
        if (granter.AccountId == accountId)
        {
            throw new ForbiddenException("An administrator cannot give a role to themselves.");
        }

        var account = store.Get(accountId);
        store.CheckSeparation(account, input.Role);
        var pending = input.Role.NeedsSecondPerson();
        long id;
        StagedRecord staged;
        using (var connection = store.Database.Connect())
        using (var transaction = store.Database.Dialect.BeginWrite(connection, IdentityStore.RoleTables))
        {
            store.CheckSeparation(Current(connection, transaction, account), input.Role);
            id = store.InsertGrant(connection, transaction, accountId, input, granter.Name, granter.AccountId, pending ? GrantStatus.Pending : GrantStatus.Active, null);
            store.RecordChange(connection, transaction, input.Role, pending ? RoleChangeKind.Requested : RoleChangeKind.Granted);
            staged = audit.Stage(connection, transaction, new AuditRecord(granter.Name, IdentityActions.RoleChange, pending ? "requested; awaiting a second person" : "granted", Parameters: Params(account.Username, input.Role, id)));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return store.Get(accountId).Roles.Single(r => r.Id == id);
    }

    public Task<RoleGrant> ApproveAsync(long grantId, Caller approver, CancellationToken cancellationToken = default) =>
        DecideAsync(grantId, approver, approve: true, cancellationToken);

    public Task<RoleGrant> RejectAsync(long grantId, Caller approver, CancellationToken cancellationToken = default) =>
        DecideAsync(grantId, approver, approve: false, cancellationToken);

    public async Task RemoveAsync(long accountId, long grantId, Caller actor, CancellationToken cancellationToken = default)
    {
        var account = store.Get(accountId);
        var grant = account.Roles.SingleOrDefault(r => r.Id == grantId) ?? throw new NotFoundException($"No role grant {grantId} on account {accountId}.");
        StagedRecord staged;
        using (var connection = store.Database.Connect())
        using (var transaction = store.Database.Dialect.BeginWrite(connection, IdentityStore.RoleTables))
        {
            // The status the grant had when it was deleted (it may have been decided since it was read).
            var status = TryRemove(connection, transaction, accountId, grantId) ?? throw new NotFoundException($"No role grant {grantId} on account {accountId}.");
            if (status != GrantStatus.Rejected)
            {
                store.RecordChange(connection, transaction, grant.Role, status == GrantStatus.Pending ? RoleChangeKind.Withdrawn : RoleChangeKind.Removed);
            }

            staged = audit.Stage(connection, transaction, new AuditRecord(actor.Name, IdentityActions.RoleChange, "removed", Parameters: Params(account.Username, grant.Role, grantId)));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
    }

    public IReadOnlyList<PendingGrant> Pending() =>
        store.List().SelectMany(a => a.Roles.Where(r => r.Status == GrantStatus.Pending).Select(r => new PendingGrant(r, a.Username, a.PersonName))).ToList();

    /// <summary>
    /// The second-person rule, shared by grants and password resets: the approver is signed in, is neither
    /// the one who asked nor the account concerned, and holds an oversight role now. Throws <see cref="ForbiddenException"/>
    /// (which the API records as a refusal).
    /// </summary>
    internal static void CheckSecondPerson(long subjectAccountId, long? askedById, string askedBy, Caller approver, string what)
    {
        if (approver.AccountId is not { } approverId)
        {
            throw new ForbiddenException($"A {what} is approved by a person, not a device.");
        }

        if (approverId == askedById || string.Equals(approver.Name, askedBy, StringComparison.OrdinalIgnoreCase))
        {
            throw new ForbiddenException($"Whoever asked for this {what} cannot approve it: it needs a second person.");
        }

        if (approverId == subjectAccountId)
        {
            throw new ForbiddenException($"No one approves a {what} for their own account: it needs a second person.");
        }

        if (!approver.Roles.Any(r => r.Role.IsOversight()))
        {
            throw new ForbiddenException($"Only a holder of an oversight role (Authority, DataProtectionOfficer, Verifier) approves a {what}.");
        }
    }

    /// <summary>
    /// The second-person rule's last part again, inside the deciding act's transaction: the approver still holds an
    /// oversight role in force, as the act sees the grants. <see cref="CheckSecondPerson"/> reads the roles the session
    /// had when the request began; a removal of the approver's role, or their account disabled, that commits before the
    /// decision is seen here (every identity act locks <c>accounts</c>, so none commits in between).
    /// </summary>
    internal static void CheckStillOversight(DbConnection connection, DbTransaction transaction, Caller approver, DateTimeOffset now, string what)
    {
        var account = approver.AccountId is { } id ? IdentityStore.Find(connection, transaction, "WHERE id = @id", new { id }) : null;
        if (account is null || account.Disabled || !account.Roles.Any(r => r.IsInForceAt(now) && r.Role.IsOversight()))
        {
            throw new ForbiddenException($"{approver.Name} no longer holds an oversight role in force: the {what} was not decided.");
        }
    }

    private async Task<RoleGrant> DecideAsync(long grantId, Caller approver, bool approve, CancellationToken cancellationToken)
    {
        (long AccountId, long? GrantedById) row;
        using (var connection = store.Database.Connect())
        {
            row = connection.QuerySingleOrDefault<(long AccountId, long? GrantedById)>("SELECT account_id, granted_by_id FROM role_grants WHERE id = @grantId", new { grantId });
        }

        if (row.AccountId == 0)
        {
            throw new NotFoundException($"No role grant {grantId}.");
        }

        var account = store.Get(row.AccountId);
        var grant = account.Roles.Single(r => r.Id == grantId);
        if (grant.Status != GrantStatus.Pending)
        {
            throw new ConflictException($"Role grant {grantId} is {grant.Status.ToString().ToLowerInvariant()}, not pending.");
        }

        CheckSecondPerson(account.Id, row.GrantedById, grant.GrantedBy, approver, "role grant");
        if (approve)
        {
            store.CheckSeparation(account, grant.Role, exceptGrant: grant.Id);
        }

        var parameters = Params(account.Username, grant.Role, grantId);
        parameters["asked_by"] = grant.GrantedBy;
        StagedRecord staged;
        using (var connection = store.Database.Connect())
        using (var transaction = store.Database.Dialect.BeginWrite(connection, IdentityStore.RoleTables))
        {
            CheckStillOversight(connection, transaction, approver, time.GetUtcNow(), "role grant");
            if (approve)
            {
                store.CheckSeparation(Current(connection, transaction, account), grant.Role, exceptGrant: grant.Id);
            }

            if (!TryDecide(connection, transaction, grantId, approve, approver.AccountId!.Value, approver.Name, time.GetUtcNow()))
            {
                throw new ConflictException($"Role grant {grantId} was decided meanwhile.");
            }

            store.RecordChange(connection, transaction, grant.Role, approve ? RoleChangeKind.Approved : RoleChangeKind.Rejected);
            staged = audit.Stage(connection, transaction, new AuditRecord(approver.Name, IdentityActions.RoleChange, approve ? "approved" : "rejected", Parameters: parameters));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return store.Get(account.Id).Roles.Single(r => r.Id == grantId);
    }

    /// <summary>
    /// Decides pending grant <paramref name="grantId"/> (active or rejected) in the caller's transaction on either engine,
    /// only while it is pending and only by an account other than its grantee and other than the account that asked
    /// (the second-person rule, which <see cref="CheckSecondPerson"/> checks and logs first, held in the statement too);
    /// says whether it did. Its history and record: <see cref="ApproveAsync"/>, <see cref="RejectAsync"/>.
    /// </summary>
    internal static bool TryDecide(DbConnection connection, DbTransaction transaction, long grantId, bool approve, long approverId, string approver, DateTimeOffset now) =>
        connection.Execute(
            """
            UPDATE role_grants SET status = @status, decided_by = @approver, decided_at = @at
            WHERE id = @grantId AND status = 'Pending' AND account_id <> @approverId AND (granted_by_id IS NULL OR granted_by_id <> @approverId)
            """,
            new { status = (approve ? GrantStatus.Active : GrantStatus.Rejected).ToString(), approver, at = Timestamps.Format(now), grantId, approverId },
            transaction) == 1;

    /// <summary>Deletes grant <paramref name="grantId"/> of account <paramref name="accountId"/> in the caller's transaction on either engine; the status it had, or null if there was none.</summary>
    internal static GrantStatus? TryRemove(DbConnection connection, DbTransaction transaction, long accountId, long grantId) =>
        connection.ExecuteScalar<string?>("DELETE FROM role_grants WHERE id = @grantId AND account_id = @accountId RETURNING status", new { grantId, accountId }, transaction) is { } status
            ? Enum.Parse<GrantStatus>(status)
            : null;

    // The account with its grants as the act's transaction sees them (BeginWrite: as they stand until it commits).
    private static Account Current(DbConnection connection, DbTransaction transaction, Account account) =>
        IdentityStore.Find(connection, transaction, "WHERE id = @id", new { id = account.Id }) ?? throw new NotFoundException($"No account {account.Id}.");

    private static Dictionary<string, string> Params(string account, Role role, long grant) =>
        new() { ["account"] = account, ["role"] = role.ToString(), ["grant"] = grant.ToString(CultureInfo.InvariantCulture) };
}
