using System.Security.Cryptography;
using System.Text;
using System.Diagnostics;
using CityWatch.Audit;

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
        SetupResult result;
        try
        {
            result = SetUpLocked(token, administrator, quorum ?? []);
        }
        catch (Exception e) when (e is UnauthorizedException or InvalidRequestException or ConflictException)
        {
            await audit.AppendAsync(new AuditRecord("anonymous", SetupRefused, e.Message), cancellationToken);
            throw;
        }

        await audit.AppendAsync(
            new AuditRecord(result.Administrator.Username, Setup, "bootstrap: first administrator and oversight quorum, in force without approval", Parameters: new Dictionary<string, string>
            {
                ["administrator"] = result.Administrator.Username,
                ["quorum"] = string.Join(",", (quorum ?? []).Select(m => $"{m.Username}:{m.Role}")),
            }),
            cancellationToken);
        return result;
    }

    private SetupResult SetUpLocked(string token, AccountInput administrator, IReadOnlyList<QuorumMember> quorum)
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

            using var connection = store.Database.Open();
            using var transaction = connection.BeginTransaction();
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

            transaction.Commit();
            _setupTokenHash = null;
            return new SetupResult(adminInvitation, members);
        }
    }

    public async Task<SignedIn> SignInAsync(string username, string password, string? totp, string remote, CancellationToken cancellationToken = default)
    {
        var account = string.IsNullOrWhiteSpace(username) ? null : store.FindByName(username);
        if (account is null)
        {
            PasswordHasher.Verify(password ?? "", DummyHash.Value);
            await FailAsync("unknown account", null, remote, cancellationToken);
        }
        else
        {
            var now = time.GetUtcNow();
            var (failures, lockedUntil) = store.Lockout(account.Id);
            if (lockedUntil > now)
            {
                await FailAsync($"locked until {lockedUntil:O}", account.Username, remote, cancellationToken);
            }

            var credentials = store.Credentials(account.Id);
            if (credentials.PasswordHash is null || credentials.TotpSecret is null)
            {
                PasswordHasher.Verify(password ?? "", DummyHash.Value);
                await FailAsync("invitation not accepted: no password or second factor yet", account.Username, remote, cancellationToken);
            }

            var passwordRight = PasswordHasher.Verify(password ?? "", credentials.PasswordHash!);
            var step = passwordRight ? SecondFactor.Verify(credentials.TotpSecret!, totp, now, credentials.TotpLastStep) : null;
            var wrong = !passwordRight ? "wrong password" : step is null ? (string.IsNullOrEmpty(totp) ? "no TOTP code" : "wrong or reused TOTP code") : null;
            if (wrong is not null || step is null)
            {
                failures++;
                var locks = failures >= MaxFailures;
                store.SetLockout(account.Id, locks ? 0 : failures, locks ? now + LockoutTime : null);
                await FailAsync(locks ? $"{wrong}; account locked" : wrong!, account.Username, remote, cancellationToken);
            }

            if (account.Disabled)
            {
                await FailAsync("account disabled", account.Username, remote, cancellationToken);
            }

            store.SetLockout(account.Id, 0, null);
            store.UseTotpStep(account.Id, step ?? throw new UnreachableException());
            var token = store.CreateSession(account.Id, SessionLifetime);
            await audit.AppendAsync(new AuditRecord(account.Username, SignIn, "signed in", Parameters: new Dictionary<string, string> { ["from"] = remote }), cancellationToken);
            return new SignedIn(token, now + SessionLifetime, account);
        }

        throw new UnreachableException();
    }

    private async Task FailAsync(string reason, string? knownName, string remote, CancellationToken cancellationToken)
    {
        // An unknown name is not logged at all: people type passwords into the name field.
        await audit.AppendAsync(
            new AuditRecord(knownName ?? "anonymous", SignInFailed, reason, Parameters: new Dictionary<string, string> { ["from"] = remote }),
            cancellationToken);
        throw new UnauthorizedException(reason.StartsWith("locked", StringComparison.Ordinal) || reason.EndsWith("locked", StringComparison.Ordinal)
            ? "The account is locked after too many failed sign-ins; try again later."
            : "Wrong name, password or one-time code, or the account is disabled.");
    }

    private static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
}
