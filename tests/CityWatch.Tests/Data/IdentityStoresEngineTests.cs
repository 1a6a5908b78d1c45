using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Identity;
using CityWatch.Keys;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;

namespace CityWatch.Tests.Data;

/// <summary>
/// The identity feature's stores on both engines: <see cref="SignInService"/> (set-up, sign-in, lock-out),
/// <see cref="Invitations"/> (invited, accepted and confirmed once, resets decided once by a second person),
/// <see cref="RoleGrants"/> (a grant that needs a second person decided once by someone other than who asked and
/// the grantee, separation of duties) and <see cref="IdentityStore"/> (sessions, edge keys, disabling, the public
/// counts and history), each test on an empty database opened with a KEK (the audit trail signs with a wrapped key,
/// and the identity-reference key and TOTP secrets are sealed with the account-secrets key) and migrated by
/// <see cref="CityWatchDatabase.Migrate"/>.
/// </summary>
public abstract class IdentityStoresEngineTests
{
    private const string Password = "correct horse battery staple";

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 7, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    private async Task<Stores> StoresAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return new Stores(database, Time);
    }

    /// <summary>The set-up: an administrator, and a quorum of an authority and a DPO, none accepted yet.</summary>
    private static Task<SetupResult> SetUpAsync(Stores stores) => stores.SignIn.SetUpAsync(
        stores.SignIn.IssueSetupToken()!,
        new AccountInput("admin", "Ada Admin", "A-100"),
        [new QuorumMember("judge", "Jo Judge", "J-200", Role.Authority), new QuorumMember("dpo", "Dee Officer", "D-300", Role.DataProtectionOfficer)]);

    /// <summary>Accepts an invitation (a password, then one code from the authenticator); the TOTP secret it enrolled.</summary>
    private async Task<string> AcceptAsync(Stores stores, IssuedInvitation invitation)
    {
        var enrolment = await stores.Invitations.AcceptAsync(invitation.Code, Password, "test");
        await stores.Invitations.ConfirmAsync(invitation.Code, SecondFactor.NextCode(enrolment.Secret, Time.GetUtcNow(), null), "test");
        return enrolment.Secret;
    }

    [Fact]
    public async Task Set_up_makes_the_first_administrator_and_quorum_once_and_reads_them_back_exactly()
    {
        await using var stores = await StoresAsync();
        var now = Time.GetUtcNow();
        Assert.False(stores.Identity.AnyAccount());

        var setup = await SetUpAsync(stores);

        Assert.True(stores.Identity.AnyAccount());
        Assert.Null(stores.SignIn.IssueSetupToken());
        var accounts = stores.Identity.List();
        Assert.Equal(["admin", "judge", "dpo"], accounts.Select(a => a.Username));
        var admin = accounts[0];
        Assert.Equal((setup.Administrator.AccountId, "Ada Admin", false, false, now, SignInService.SetupActor), (admin.Id, admin.PersonName, admin.Disabled, admin.Accepted, admin.CreatedAt, admin.CreatedBy));
        var grant = Assert.Single(admin.Roles);
        Assert.Equal(
            new RoleGrant(grant.Id, admin.Id, Role.Administrator, null, null, null, null, SignInService.SetupActor, now, GrantStatus.Active, SignInService.SetupActor, now),
            grant);
        Assert.Equal([Role.Authority, Role.DataProtectionOfficer], accounts.Skip(1).Select(a => Assert.Single(a.Roles).Role));
        Same(admin, stores.Identity.Get(admin.Id));
        Assert.Equal(
            [(Role.Administrator, RoleChangeKind.Bootstrap, 1), (Role.Authority, RoleChangeKind.Bootstrap, 1), (Role.DataProtectionOfficer, RoleChangeKind.Bootstrap, 1)],
            stores.Identity.History().Select(c => (c.Role, c.Change, c.CountAfter)));
        var counts = stores.Identity.CountsByRole();
        Assert.Equal((1, 1, 1, 0, 0), (counts[Role.Administrator], counts[Role.Authority], counts[Role.DataProtectionOfficer], counts[Role.Verifier], counts[Role.EdgeDevice]));
        Assert.Equal((InvitationKind.Invitation, InvitationStatus.Open, now + TimeSpan.FromHours(48)), (setup.Administrator.Kind, setup.Administrator.Status, setup.Administrator.ExpiresAt!.Value));
        Assert.Empty(stores.Invitations.AwaitingApproval());
        Assert.Single(stores.Audit.Read(0, 100, SignInService.Setup));
        await Assert.ThrowsAsync<UnauthorizedException>(() => stores.SignIn.SetUpAsync("cwsetup_again", new AccountInput("admin2", "Al Admin", "A-101"), []));
        Assert.Equal(3, stores.Identity.List().Count);
    }

    [Fact]
    public async Task Names_are_unique_ignoring_ascii_case_and_one_person_holds_one_account()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var admin = stores.CallerOf(setup.Administrator.AccountId);

        var alice = await stores.Invitations.InviteAsync(new AccountInput("alice", "Alice Adams", "X-1"), admin);
        await Assert.ThrowsAsync<ConflictException>(() => stores.Invitations.InviteAsync(new AccountInput("ALICE", "Alice Other", "X-2"), admin));
        await Assert.ThrowsAsync<ConflictException>(() => stores.Invitations.InviteAsync(new AccountInput("alice2", "Alice Adams", "x 1"), admin));
        var emile = await stores.Invitations.InviteAsync(new AccountInput("Émile", "Émile Upper", "E-1"), admin);
        var lowerEmile = await stores.Invitations.InviteAsync(new AccountInput("émile", "Émile Lower", "E-2"), admin);

        Assert.Equal(alice.AccountId, stores.Identity.FindByName("AlIcE")!.Id);
        Assert.Equal(emile.AccountId, stores.Identity.FindByName("ÉMILE")!.Id);
        Assert.Equal(lowerEmile.AccountId, stores.Identity.FindByName("éMILE")!.Id);
        Assert.Null(stores.Identity.FindByName("alice%"));
        Assert.Equal(["admin", "judge", "dpo", "alice", "Émile", "émile"], stores.Identity.List().Select(a => a.Username));
        Assert.Equal(2, stores.Audit.Read(0, 100, IdentityActions.AccountRefused).Count);
    }

    [Fact]
    public async Task An_invitation_is_accepted_and_confirmed_once_and_a_sign_in_uses_its_code_once()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var invitation = setup.Quorum[0];

        var enrolment = await stores.Invitations.AcceptAsync(invitation.Code, Password, "test");
        Assert.False(stores.Identity.Get(invitation.AccountId).Accepted);
        await Assert.ThrowsAsync<UnauthorizedException>(() => stores.Invitations.ConfirmAsync(invitation.Code, "000000", "test"));
        var confirmStep = Time.GetUtcNow().ToUnixTimeSeconds() / SecondFactor.StepSeconds - 1;
        var accepted = await stores.Invitations.ConfirmAsync(invitation.Code, SecondFactor.NextCode(enrolment.Secret, Time.GetUtcNow(), null), "test");

        Assert.True(accepted.Accepted);
        Assert.Equal(confirmStep, stores.Identity.TotpLastStep(invitation.AccountId));
        Assert.Equal(enrolment.Secret, stores.Identity.Credentials(invitation.AccountId).TotpSecret);
        await Assert.ThrowsAsync<UnauthorizedException>(() => stores.Invitations.ConfirmAsync(invitation.Code, SecondFactor.NextCode(enrolment.Secret, Time.GetUtcNow(), null), "test"));
        await Assert.ThrowsAsync<UnauthorizedException>(() => stores.Invitations.AcceptAsync(invitation.Code, Password, "test"));

        var code = SecondFactor.NextCode(enrolment.Secret, Time.GetUtcNow(), confirmStep)!;
        var signedIn = await stores.SignIn.SignInAsync("JUDGE", Password, code, "test");
        Assert.Equal(confirmStep + 1, stores.Identity.TotpLastStep(invitation.AccountId));
        var caller = stores.Identity.CallerForSession(signedIn.Token)!;
        Assert.Equal((invitation.AccountId, "judge", Role.Authority), (caller.AccountId!.Value, caller.Name, Assert.Single(caller.Roles).Role));
        await Assert.ThrowsAsync<UnauthorizedException>(() => stores.SignIn.SignInAsync("judge", Password, code, "test"));
        Assert.Equal(1, stores.Identity.Lockout(invitation.AccountId).Failures);
        using (var connection = stores.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(IdentityStore.TryStartSession(connection, transaction, invitation.AccountId, confirmStep + 1, "replayed", Time.GetUtcNow(), TimeSpan.FromHours(1)));
            Assert.False(IdentityStore.TryStartSession(connection, transaction, invitation.AccountId, confirmStep, "older", Time.GetUtcNow(), TimeSpan.FromHours(1)));
            Assert.Equal(0L, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM sessions WHERE token_hash IN ('replayed', 'older')", transaction: transaction));
        }

        stores.Identity.RevokeSession(signedIn.Token);
        Assert.Null(stores.Identity.CallerForSession(signedIn.Token));
        var logged = stores.Audit.Read(0, 100).Select(a => (a.Action, a.Outcome)).ToList();
        Assert.Contains((IdentityActions.Invitation, "accepted"), logged);
        Assert.Contains((SignInService.SignIn, "signed in"), logged);
        Assert.Contains((SignInService.SignInFailed, "wrong or reused TOTP code"), logged);
        Assert.Equal(2, logged.Count(a => a.Action == IdentityActions.InvitationRefused && a.Outcome == "invitation already used"));
    }

    [Fact]
    public async Task Wrong_confirmation_codes_each_count_and_the_fifth_voids_the_invitation()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var invitation = setup.Quorum[1];
        var enrolment = await stores.Invitations.AcceptAsync(invitation.Code, Password, "test");

        for (var i = 0; i < Invitations.MaxConfirmationFailures; i++)
        {
            await Assert.ThrowsAsync<UnauthorizedException>(() => stores.Invitations.ConfirmAsync(invitation.Code, "000000", "test"));
        }

        await Assert.ThrowsAsync<UnauthorizedException>(() => stores.Invitations.ConfirmAsync(invitation.Code, SecondFactor.NextCode(enrolment.Secret, Time.GetUtcNow(), null), "test"));
        Assert.False(stores.Identity.Get(invitation.AccountId).Accepted);
        var refused = stores.Audit.Read(0, 100, IdentityActions.InvitationRefused).Select(a => a.Outcome).ToList();
        Assert.Equal([.. Enumerable.Repeat("wrong TOTP code", 4), "wrong TOTP code; invitation void", "invitation replaced or void"], refused);
        using var connection = stores.Database.Connect();
        using var transaction = connection.BeginTransaction();
        Assert.Equal(
            ("Void", 5L),
            connection.QuerySingle<(string, long)>("SELECT status, failed_confirmations FROM invitations WHERE id = @id", new { id = invitation.Id }, transaction));
        Assert.False(Invitations.TryChoose(connection, transaction, invitation.Id, "hash", "sealed"));
        Assert.False(Invitations.CountFailedConfirmation(connection, transaction, invitation.Id, Invitations.MaxConfirmationFailures));
        Assert.False(Invitations.TryUse(connection, transaction, invitation.Id, "hash", "sealed", Time.GetUtcNow()));
        Assert.Equal(5L, connection.ExecuteScalar<long>("SELECT failed_confirmations FROM invitations WHERE id = @id", new { id = invitation.Id }, transaction));
    }

    [Fact]
    public async Task Failed_sign_ins_at_once_are_each_counted_and_the_fifth_locks_the_account_once()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var id = setup.Quorum[0].AccountId;
        var secret = await AcceptAsync(stores, setup.Quorum[0]);
        await Assert.ThrowsAsync<UnauthorizedException>(() => stores.SignIn.SignInAsync("judge", "not the password at all", "123456", "test"));
        Assert.Equal((1, (DateTimeOffset?)null), stores.Identity.Lockout(id));

        // Three more at once: each raises the stored count (a read-then-write would let them each write 2).
        var now = Time.GetUtcNow();
        var until = now + SignInService.LockoutTime;
        var locks = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => stores.Identity.RecordFailureAsync(
            id, SignInService.MaxFailures, (now, until), l => Record(l), stores.Audit, CancellationToken.None))));
        Assert.Equal([false, false, false], locks);
        Assert.Equal((4, (DateTimeOffset?)null), stores.Identity.Lockout(id));

        // Three more at once: the one that reaches five locks; the lock-out in force holds against the other two.
        locks = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => stores.Identity.RecordFailureAsync(
            id, SignInService.MaxFailures, (now, until), l => Record(l), stores.Audit, CancellationToken.None))));
        Assert.Equal(1, locks.Count(l => l));
        Assert.Equal((0, (DateTimeOffset?)until), stores.Identity.Lockout(id));
        var failed = stores.Audit.Read(0, 100, SignInService.SignInFailed).Select(a => a.Outcome).ToList();
        Assert.Equal(7, failed.Count);
        Assert.Single(failed, o => o == "wrong password; account locked");

        var refused = await Assert.ThrowsAsync<UnauthorizedException>(
            () => stores.SignIn.SignInAsync("judge", Password, SecondFactor.NextCode(secret, Time.GetUtcNow(), stores.Identity.TotpLastStep(id)), "test"));
        Assert.Contains("locked", refused.Message, StringComparison.Ordinal);

        Time.Advance(SignInService.LockoutTime + TimeSpan.FromMinutes(1));
        var signedIn = await stores.SignIn.SignInAsync("judge", Password, SecondFactor.NextCode(secret, Time.GetUtcNow(), stores.Identity.TotpLastStep(id)), "test");
        Assert.NotNull(stores.Identity.CallerForSession(signedIn.Token));
        Assert.Equal((0, (DateTimeOffset?)null), stores.Identity.Lockout(id));

        static AuditRecord Record(bool locked) =>
            new("judge", SignInService.SignInFailed, locked ? "wrong password; account locked" : "wrong password", Parameters: new Dictionary<string, string> { ["from"] = "test" });
    }

    [Fact]
    public async Task A_grant_that_needs_a_second_person_is_decided_once_and_never_by_who_asked_or_the_grantee()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var admin = stores.CallerOf(setup.Administrator.AccountId);
        var judge = stores.CallerOf(setup.Quorum[0].AccountId);
        var dpo = stores.CallerOf(setup.Quorum[1].AccountId);
        var vera = await stores.Invitations.InviteAsync(new AccountInput("vera", "Vera Verifier", "V-1"), admin);
        var now = Time.GetUtcNow();

        var pending = await stores.Grants.GrantAsync(vera.AccountId, new RoleGrantInput(Role.Verifier, CameraIds: [4, 2]), admin);

        Assert.Equal(new RoleGrant(pending.Id, vera.AccountId, Role.Verifier, null, null, null, null, "admin", now, GrantStatus.Pending), pending with { CameraIds = null });
        Assert.Equal([4L, 2L], pending.CameraIds);
        Assert.Equal([pending.Id], stores.Grants.Pending().Select(p => p.Grant.Id));
        Assert.Empty(stores.CallerOf(vera.AccountId).Roles);
        await Assert.ThrowsAsync<ForbiddenException>(() => stores.Grants.ApproveAsync(pending.Id, admin));
        await Assert.ThrowsAsync<ForbiddenException>(() => stores.Grants.ApproveAsync(pending.Id, stores.CallerOf(vera.AccountId) with { Roles = judge.Roles }));
        await Assert.ThrowsAsync<ForbiddenException>(() => stores.Grants.ApproveAsync(pending.Id, judge with { AccountId = null }));
        Assert.Equal(GrantStatus.Pending, stores.Identity.Get(vera.AccountId).Roles.Single().Status);
        using (var connection = stores.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(RoleGrants.TryDecide(connection, transaction, pending.Id, true, admin.AccountId!.Value, "admin", now));
            Assert.False(RoleGrants.TryDecide(connection, transaction, pending.Id, true, vera.AccountId, "vera", now));
        }

        Time.Advance(TimeSpan.FromHours(1));
        var approved = await stores.Grants.ApproveAsync(pending.Id, judge);
        await Assert.ThrowsAsync<ConflictException>(() => stores.Grants.ApproveAsync(pending.Id, dpo));
        await Assert.ThrowsAsync<ConflictException>(() => stores.Grants.RejectAsync(pending.Id, dpo));

        Assert.Equal((GrantStatus.Active, "judge", Time.GetUtcNow()), (approved.Status, approved.DecidedBy, approved.DecidedAt!.Value));
        Assert.Equal(Role.Verifier, Assert.Single(stores.CallerOf(vera.AccountId).Roles).Role);
        using (var connection = stores.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(RoleGrants.TryDecide(connection, transaction, pending.Id, false, dpo.AccountId!.Value, "dpo", now));
        }

        // Separation of duties: a Verifier is never also an Administrator, asked for or approved.
        await Assert.ThrowsAsync<ConflictException>(() => stores.Grants.GrantAsync(vera.AccountId, new RoleGrantInput(Role.Administrator), admin));
        var rejected = await stores.Grants.RejectAsync((await stores.Grants.GrantAsync(vera.AccountId, new RoleGrantInput(Role.Authority), admin)).Id, dpo);
        Assert.Equal((GrantStatus.Rejected, "dpo"), (rejected.Status, rejected.DecidedBy));
        var operatorGrant = await stores.Grants.GrantAsync(vera.AccountId, new RoleGrantInput(Role.Operator), admin);
        Assert.Equal(GrantStatus.Active, operatorGrant.Status);
        await stores.Grants.RemoveAsync(vera.AccountId, operatorGrant.Id, admin);
        await Assert.ThrowsAsync<NotFoundException>(() => stores.Grants.RemoveAsync(vera.AccountId, operatorGrant.Id, admin));

        Assert.Equal(
            [(Role.Verifier, RoleChangeKind.Requested, 0), (Role.Verifier, RoleChangeKind.Approved, 1), (Role.Authority, RoleChangeKind.Requested, 1),
             (Role.Authority, RoleChangeKind.Rejected, 1), (Role.Operator, RoleChangeKind.Granted, 1), (Role.Operator, RoleChangeKind.Removed, 0)],
            stores.Identity.History().Skip(3).Select(c => (c.Role, c.Change, c.CountAfter)));
        var decided = stores.Audit.Read(0, 100, IdentityActions.RoleChange).Select(a => (a.Actor, a.Outcome)).ToList();
        Assert.Equal(
            [("admin", "requested; awaiting a second person"), ("judge", "approved"), ("admin", "requested; awaiting a second person"), ("dpo", "rejected"), ("admin", "granted"), ("admin", "removed")],
            decided);
    }

    [Fact]
    public async Task An_approver_disabled_after_their_request_began_decides_nothing()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var admin = stores.CallerOf(setup.Administrator.AccountId);
        var judge = stores.CallerOf(setup.Quorum[0].AccountId);
        var dpo = stores.CallerOf(setup.Quorum[1].AccountId);
        var vera = await stores.Invitations.InviteAsync(new AccountInput("vera", "Vera Verifier", "V-1"), admin);
        var pending = await stores.Grants.GrantAsync(vera.AccountId, new RoleGrantInput(Role.Verifier), admin);

        // The judge's request read their roles (judge); their account is disabled before the decision commits.
        await stores.Identity.SetDisabledAsync(setup.Quorum[0].AccountId, true, "admin", stores.Audit);

        var refused = await Assert.ThrowsAsync<ForbiddenException>(() => stores.Grants.ApproveAsync(pending.Id, judge));
        Assert.Contains("no longer holds an oversight role", refused.Message, StringComparison.Ordinal);
        Assert.Equal(GrantStatus.Pending, stores.Identity.Get(vera.AccountId).Roles.Single(r => r.Id == pending.Id).Status);
        Assert.Empty(stores.CallerOf(vera.AccountId).Roles);
        await Assert.ThrowsAsync<ForbiddenException>(() => stores.Grants.RejectAsync(pending.Id, judge));

        // The other overseer, still in force, decides it.
        Assert.Equal(GrantStatus.Active, (await stores.Grants.ApproveAsync(pending.Id, dpo)).Status);
    }

    [Fact]
    public async Task Grants_at_once_cannot_together_break_separation_of_duties_and_approvals_at_once_approve_once()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var admin = stores.CallerOf(setup.Administrator.AccountId);
        var judge = stores.CallerOf(setup.Quorum[0].AccountId);
        var dpo = stores.CallerOf(setup.Quorum[1].AccountId);
        var vera = (await stores.Invitations.InviteAsync(new AccountInput("vera", "Vera Verifier", "V-1"), admin)).AccountId;

        // Administrator and Verifier exclude each other; asked for at once, both pass the check made before the
        // transaction, and only the check in it (BeginWrite: on the grants as they stand) lets just one through.
        var granted = await Task.WhenAll(new[] { Role.Administrator, Role.Verifier }.Select(role => Task.Run(async () =>
        {
            try
            {
                await stores.Grants.GrantAsync(vera, new RoleGrantInput(role), admin);
                return true;
            }
            catch (ConflictException)
            {
                return false;
            }
        })));
        Assert.Equal(1, granted.Count(g => g));
        var grant = Assert.Single(stores.Identity.Get(vera).Roles);
        Assert.Equal(GrantStatus.Pending, grant.Status);

        var approved = await Task.WhenAll(new[] { judge, dpo }.Select(approver => Task.Run(async () =>
        {
            try
            {
                await stores.Grants.ApproveAsync(grant.Id, approver);
                return true;
            }
            catch (ConflictException)
            {
                return false;
            }
        })));
        Assert.Equal(1, approved.Count(a => a));
        Assert.Equal(GrantStatus.Active, Assert.Single(stores.Identity.Get(vera).Roles).Status);
        Assert.Single(stores.Audit.Read(0, 100, IdentityActions.RoleChange), a => a.Outcome == "approved");
        var before = grant.Role == Role.Administrator ? 1 : 0; // the first administrator holds it already
        Assert.Equal(
            [(grant.Role, RoleChangeKind.Requested, before), (grant.Role, RoleChangeKind.Approved, before + 1)],
            stores.Identity.History().Skip(3).Select(c => (c.Role, c.Change, c.CountAfter)));
    }

    [Fact]
    public async Task A_reset_of_an_oversight_account_waits_for_a_second_person_and_is_decided_once()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var admin = stores.CallerOf(setup.Administrator.AccountId);
        var dpo = stores.CallerOf(setup.Quorum[1].AccountId);
        var judgeId = setup.Quorum[0].AccountId;
        await AcceptAsync(stores, setup.Quorum[0]);
        var judge = stores.CallerOf(judgeId);
        await Assert.ThrowsAsync<ForbiddenException>(() => stores.Invitations.ResetAsync(admin.AccountId!.Value, admin));

        var reset = await stores.Invitations.ResetAsync(judgeId, admin);

        Assert.Equal((InvitationStatus.AwaitingApproval, (DateTimeOffset?)null, InvitationKind.Reset), (reset.Status, reset.ExpiresAt, reset.Kind));
        Assert.NotNull(stores.Identity.Credentials(judgeId).PasswordHash);
        Assert.Equal([reset.Id], stores.Invitations.AwaitingApproval().Select(v => v.Id));
        await Assert.ThrowsAsync<UnauthorizedException>(() => stores.Invitations.AcceptAsync(reset.Code, Password, "test"));
        await Assert.ThrowsAsync<ForbiddenException>(() => stores.Invitations.ApproveAsync(reset.Id, admin with { Roles = dpo.Roles }));
        await Assert.ThrowsAsync<ForbiddenException>(() => stores.Invitations.ApproveAsync(reset.Id, judge));
        using (var connection = stores.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(Invitations.TryDecide(connection, transaction, reset.Id, true, admin.AccountId!.Value, "admin", Time.GetUtcNow(), Time.GetUtcNow().AddHours(1)));
            Assert.False(Invitations.TryDecide(connection, transaction, reset.Id, true, judgeId, "judge", Time.GetUtcNow(), Time.GetUtcNow().AddHours(1)));
        }

        var approved = await stores.Invitations.ApproveAsync(reset.Id, dpo);
        await Assert.ThrowsAsync<ConflictException>(() => stores.Invitations.RejectAsync(reset.Id, dpo));

        Assert.Equal((InvitationStatus.Open, "dpo", Time.GetUtcNow() + TimeSpan.FromHours(48)), (approved.Status, approved.DecidedBy, approved.ExpiresAt!.Value));
        Assert.Equal(new Credentials(null, null, null), stores.Identity.Credentials(judgeId));
        Assert.False(stores.Identity.Get(judgeId).Accepted);
        await AcceptAsync(stores, reset);
        Assert.True(stores.Identity.Get(judgeId).Accepted);
        var logged = stores.Audit.Read(0, 100, IdentityActions.Invitation).Select(a => (a.Actor, a.Outcome)).ToList();
        Assert.Contains(("admin", "reset requested; awaiting a second person"), logged);
        Assert.Contains(("dpo", "reset approved: password and second factor cleared"), logged);
    }

    [Fact]
    public async Task Edge_keys_and_disabling_are_recorded_once_and_end_what_they_should()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var judgeId = setup.Quorum[0].AccountId;
        var secret = await AcceptAsync(stores, setup.Quorum[0]);
        var signedIn = await stores.SignIn.SignInAsync("judge", Password, SecondFactor.NextCode(secret, Time.GetUtcNow(), stores.Identity.TotpLastStep(judgeId)), "test");

        var created = await stores.Identity.CreateKeyAsync(new ApiKeyInput("gate-7", [7, 3]), "admin", stores.Audit);
        Assert.Equal(new ApiKey(created.Key.Id, "gate-7", created.Key.CameraIds, Time.GetUtcNow(), "admin", null), created.Key);
        Assert.Equal([7L, 3L], created.Key.CameraIds);
        Assert.Equal($"edge-key:{created.Key.Id}:gate-7", stores.Identity.CallerForKey(created.Secret)!.Name);
        Assert.Equal(1, stores.Identity.CountsByRole()[Role.EdgeDevice]);
        var revoked = await stores.Identity.RevokeKeyAsync(created.Key.Id, "admin", stores.Audit);
        await Assert.ThrowsAsync<NotFoundException>(() => stores.Identity.RevokeKeyAsync(created.Key.Id, "admin", stores.Audit));
        Assert.Equal(Time.GetUtcNow(), revoked.RevokedAt);
        Assert.Null(stores.Identity.CallerForKey(created.Secret));
        Assert.Equal(0, stores.Identity.CountsByRole()[Role.EdgeDevice]);

        var disabled = await stores.Identity.SetDisabledAsync(judgeId, true, "admin", stores.Audit);
        var again = await stores.Identity.SetDisabledAsync(judgeId, true, "admin", stores.Audit);
        Assert.True(disabled.Disabled);
        Same(disabled, again);
        Assert.Null(stores.Identity.CallerForSession(signedIn.Token));
        Assert.Equal(0, stores.Identity.CountsByRole()[Role.Authority]);
        await Assert.ThrowsAsync<UnauthorizedException>(
            () => stores.SignIn.SignInAsync("judge", Password, SecondFactor.NextCode(secret, Time.GetUtcNow(), stores.Identity.TotpLastStep(judgeId)), "test"));
        var enabled = await stores.Identity.SetDisabledAsync(judgeId, false, "admin", stores.Audit);
        Assert.False(enabled.Disabled);
        Assert.Equal(
            [(Role.Authority, RoleChangeKind.AccountDisabled, 0), (Role.Authority, RoleChangeKind.AccountEnabled, 1)],
            stores.Identity.History().Skip(3).Select(c => (c.Role, c.Change, c.CountAfter)));
        Assert.Equal(["disabled", "enabled"], stores.Audit.Read(0, 100, IdentityActions.AccountChange).Select(a => a.Outcome).Where(o => o is "disabled" or "enabled"));
        Assert.Equal((1, 1), (stores.Audit.Read(0, 100, IdentityActions.KeyCreate).Count, stores.Audit.Read(0, 100, IdentityActions.KeyRevoke).Count));
    }

    [Fact]
    public async Task Migrating_again_changes_nothing()
    {
        await using var stores = await StoresAsync();
        var setup = await SetUpAsync(stores);
        var accounts = stores.Identity.List();
        var versions = stores.Database.SchemaVersions();

        stores.Database.Migrate(Time);

        Assert.Equal(versions, stores.Database.SchemaVersions());
        Assert.Equal(1, versions["identity"]);
        var again = stores.Identity.List();
        Assert.Equal(accounts.Count, again.Count);
        foreach (var (before, after) in accounts.Zip(again))
        {
            Same(before, after);
        }

        Assert.Equal(setup.Administrator.AccountId, stores.Identity.FindByName("Admin")!.Id);
    }

    /// <summary>Two reads of an account are the same: every field, and every grant with its scope lists element by element.</summary>
    private static void Same(Account expected, Account actual)
    {
        Assert.Equal(expected with { Roles = Array.Empty<RoleGrant>() }, actual with { Roles = Array.Empty<RoleGrant>() });
        Assert.Equal(expected.Roles.Select(Flat), actual.Roles.Select(Flat));

        static (RoleGrant Grant, string Sites, string Cameras) Flat(RoleGrant g) =>
            (g with { SiteIds = null, CameraIds = null }, g.SiteIds is null ? "all" : string.Join(",", g.SiteIds), g.CameraIds is null ? "all" : string.Join(",", g.CameraIds));
    }

    /// <summary>The identity stores over one database and its audit trail.</summary>
    private sealed class Stores : IAsyncDisposable
    {
        private readonly TimeProvider _time;

        public Stores(CityWatchDatabase database, TimeProvider time)
        {
            _time = time;
            Database = database;
            Audit = new AuditTrail(database, time);
            Identity = new IdentityStore(database, time);
            Invitations = new Invitations(Identity, Audit, time, new IdentityOptions());
            Grants = new RoleGrants(Identity, Audit, time);
            SignIn = new SignInService(Identity, Invitations, Audit, time);
        }

        public CityWatchDatabase Database { get; }

        public AuditTrail Audit { get; }

        public IdentityStore Identity { get; }

        public Invitations Invitations { get; }

        public RoleGrants Grants { get; }

        public SignInService SignIn { get; }

        /// <summary>The account as a signed-in caller, with its roles in force now.</summary>
        public Caller CallerOf(long accountId)
        {
            var account = Identity.Get(accountId);
            return new Caller(account.Id, account.Username, account.Roles.Where(r => r.IsInForceAt(_time.GetUtcNow())).ToList(), null);
        }

        public ValueTask DisposeAsync() => Audit.DisposeAsync();
    }
}

