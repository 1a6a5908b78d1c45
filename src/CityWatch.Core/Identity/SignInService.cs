using System.Security.Cryptography;
using System.Text;
using CityWatch.Audit;
using Dapper;

namespace CityWatch.Identity;

/// <summary>A successful sign-in: the bearer token (also set as the session cookie) and when it expires.</summary>
public sealed record SignedIn(string Token, DateTimeOffset ExpiresAt, Account Account);

/// <summary>One member of the first oversight quorum, named in the set-up request.</summary>
public sealed record QuorumMember(string Username, string PersonName, string IdentityReference, Role Role);

/// <summary>What set-up made: an invitation for the first administrator and one for each member of the first quorum.</summary>
public sealed record SetupResult(IssuedInvitation Administrator, IReadOnlyList<IssuedInvitation> Quorum);

/// <summary>
/// Sign-in (password and TOTP) with lock-out, the one-time set-up token for the first administrator and
/// the first oversight quorum, and the record of every sign-in and failed sign-in in the audit log.
/// </summary>
public sealed class SignInService(IdentityStore store, Invitations invitations, AuditTrail audit, TimeProvider time)
{
    public const int MaxFailures = 5;
    public static readonly TimeSpan LockoutTime = TimeSpan.FromMinutes(15);
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(8);

    public const string SignIn = "auth.sign_in";
    public const string SignInFailed = "auth.sign_in_failed";
    public const string Setup = "auth.setup";
    public const string SetupRefused = "auth.setup_refused";

    /// <summary>The name grants and invitations made at set-up are recorded under.</summary>
    public const string SetupActor = "setup-token";

