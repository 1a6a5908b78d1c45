using System.Globalization;
using CityWatch.Audit;
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
        using (var connection = store.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
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
        using (var connection = store.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            connection.Execute("DELETE FROM role_grants WHERE id = @grantId", new { grantId }, transaction);
            if (grant.Status != GrantStatus.Rejected)
            {
                store.RecordChange(connection, transaction, grant.Role, grant.Status == GrantStatus.Pending ? RoleChangeKind.Withdrawn : RoleChangeKind.Removed);
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

    private async Task<RoleGrant> DecideAsync(long grantId, Caller approver, bool approve, CancellationToken cancellationToken)
    {
        (long AccountId, long? GrantedById) row;
        using (var connection = store.Database.Open())
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
        using (var connection = store.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            var changed = connection.Execute(
                "UPDATE role_grants SET status = @status, decided_by = @by, decided_at = @at WHERE id = @grantId AND status = 'Pending'",
                new { status = (approve ? GrantStatus.Active : GrantStatus.Rejected).ToString(), by = approver.Name, at = Data.Timestamps.Format(time.GetUtcNow()), grantId },
                transaction);
            if (changed == 0)
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

    private static Dictionary<string, string> Params(string account, Role role, long grant) =>
        new() { ["account"] = account, ["role"] = role.ToString(), ["grant"] = grant.ToString(CultureInfo.InvariantCulture) };
}
