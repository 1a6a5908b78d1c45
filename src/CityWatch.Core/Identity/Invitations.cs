using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using CityWatch.Audit;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Identity;

/// <summary>How identity works in this deployment.</summary>
public sealed record IdentityOptions
{
    /// <summary>How long an invitation code can be used once it is open.</summary>
    public TimeSpan InvitationLifetime { get; init; } = TimeSpan.FromHours(48);
}

public enum InvitationKind
{
    /// <summary>A new account's first password and second factor.</summary>
    Invitation,

    /// <summary>A new password and second factor for an account that had them (the old ones are cleared).</summary>
    Reset,
}

public enum InvitationStatus
{
    /// <summary>A reset of an account holding an oversight or administrator role, waiting for a second person.</summary>
    AwaitingApproval,
    Open,
    Used,
    Rejected,

    /// <summary>Replaced by a newer invitation, or voided after too many wrong confirmation codes.</summary>
    Void,
}

/// <summary>An invitation as an administrator receives it: the only time its code is shown (only its hash is stored).</summary>
public sealed record IssuedInvitation(long Id, long AccountId, string Username, InvitationKind Kind, InvitationStatus Status, string Code, DateTimeOffset? ExpiresAt);

/// <summary>An invitation without its code, as approvers see it.</summary>
public sealed record InvitationView(long Id, long AccountId, string Username, InvitationKind Kind, InvitationStatus Status, string IssuedBy, DateTimeOffset IssuedAt, DateTimeOffset? ExpiresAt, string? DecidedBy);

/// <summary>
/// Invitations instead of passwords: an administrator never knows another person's password. Creating
/// an account makes a one-time code (random, stored hashed, expiring, single use); its holder sets their
/// own password and enrols TOTP, which they must confirm with one valid code. Resetting an account that
/// holds an oversight or administrator role would let an administrator take it over, so it waits for the
/// same second person as a grant of such a role. Every step and every refusal is logged.
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>), whole, each act with its record staged in its
/// transaction. Issuing a code (inviting, re-issuing, resetting, and set-up) runs in <see cref="SqlDialect.BeginWrite"/>
/// on <c>invitations</c>, so an account never holds two usable codes, and a reset on <c>accounts</c> and
/// <c>role_grants</c> too: whether it waits for a second person is decided on the grants as they stand when it commits.
/// Deciding a reset and using a code up, which write the invitation and then the account, run in <c>BeginWrite</c> on
/// <c>accounts</c> and <c>invitations</c> too, so that every identity act takes its tables in one order (accounts first).
/// Every change is also guarded in its statement and says by its row count whether it happened: a decision only on
/// a reset awaiting approval and never by the account reset or the one who asked (<see cref="TryDecide"/>), a password
/// chosen only on an open invitation (<see cref="TryChoose"/>), a wrong confirmation code counted by one in its
/// statement (<see cref="CountFailedConfirmation"/>) and the code used up once, with the password and second factor it
/// was accepted with (<see cref="TryUse"/>).
/// </para>
/// </summary>
public sealed class Invitations(IdentityStore store, AuditTrail audit, TimeProvider time, IdentityOptions options)
{
    /// <summary>
    /// The tables an act that writes an invitation and then the account locks, in the order every identity act takes them
    /// (accounts first, as <see cref="IdentityStore.RoleTables"/>): on PostgreSQL such an act taking <c>invitations</c> first
    /// could wait for a reset that holds <c>accounts</c> and waits for it in turn.
    /// </summary>
    private static readonly string[] LockOrder = ["accounts", "invitations"];

    /// <summary>Wrong confirmation codes after which the invitation is void (a new one must be issued).</summary>
    public const int MaxConfirmationFailures = 5;