public sealed class IdentityStoresOnSqliteTests : IdentityStoresEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class IdentityStoresOnPostgresTests(PostgresFixture postgres) : IdentityStoresEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    [Fact]
    public async Task The_identity_tables_have_identity_ids_boolean_flags_64_bit_counts_a_bytea_key_and_a_unique_folded_name()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);

        using var connection = database.Connect();
        var types = connection.Query<(string Table, string Column, string Type, string? Identity)>(
            """
            SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns
            WHERE table_name IN ('accounts', 'identity_salt', 'invitations', 'role_grants', 'role_changes', 'sessions', 'api_keys')
                AND column_name IN ('id', 'account_id', 'disabled', 'failed_sign_ins', 'totp_last_step', 'salt', 'failed_confirmations', 'issued_by_id', 'granted_by_id', 'count_after', 'revoked')
            ORDER BY table_name, column_name
            """);
        Assert.Equal(
            [
                ("accounts", "disabled", "boolean", "NO"), ("accounts", "failed_sign_ins", "bigint", "NO"), ("accounts", "id", "bigint", "YES"), ("accounts", "totp_last_step", "bigint", "NO"),
                ("api_keys", "id", "bigint", "YES"),
                ("identity_salt", "id", "integer", "NO"), ("identity_salt", "salt", "bytea", "NO"),
                ("invitations", "account_id", "bigint", "NO"), ("invitations", "failed_confirmations", "bigint", "NO"), ("invitations", "id", "bigint", "YES"), ("invitations", "issued_by_id", "bigint", "NO"),
                ("role_changes", "count_after", "bigint", "NO"), ("role_changes", "id", "bigint", "YES"),
                ("role_grants", "account_id", "bigint", "NO"), ("role_grants", "granted_by_id", "bigint", "NO"), ("role_grants", "id", "bigint", "YES"),
                ("sessions", "account_id", "bigint", "NO"), ("sessions", "revoked", "boolean", "NO"),
            ],
            types);
        var index = connection.QuerySingle<string>("SELECT indexdef FROM pg_catalog.pg_indexes WHERE tablename = 'accounts' AND indexname = 'accounts_username'");
        Assert.Contains("CREATE UNIQUE INDEX accounts_username ON public.accounts USING btree (translate(username,", index, StringComparison.Ordinal);
        Assert.Equal(
            ["invitations_account_id_fkey", "role_grants_account_id_fkey", "sessions_account_id_fkey"],
            connection.Query<string>("SELECT conname FROM pg_catalog.pg_constraint WHERE contype = 'f' AND confrelid = 'accounts'::regclass ORDER BY conname"));
    }

    public void Dispose() => _databases.Dispose();
}
