using System.Security.Cryptography;
using System.Text;
using System.Diagnostics;
using CityWatch.Audit;

namespace CityWatch.Identity;

/// <summary>A successful sign-in: the bearer token (also set as the session cookie) and when it expires.</summary>
public sealed record SignedIn(string Token, DateTimeOffset ExpiresAt, Account Account);

/// <summary>
/// Sign-in with lock-out, the one-time set-up token for the first administrator, and the record of
/// every sign-in and failed sign-in in the audit log.
/// </summary>
public sealed class SignInService(IdentityStore store, AuditTrail audit, TimeProvider time)
{
    public const int MaxFailures = 5;
    public static readonly TimeSpan LockoutTime = TimeSpan.FromMinutes(15);
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(8);

    public const string SignIn = "auth.sign_in";
    public const string SignInFailed = "auth.sign_in_failed";
    public const string Setup = "auth.setup";

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

    public async Task<Account> SetUpAsync(string token, AccountInput input, CancellationToken cancellationToken = default)
    {
        Account account;
        lock (_setupLock)
        {
            if (_setupTokenHash is null || string.IsNullOrEmpty(token) || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(_setupTokenHash), Encoding.ASCII.GetBytes(Hash(token))))
            {
                throw new UnauthorizedException("The set-up token is wrong or has been used.");
            }

            _setupTokenHash = null;
            account = store.CreateAccount(input, "setup-token");
            store.AddRole(account.Id, new RoleGrantInput(Role.Administrator), "setup-token");
        }

        await audit.AppendAsync(new AuditRecord(account.Username, Setup, "first administrator created"), cancellationToken);
        return store.Get(account.Id);
    }

    public async Task<SignedIn> SignInAsync(string username, string password, string remote, CancellationToken cancellationToken = default)
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

            if (!PasswordHasher.Verify(password ?? "", store.PasswordHash(account.Id)!))
            {
                failures++;
                var locks = failures >= MaxFailures;
                store.SetLockout(account.Id, locks ? 0 : failures, locks ? now + LockoutTime : null);
                await FailAsync(locks ? "wrong password; account locked" : "wrong password", account.Username, remote, cancellationToken);
            }

            if (account.Disabled)
            {
                await FailAsync("account disabled", account.Username, remote, cancellationToken);
            }

            store.SetLockout(account.Id, 0, null);
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
            : "Wrong name or password, or the account is disabled.");
    }

    private static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
}