    public async Task<IssuedInvitation> InviteAsync(AccountInput input, Caller admin, CancellationToken cancellationToken = default)
    {
        IssuedInvitation issued;
        StagedRecord staged;
        try
        {
            using var connection = store.Database.Connect();
            using var transaction = store.Database.Dialect.BeginWrite(connection, LockOrder);
            var accountId = store.InsertAccount(connection, transaction, input, admin.Name);
            issued = Issue(connection, transaction, accountId, input.Username, InvitationKind.Invitation, InvitationStatus.Open, admin.Name, admin.AccountId);
            staged = audit.Stage(connection, transaction, new AuditRecord(admin.Name, IdentityActions.AccountChange, "invited", Parameters: Params(("account", issued.Username), ("invitation", Invariant(issued.Id)))));
            transaction.Commit();
        }
        catch (ConflictException e)
        {
            await audit.AppendAsync(new AuditRecord(admin.Name, IdentityActions.AccountRefused, e.Message, Parameters: Params(("account", input.Username))), cancellationToken);
            throw;
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return issued;
    }

    /// <summary>A new code for an account that never accepted; the old code stops working. Never for one that has a password.</summary>
    public async Task<IssuedInvitation> ReissueAsync(long accountId, Caller admin, CancellationToken cancellationToken = default)
    {
        const string reason = "The account has a password: an invitation is re-issued only to an account that never accepted (reset it instead).";
        var account = store.Get(accountId);
        if (account.Accepted)
        {
            throw await ReissueRefusedAsync(account, admin, reason, cancellationToken);
        }

        IssuedInvitation? issued = null;
        StagedRecord? staged = null;
        using (var connection = store.Database.Connect())
        using (var transaction = store.Database.Dialect.BeginWrite(connection, LockOrder))
        {
            // Accepted meanwhile (BeginWrite: no acceptance commits between this check and the new code).
            if (IdentityStore.Find(connection, transaction, "WHERE id = @accountId", new { accountId }) is { Accepted: false })
            {
                issued = Issue(connection, transaction, accountId, account.Username, InvitationKind.Invitation, InvitationStatus.Open, admin.Name, admin.AccountId);
                staged = audit.Stage(connection, transaction, new AuditRecord(admin.Name, IdentityActions.Invitation, "re-issued", Parameters: Params(("account", account.Username), ("invitation", Invariant(issued.Id)))));
                transaction.Commit();
            }
        }

        if (issued is null || staged is null)
        {
            throw await ReissueRefusedAsync(account, admin, reason, cancellationToken);
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return issued;
    }

    private async Task<ConflictException> ReissueRefusedAsync(Account account, Caller admin, string reason, CancellationToken cancellationToken)
    {
        await audit.AppendAsync(new AuditRecord(admin.Name, IdentityActions.InvitationRefused, reason, Parameters: Params(("account", account.Username))), cancellationToken);
        return new ConflictException(reason);
    }

    /// <summary>
    /// A reset: a new invitation that clears the old password and second factor and ends the account's
    /// sessions. For an account holding (or awaiting) a role that needs a second person, nothing is
    /// cleared and the code does not work until an oversight holder approves.
    /// </summary>
    public async Task<IssuedInvitation> ResetAsync(long accountId, Caller admin, CancellationToken cancellationToken = default)
    {
        if (admin.AccountId == accountId)
        {
            throw new ForbiddenException("An administrator cannot reset their own account: another administrator must.");
        }

        var account = store.Get(accountId);
        if (!account.Accepted)
        {
            throw new ConflictException("The account never accepted its invitation: re-issue the invitation instead.");
        }

        IssuedInvitation issued;
        StagedRecord staged;
        using (var connection = store.Database.Connect())
        using (var transaction = store.Database.Dialect.BeginWrite(connection, [.. IdentityStore.RoleTables, "invitations"]))
        {
            // The grants as they stand until this commits: a role that needs a second person, asked for meanwhile, holds the reset too.
            var current = IdentityStore.Find(connection, transaction, "WHERE id = @accountId", new { accountId }) ?? throw new NotFoundException($"No account {accountId}.");
            var guarded = current.Roles.Any(r => r.Status != GrantStatus.Rejected && r.Role.NeedsSecondPerson());
            if (!guarded)
            {
                ClearCredentials(connection, transaction, accountId);
            }

            issued = Issue(connection, transaction, accountId, account.Username, InvitationKind.Reset, guarded ? InvitationStatus.AwaitingApproval : InvitationStatus.Open, admin.Name, admin.AccountId);
            staged = audit.Stage(
                connection,
                transaction,
                new AuditRecord(admin.Name, IdentityActions.Invitation, guarded ? "reset requested; awaiting a second person" : "reset: password and second factor cleared", Parameters: Params(("account", account.Username), ("invitation", Invariant(issued.Id)))));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return issued;
    }

    public IReadOnlyList<InvitationView> AwaitingApproval() => Views("WHERE i.status = 'AwaitingApproval'", new { });

    public Task<InvitationView> ApproveAsync(long invitationId, Caller approver, CancellationToken cancellationToken = default) =>
        DecideAsync(invitationId, approver, approve: true, cancellationToken);

    public Task<InvitationView> RejectAsync(long invitationId, Caller approver, CancellationToken cancellationToken = default) =>
        DecideAsync(invitationId, approver, approve: false, cancellationToken);

    /// <summary>
    /// The holder of the code chooses a password; the server makes the TOTP secret and shows it once. Nothing
    /// takes effect until <see cref="ConfirmAsync"/> proves the authenticator works.
    /// </summary>
    public async Task<TotpEnrolment> AcceptAsync(string? code, string? password, string remote, CancellationToken cancellationToken = default)
    {
        var invitation = await UsableAsync(code, remote, cancellationToken);
        PasswordHasher.CheckStrength(password);
        var enrolment = SecondFactor.NewEnrolment(invitation.Username);
        var hash = PasswordHasher.Hash(password!);
        StagedRecord staged;
        using (var connection = store.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (!TryChoose(connection, transaction, invitation.Id, hash, store.SealTotp(connection, transaction, enrolment.Secret, IdentityStore.InvitationBinding(invitation.Id))))
            {
                throw new ConflictException("The invitation was used or replaced meanwhile.");
            }

            staged = audit.Stage(connection, transaction, new AuditRecord(invitation.Username, IdentityActions.Invitation, "password chosen; second factor to confirm", Parameters: Params(("invitation", Invariant(invitation.Id)), ("from", remote))));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return enrolment;
    }

    /// <summary>One valid TOTP code finishes accepting: the password and second factor take effect and the code is used up.</summary>
    public async Task<Account> ConfirmAsync(string? code, string? totp, string remote, CancellationToken cancellationToken = default)
    {
        var invitation = await UsableAsync(code, remote, cancellationToken);
        if (invitation.PendingTotpSecret is null || invitation.PendingPasswordHash is null)
        {
            throw new InvalidRequestException("Accept the invitation with a password first; then confirm a code from the authenticator.");
        }

        var pendingSecret = store.OpenTotp(invitation.PendingTotpSecret, IdentityStore.InvitationBinding(invitation.Id));
        var step = SecondFactor.Verify(pendingSecret, totp, time.GetUtcNow(), null);
        if (step is null)
        {
            string reason;
            StagedRecord refused;
            using (var connection = store.Database.Connect())
            using (var transaction = connection.BeginTransaction())
            {
                reason = CountFailedConfirmation(connection, transaction, invitation.Id, MaxConfirmationFailures) ? "wrong TOTP code; invitation void" : "wrong TOTP code";
                refused = audit.Stage(connection, transaction, new AuditRecord(invitation.Username, IdentityActions.InvitationRefused, reason, Parameters: Params(("from", remote), ("invitation", Invariant(invitation.Id)))));
                transaction.Commit();
            }

            await audit.CommittedAsync(refused, cancellationToken);
            throw new UnauthorizedException($"The invitation code cannot be used: {reason}.");
        }

        StagedRecord staged;
        using (var connection = store.Database.Connect())
        using (var transaction = store.Database.Dialect.BeginWrite(connection, LockOrder))
        {
            if (!TryUse(connection, transaction, invitation.Id, invitation.PendingPasswordHash, invitation.PendingTotpSecret, time.GetUtcNow()))
            {
                throw new ConflictException("The invitation was used or replaced meanwhile.");
            }

            connection.Execute(
                "UPDATE accounts SET password_hash = @hash, totp_secret = @secret, totp_last_step = @step, failed_sign_ins = 0, locked_until = NULL WHERE id = @accountId",
                new { hash = invitation.PendingPasswordHash, secret = store.SealTotp(connection, transaction, pendingSecret, IdentityStore.AccountBinding(invitation.AccountId)), step, accountId = invitation.AccountId },
                transaction);
            staged = audit.Stage(connection, transaction, new AuditRecord(invitation.Username, IdentityActions.Invitation, "accepted", Parameters: Params(("invitation", Invariant(invitation.Id)), ("from", remote))));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return store.Get(invitation.AccountId);
    }

    /// <summary>Makes a code (voiding any other open or awaiting invitation of the account) inside the caller's transaction.</summary>
    internal IssuedInvitation Issue(DbConnection connection, DbTransaction transaction, long accountId, string username, InvitationKind kind, InvitationStatus status, string issuedBy, long? issuedById)
    {
        var code = "cwi_" + IdentityStore.Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = time.GetUtcNow();
        DateTimeOffset? expires = status == InvitationStatus.Open ? now + options.InvitationLifetime : null;
        connection.Execute("UPDATE invitations SET status = 'Void' WHERE account_id = @accountId AND status IN ('Open', 'AwaitingApproval')", new { accountId }, transaction);
        var id = connection.ExecuteScalar<long>(
            """
            INSERT INTO invitations (account_id, code_hash, kind, status, issued_by, issued_by_id, issued_at, expires_at)
            VALUES (@accountId, @hash, @kind, @status, @issuedBy, @issuedById, @now, @expires) RETURNING id
            """,
            new
            {
                accountId,
                hash = IdentityStore.HashSecret(code),
                kind = kind.ToString(),
                status = status.ToString(),
                issuedBy,
                issuedById,
                now = Timestamps.Format(now),
                expires = expires is { } e ? Timestamps.Format(e) : null,
            },
            transaction);
        return new IssuedInvitation(id, accountId, username, kind, status, code, expires);
    }

    private async Task<InvitationView> DecideAsync(long invitationId, Caller approver, bool approve, CancellationToken cancellationToken)
    {
        var view = Views("WHERE i.id = @invitationId", new { invitationId }).SingleOrDefault() ?? throw new NotFoundException($"No invitation {invitationId}.");
        if (view.Status != InvitationStatus.AwaitingApproval)
        {
            throw new ConflictException($"Invitation {invitationId} is not awaiting approval.");
        }

        long? issuedById;
        using (var connection = store.Database.Connect())
        {
            issuedById = connection.ExecuteScalar<long?>("SELECT issued_by_id FROM invitations WHERE id = @invitationId", new { invitationId });
        }

        RoleGrants.CheckSecondPerson(view.AccountId, issuedById, view.IssuedBy, approver, "password reset");
        var now = time.GetUtcNow();
        StagedRecord staged;
        using (var connection = store.Database.Connect())
        using (var transaction = store.Database.Dialect.BeginWrite(connection, LockOrder))
        {
            RoleGrants.CheckStillOversight(connection, transaction, approver, now, "password reset");
            if (!TryDecide(connection, transaction, invitationId, approve, approver.AccountId!.Value, approver.Name, now, approve ? now + options.InvitationLifetime : null))
            {
                throw new ConflictException($"Invitation {invitationId} was decided meanwhile.");
            }

            if (approve)
            {
                ClearCredentials(connection, transaction, view.AccountId);
            }

            staged = audit.Stage(
                connection,
                transaction,
                new AuditRecord(approver.Name, IdentityActions.Invitation, approve ? "reset approved: password and second factor cleared" : "reset rejected", Parameters: Params(("account", view.Username), ("invitation", Invariant(invitationId)), ("asked_by", view.IssuedBy))));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Views("WHERE i.id = @invitationId", new { invitationId }).Single();
    }

    /// <summary>
    /// Decides reset <paramref name="invitationId"/> (its code opens until <paramref name="expires"/>, or it is rejected) in
    /// the caller's transaction on either engine, only while it awaits approval and only by an account other than the
    /// one reset and other than the one that asked (the second-person rule, which <see cref="RoleGrants.CheckSecondPerson"/>
    /// checks and logs first, held in the statement too); says whether it did. Clearing the credentials and the record:
    /// <see cref="ApproveAsync"/>, <see cref="RejectAsync"/>.
    /// </summary>
    internal static bool TryDecide(
        DbConnection connection, DbTransaction transaction, long invitationId, bool approve, long approverId, string approver, DateTimeOffset now, DateTimeOffset? expires) =>
        connection.Execute(
            """
            UPDATE invitations SET status = @status, decided_by = @approver, decided_at = @now, expires_at = @expires
            WHERE id = @invitationId AND status = 'AwaitingApproval' AND account_id <> @approverId AND (issued_by_id IS NULL OR issued_by_id <> @approverId)
            """,
            new
            {
                status = (approve ? InvitationStatus.Open : InvitationStatus.Rejected).ToString(),
                approver,
                now = Timestamps.Format(now),
                expires = expires is { } e ? Timestamps.Format(e) : null,
                invitationId,
                approverId,
            },
            transaction) == 1;

    /// <summary>
    /// The password (as <paramref name="passwordHash"/>) and the sealed TOTP secret its holder chose, pending, on open
    /// invitation <paramref name="id"/>, its wrong-code count started again, in the caller's transaction on either engine;
    /// says whether it was still open.
    /// </summary>
    internal static bool TryChoose(DbConnection connection, DbTransaction transaction, long id, string passwordHash, string sealedTotp) =>
        connection.Execute(
            "UPDATE invitations SET pending_password_hash = @passwordHash, pending_totp_secret = @sealedTotp, failed_confirmations = 0 WHERE id = @id AND status = 'Open'",
            new { id, passwordHash, sealedTotp },
            transaction) == 1;

    /// <summary>
    /// One more wrong confirmation code on open invitation <paramref name="id"/>, in the caller's transaction on either
    /// engine, counted by one in its statement (two at once are two); the one that reaches <paramref name="maxFailures"/>
    /// voids it. One no longer open (used, replaced or void meanwhile) is left as it is. Says whether this code voided it.
    /// </summary>
    internal static bool CountFailedConfirmation(DbConnection connection, DbTransaction transaction, long id, int maxFailures) =>
        connection.QuerySingleOrDefault<(long Failures, string Status)?>(
            """
            UPDATE invitations SET failed_confirmations = failed_confirmations + 1,
                status = CASE WHEN failed_confirmations + 1 >= @maxFailures THEN 'Void' ELSE status END
            WHERE id = @id AND status = 'Open'
            RETURNING failed_confirmations, status
            """,
            new { id, maxFailures },
            transaction) is { } row && row.Failures >= maxFailures && row.Status == nameof(InvitationStatus.Void);

    /// <summary>
    /// Uses up open invitation <paramref name="id"/> at <paramref name="now"/> in the caller's transaction on either engine,
    /// only while it still holds the password and sealed secret that were confirmed (an accept meanwhile replaces them);
    /// says whether it did. Setting the account's credentials and the record: <see cref="ConfirmAsync"/>.
    /// </summary>
    internal static bool TryUse(DbConnection connection, DbTransaction transaction, long id, string pendingPasswordHash, string pendingTotpSecret, DateTimeOffset now) =>
        connection.Execute(
            """
            UPDATE invitations SET status = 'Used', used_at = @now, pending_password_hash = NULL, pending_totp_secret = NULL
            WHERE id = @id AND status = 'Open' AND pending_password_hash = @pendingPasswordHash AND pending_totp_secret = @pendingTotpSecret
            """,
            new { id, pendingPasswordHash, pendingTotpSecret, now = Timestamps.Format(now) },
            transaction) == 1;

    private static void ClearCredentials(DbConnection connection, DbTransaction transaction, long accountId)
    {
        connection.Execute(
            "UPDATE accounts SET password_hash = NULL, totp_secret = NULL, totp_last_step = NULL, failed_sign_ins = 0, locked_until = NULL WHERE id = @accountId",
            new { accountId },
            transaction);
        connection.Execute("UPDATE sessions SET revoked = TRUE WHERE account_id = @accountId", new { accountId }, transaction);
    }

    // Read by property (Dapper converts SQLite's 0/1 and PostgreSQL's BOOLEAN alike), not by constructor, whose types must match the engine's exactly.
    private sealed class Usable
    {
        public long Id { get; set; }

        public long AccountId { get; set; }

        public string Username { get; set; } = "";

        public string Status { get; set; } = "";

        public string? ExpiresAt { get; set; }

        public string? PendingPasswordHash { get; set; }

        public string? PendingTotpSecret { get; set; }

        public bool Disabled { get; set; }
    }

    /// <summary>The open, unexpired invitation behind a code, on an enabled account; anything else is refused and logged.</summary>
    private async Task<Usable> UsableAsync(string? code, string remote, CancellationToken cancellationToken)
    {
        Usable? row = null;
        if (!string.IsNullOrEmpty(code))
        {
            using var connection = store.Database.Connect();
            row = connection.QuerySingleOrDefault<Usable>(
                """
                SELECT i.id AS Id, i.account_id AS AccountId, a.username AS Username, i.status AS Status, i.expires_at AS ExpiresAt,
                       i.pending_password_hash AS PendingPasswordHash, i.pending_totp_secret AS PendingTotpSecret,
                       a.disabled AS Disabled
                FROM invitations i JOIN accounts a ON a.id = i.account_id WHERE i.code_hash = @hash
                """,
                new { hash = IdentityStore.HashSecret(code) });
        }

        if (row is null)
        {
            throw await RefusalAsync(null, "unknown invitation code", null, remote, cancellationToken);
        }

        var status = Enum.Parse<InvitationStatus>(row.Status);
        if (status != InvitationStatus.Open)
        {
            throw await RefusalAsync(row.Username, status switch
            {
                InvitationStatus.Used => "invitation already used",
                InvitationStatus.AwaitingApproval => "reset not approved yet",
                InvitationStatus.Rejected => "reset rejected",
                InvitationStatus.Void => "invitation replaced or void",
                InvitationStatus.Open => "open",
                _ => "not usable",
            }, row.Id, remote, cancellationToken);
        }

        if (row.ExpiresAt is null || Timestamps.Parse(row.ExpiresAt) <= time.GetUtcNow())
        {
            throw await RefusalAsync(row.Username, "invitation expired", row.Id, remote, cancellationToken);
        }

        if (row.Disabled)
        {
            throw await RefusalAsync(row.Username, "account disabled", row.Id, remote, cancellationToken);
        }

        return row;
    }

    /// <summary>Logs a refused use of an invitation and returns the exception to throw (401: the code is a credential).</summary>
    private async Task<UnauthorizedException> RefusalAsync(string? username, string reason, long? invitationId, string remote, CancellationToken cancellationToken)
    {
        var parameters = Params(("from", remote));
        if (invitationId is { } id)
        {
            parameters["invitation"] = Invariant(id);
        }

        await audit.AppendAsync(new AuditRecord(username ?? "anonymous", IdentityActions.InvitationRefused, reason, Parameters: parameters), cancellationToken);
        return new UnauthorizedException($"The invitation code cannot be used: {reason}.");
    }

    private IReadOnlyList<InvitationView> Views(string where, object parameters)
    {
        using var connection = store.Database.Connect();
        return connection.Query<(long Id, long AccountId, string Username, string Kind, string Status, string IssuedBy, string IssuedAt, string? ExpiresAt, string? DecidedBy)>(
            $"SELECT i.id, i.account_id, a.username, i.kind, i.status, i.issued_by, i.issued_at, i.expires_at, i.decided_by FROM invitations i JOIN accounts a ON a.id = i.account_id {where} ORDER BY i.id",
            parameters)
            .Select(r => new InvitationView(
                r.Id, r.AccountId, r.Username, Enum.Parse<InvitationKind>(r.Kind), Enum.Parse<InvitationStatus>(r.Status), r.IssuedBy, Timestamps.Parse(r.IssuedAt),
                r.ExpiresAt is null ? null : Timestamps.Parse(r.ExpiresAt), r.DecidedBy))
            .ToList();
    }

    private static Dictionary<string, string> Params(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