    // A hash to verify against when the name is unknown, so that the answer takes as long either way.
    private static readonly Lazy<string> DummyHash = new(() => PasswordHasher.Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(18))));

    private readonly Lock _setupLock = new();
    private string? _setupTokenHash;

    /// <summary>
    /// When no account exists, makes the one-time set-up token (printed once by the host) with which the
    /// first administrator is created. Returns null when accounts exist: there is no default password.
    /// </summary>
    public string? IssueSetupToken()
    {
        lock (_setupLock)
        {
            if (store.AnyAccount())
            {
                return null;
            }

            var token = "cwsetup_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            _setupTokenHash = Hash(token);
            return token;
        }
    }

    /// <summary>
    /// The one bootstrap: with the set-up token, the first administrator and the first oversight quorum
    /// (at least two people, in at least two different oversight roles) are invited, and their roles are in
    /// force without approval because there is nobody yet to approve. After this every oversight or
    /// administrator grant needs a second person. All or nothing: a refused request leaves the token usable.
    /// </summary>
    public async Task<SetupResult> SetUpAsync(string token, AccountInput administrator, IReadOnlyList<QuorumMember>? quorum, CancellationToken cancellationToken = default)
    {
        (SetupResult Result, StagedRecord Staged) done;
        try
        {
            done = SetUpLocked(token, administrator, quorum ?? []);
        }
        catch (Exception e) when (e is UnauthorizedException or InvalidRequestException or ConflictException)
        {
            await audit.AppendAsync(new AuditRecord("anonymous", SetupRefused, e.Message), cancellationToken);
            throw;
        }

        await audit.CommittedAsync(done.Staged, cancellationToken);
        return done.Result;
    }

    // The accounts, grants, invitations and the set-up record in one transaction: a record the log refuses
    // (a quorum list too long for it) leaves nothing written and the token usable.
    private (SetupResult, StagedRecord) SetUpLocked(string token, AccountInput administrator, IReadOnlyList<QuorumMember> quorum)
    {
        lock (_setupLock)
        {
            if (_setupTokenHash is null || string.IsNullOrEmpty(token) || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(_setupTokenHash), Encoding.ASCII.GetBytes(Hash(token))))
            {
                throw new UnauthorizedException("The set-up token is wrong or has been used.");
            }

            if (administrator is null || quorum.Count < 2 || quorum.Any(m => !m.Role.IsOversight()) || quorum.Select(m => m.Role).Distinct().Count() < 2)
            {
                throw new InvalidRequestException(
                    "Set-up names the first administrator and the first oversight quorum: at least two people in at least two different oversight roles (Authority, DataProtectionOfficer, Verifier).");
            }

            using var connection = store.Database.Connect();
            using var transaction = store.Database.Dialect.BeginWrite(connection, [.. IdentityStore.RoleTables, "invitations"]);
            // Checked again under the accounts lock: another server of the city on the same database (PostgreSQL,
            // serve --postgres) issued its own token while there were no accounts and may have set up first.
            if (connection.ExecuteScalar<long>("SELECT COUNT(*) FROM accounts", transaction: transaction) > 0)
            {
                _setupTokenHash = null;
                throw new ConflictException("CityWatch is set up already: accounts exist (set up through another server of this city), so this set-up token is void.");
            }

            var adminId = store.InsertAccount(connection, transaction, administrator, SetupActor);
            store.InsertGrant(connection, transaction, adminId, new RoleGrantInput(Role.Administrator), SetupActor, null, GrantStatus.Active, SetupActor);
            store.RecordChange(connection, transaction, Role.Administrator, RoleChangeKind.Bootstrap);
            var adminInvitation = invitations.Issue(connection, transaction, adminId, administrator.Username, InvitationKind.Invitation, InvitationStatus.Open, SetupActor, null);
            var members = new List<IssuedInvitation>();
            foreach (var member in quorum)
            {
                var id = store.InsertAccount(connection, transaction, new AccountInput(member.Username, member.PersonName, member.IdentityReference), SetupActor);
                store.InsertGrant(connection, transaction, id, new RoleGrantInput(member.Role), SetupActor, null, GrantStatus.Active, SetupActor);
                store.RecordChange(connection, transaction, member.Role, RoleChangeKind.Bootstrap);
                members.Add(invitations.Issue(connection, transaction, id, member.Username, InvitationKind.Invitation, InvitationStatus.Open, SetupActor, null));
            }

            var staged = audit.Stage(
                connection,
                transaction,
                new AuditRecord(administrator.Username, Setup, "bootstrap: first administrator and oversight quorum, in force without approval", Parameters: new Dictionary<string, string>
                {
                    ["administrator"] = administrator.Username,
                    ["quorum"] = string.Join(",", quorum.Select(m => $"{m.Username}:{m.Role}")),
                }));
            transaction.Commit();
            _setupTokenHash = null;
            return (new SetupResult(adminInvitation, members), staged);
        }
    }

    /// <summary>
    /// Password and TOTP sign-in. Every attempt that reaches here is one record: a failure with its new
    /// failure count and lock-out in one transaction, a success with its session and used-up TOTP step in
    /// another. The records are not rate-limited themselves; the endpoint's per-address limiter (and the
    /// lock-out) bound how many attempts there are, and each request it turns away is a record too.
    /// </summary>
    public async Task<SignedIn> SignInAsync(string username, string password, string? totp, string remote, CancellationToken cancellationToken = default)
    {
        var account = string.IsNullOrWhiteSpace(username) ? null : store.FindByName(username);
        if (account is null)
        {
            PasswordHasher.Verify(password ?? "", DummyHash.Value);
            throw await FailAsync("unknown account", null, null, remote, cancellationToken);
        }

        var now = time.GetUtcNow();
        var (_, lockedUntil) = store.Lockout(account.Id);
        if (lockedUntil > now)
        {
            throw await FailAsync($"locked until {lockedUntil:O}", account, null, remote, cancellationToken);
        }

        var credentials = store.Credentials(account.Id);
        if (credentials.PasswordHash is null || credentials.TotpSecret is null)
        {
            PasswordHasher.Verify(password ?? "", DummyHash.Value);
            throw await FailAsync("invitation not accepted: no password or second factor yet", account, null, remote, cancellationToken);
        }

        var passwordRight = PasswordHasher.Verify(password ?? "", credentials.PasswordHash);
        var step = passwordRight ? SecondFactor.Verify(credentials.TotpSecret, totp, now, credentials.TotpLastStep) : null;
        if (step is null)
        {
            var wrong = !passwordRight ? "wrong password" : string.IsNullOrEmpty(totp) ? "no TOTP code" : "wrong or reused TOTP code";
            throw await FailAsync(wrong, account, (now, now + LockoutTime), remote, cancellationToken);
        }

        if (account.Disabled)
        {
            throw await FailAsync("account disabled", account, null, remote, cancellationToken);
        }

        var record = new AuditRecord(account.Username, SignIn, "signed in", Parameters: new Dictionary<string, string> { ["from"] = remote });
        var token = await store.StartSessionAsync(account.Id, step, SessionLifetime, record, audit, cancellationToken)
            ?? throw await FailAsync("TOTP code used by a concurrent sign-in, or account disabled meanwhile", account, null, remote, cancellationToken);
        return new SignedIn(token, now + SessionLifetime, account);
    }

    // The record of a failed sign-in; one that counts (lockout: a wrong password or code on a known name, its time and
    // the lock-out it may start) raises the account's failure count in the same transaction, by one in its statement,
    // so failures at once are each counted, and the one that reaches MaxFailures locks the account and says so in its record.
    // Returns the exception to throw. An unknown name is recorded as "anonymous": people type passwords into the
    // name field.
    private async Task<UnauthorizedException> FailAsync(string reason, Account? account, (DateTimeOffset Now, DateTimeOffset LockUntil)? lockout, string remote, CancellationToken cancellationToken)
    {
        var parameters = new Dictionary<string, string> { ["from"] = remote };
        var locked = await store.RecordFailureAsync(
            lockout is null ? null : account?.Id,
            MaxFailures,
            lockout,
            locks => new AuditRecord(account?.Username ?? "anonymous", SignInFailed, locks ? $"{reason}; account locked" : reason, Parameters: parameters),
            audit,
            cancellationToken);
        return new UnauthorizedException(locked || reason.StartsWith("locked", StringComparison.Ordinal)
            ? "The account is locked after too many failed sign-ins; try again later."
            : "Wrong name, password or one-time code, or the account is disabled.");
    }

    private static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
}
