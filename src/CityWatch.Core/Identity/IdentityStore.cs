using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CityWatch.Data;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Identity;

/// <summary>An authenticated caller: a signed-in account with its roles now in force, or an edge key.</summary>
public sealed record Caller(long? AccountId, string Name, IReadOnlyList<RoleGrant> Roles, ApiKey? Key)
{
    public bool Has(Role role) => Roles.Any(r => r.Role == role);

    /// <summary>The cameras the caller may act on in <paramref name="role"/>, or null for all of them.</summary>
    public IReadOnlySet<long>? CameraScope(Role role, Func<long, IReadOnlyList<long>> camerasOfSite)
    {
        var grants = Roles.Where(r => r.Role == role).ToList();
        if (grants.Count == 0)
        {
            return new HashSet<long>();
        }

        if (grants.Any(g => g.CameraIds is null && g.SiteIds is null))
        {
            return null;
        }

        var cameras = new HashSet<long>();
        foreach (var grant in grants)
        {
            cameras.UnionWith(grant.CameraIds ?? []);
            foreach (var site in grant.SiteIds ?? [])
            {
                cameras.UnionWith(camerasOfSite(site));
            }
        }

        return cameras;
    }
}

/// <summary>The credentials an account holder signs in with; null until they accept their invitation.</summary>
internal sealed record Credentials(string? PasswordHash, string? TotpSecret, long? TotpLastStep);

/// <summary>
/// Accounts, their roles, sign-in sessions and edge keys in SQLite. Secrets are stored only as hashes.
/// Who may change what (invitations, grants that need a second person) is decided by
/// <see cref="Invitations"/> and <see cref="RoleGrants"/>; this class holds the rows and the rules that
/// hold whoever asks (separation of duties, one account per person).
/// </summary>
public sealed class IdentityStore
{
    private readonly CityWatchDatabase _database;
    private readonly TimeProvider _time;

    public IdentityStore(CityWatchDatabase database, TimeProvider time)
    {
        _database = database;
        _time = time;
    }

    internal CityWatchDatabase Database => _database;

    public bool AnyAccount()
    {
        using var connection = _database.Open();
        return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM accounts") > 0;
    }

    /// <summary>Inserts an account with no password (the person sets it by accepting an invitation).</summary>
    internal long InsertAccount(SqliteConnection connection, SqliteTransaction transaction, AccountInput input, string actor)
    {
        if (string.IsNullOrWhiteSpace(input.Username) || input.Username.Length > 64 || input.Username.Any(char.IsWhiteSpace))
        {
            throw new InvalidRequestException("A username is 1 to 64 characters with no spaces.");
        }

        if (string.IsNullOrWhiteSpace(input.PersonName) || input.PersonName.Length > 200)
        {
            throw new InvalidRequestException("An account names the natural person who holds it: personName is 1 to 200 characters.");
        }

        var identity = IdentityReferences.Hash(connection, transaction, input.IdentityReference);
        if (connection.ExecuteScalar<string?>("SELECT username FROM accounts WHERE identity_hash = @identity", new { identity }, transaction) is { } existing)
        {
            throw new ConflictException($"This person already has an account ('{existing}'): one natural person holds at most one account.");
        }

        try
        {
            return connection.ExecuteScalar<long>(
                "INSERT INTO accounts (username, person_name, identity_hash, created_at, created_by) VALUES (@u, @p, @identity, @now, @actor) RETURNING id",
                new { u = input.Username, p = input.PersonName.Trim(), identity, now = Timestamps.Format(_time.GetUtcNow()), actor },
                transaction);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new ConflictException($"An account named '{input.Username}' already exists.");
        }
    }

    public Account Get(long id) => Find("WHERE id = @id", new { id }) ?? throw new NotFoundException($"No account {id}.");

    public Account? FindByName(string username) => Find("WHERE username = @username", new { username });

    public IReadOnlyList<Account> List()
    {
        using var connection = _database.Open();
        return connection.Query<long>("SELECT id FROM accounts ORDER BY id").Select(Get).ToList();
    }

    /// <summary>Disables or enables an account (a disabled one's sessions end at once); the public history records the counts.</summary>
    public void SetDisabled(long id, bool disabled)
    {
        var now = _time.GetUtcNow();
        var roles = Get(id).Roles.Where(r => r.IsInForceAt(now)).Select(r => r.Role).Distinct().ToList();
        using var connection = _database.Open();
        using var transaction = connection.BeginTransaction();
        if (connection.Execute("UPDATE accounts SET disabled = @disabled WHERE id = @id AND disabled <> @disabled", new { id, disabled }, transaction) == 0)
        {
            return;
        }

        if (disabled)
        {
            connection.Execute("UPDATE sessions SET revoked = 1 WHERE account_id = @id", new { id }, transaction);
        }

        foreach (var role in roles)
        {
            RecordChange(connection, transaction, role, disabled ? RoleChangeKind.AccountDisabled : RoleChangeKind.AccountEnabled);
        }

        transaction.Commit();
    }

    /// <summary>
    /// Separation of duties over what the account holds or has pending: Administrator never together with
    /// Verifier or Authority. Throws <see cref="ConflictException"/>.
    /// </summary>
    internal void CheckSeparation(Account account, Role adding, long? exceptGrant = null)
    {
        var now = _time.GetUtcNow();
        var held = account.Roles
            .Where(r => r.Id != exceptGrant && r.Status != GrantStatus.Rejected && (r.IsValidAt(now) || r.ValidFrom > now))
            .Select(r => r.Role).ToHashSet();
        if (Conflicts(held, adding) is { } conflict)
        {
            throw new ConflictException($"Separation of duties: an account with the {conflict} role may not also hold {adding}.");
        }
    }

    internal long InsertGrant(SqliteConnection connection, SqliteTransaction transaction, long accountId, RoleGrantInput input, string actor, long? actorId, GrantStatus status, string? decidedBy)
    {
        if (input.Role == Role.EdgeDevice)
        {
            throw new InvalidRequestException("Edge devices use API keys, not accounts.");
        }

        if (input.ValidFrom is { } from && input.ValidUntil is { } until && until <= from)
        {
            throw new InvalidRequestException("validUntil must be after validFrom.");
        }

        var now = Timestamps.Format(_time.GetUtcNow());
        return connection.ExecuteScalar<long>(
            """
            INSERT INTO role_grants (account_id, role, site_ids, camera_ids, valid_from, valid_until, granted_by, granted_by_id, granted_at, status, decided_by, decided_at)
            VALUES (@accountId, @role, @sites, @cameras, @from, @until, @actor, @actorId, @now, @status, @decidedBy, @decidedAt) RETURNING id
            """,
            new
            {
                accountId,
                role = input.Role.ToString(),
                sites = input.SiteIds is null ? null : JsonSerializer.Serialize(input.SiteIds),
                cameras = input.CameraIds is null ? null : JsonSerializer.Serialize(input.CameraIds),
                from = input.ValidFrom is { } f ? Timestamps.Format(f) : null,
                until = input.ValidUntil is { } u ? Timestamps.Format(u) : null,
                actor,
                actorId,
                now,
                status = status.ToString(),
                decidedBy,
                decidedAt = decidedBy is null ? null : now,
            },
            transaction);
    }

    /// <summary>Appends one point of the public history: a change to a role and how many hold it afterwards (no names).</summary>
    internal void RecordChange(SqliteConnection connection, SqliteTransaction transaction, Role role, RoleChangeKind change)
    {
        var now = Timestamps.Format(_time.GetUtcNow());
        var holders = connection.ExecuteScalar<int>(
            """
            SELECT COUNT(DISTINCT g.account_id) FROM role_grants g JOIN accounts a ON a.id = g.account_id
            WHERE g.role = @role AND g.status = 'Active' AND a.disabled = 0
              AND (g.valid_from IS NULL OR g.valid_from <= @now) AND (g.valid_until IS NULL OR g.valid_until > @now)
            """,
            new { role = role.ToString(), now },
            transaction);
        connection.Execute(
            "INSERT INTO role_changes (at, role, change, count_after) VALUES (@now, @role, @change, @holders)",
            new { now, role = role.ToString(), change = change.ToString(), holders },
            transaction);
    }

    /// <summary>Every change to who holds which role, oldest first: the day, the role, what happened, the count after. No names.</summary>
    public IReadOnlyList<RoleChange> History()
    {
        using var connection = _database.Open();
        return connection.Query<(string At, string Role, string Change, long CountAfter)>("SELECT at, role, change, count_after FROM role_changes ORDER BY id")
            .Select(r => new RoleChange(DateOnly.FromDateTime(Timestamps.Parse(r.At).UtcDateTime), Enum.Parse<Role>(r.Role), Enum.Parse<RoleChangeKind>(r.Change), (int)r.CountAfter))
            .ToList();
    }

    /// <summary>How many enabled accounts hold each role now: the public count, no names.</summary>
    public IReadOnlyDictionary<Role, int> CountsByRole()
    {
        var now = _time.GetUtcNow();
        var counts = Enum.GetValues<Role>().ToDictionary(r => r, _ => 0);
        foreach (var account in List().Where(a => !a.Disabled))
        {
            foreach (var role in account.Roles.Where(r => r.IsInForceAt(now)).Select(r => r.Role).Distinct())
            {
                counts[role]++;
            }
        }

        using var connection = _database.Open();
        counts[Role.EdgeDevice] = connection.ExecuteScalar<int>("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL");
        return counts;
    }

    internal Credentials Credentials(long accountId)
    {
        using var connection = _database.Open();
        return connection.QuerySingleOrDefault<Credentials>(
            "SELECT password_hash AS PasswordHash, totp_secret AS TotpSecret, totp_last_step AS TotpLastStep FROM accounts WHERE id = @accountId", new { accountId })
            ?? throw new NotFoundException($"No account {accountId}.");
    }

    /// <summary>Remembers the time step of the code just used, so that it cannot be used again.</summary>
    internal void UseTotpStep(long accountId, long step)
    {
        using var connection = _database.Open();
        connection.Execute("UPDATE accounts SET totp_last_step = @step WHERE id = @accountId", new { accountId, step });
    }

    internal (int Failures, DateTimeOffset? LockedUntil) Lockout(long accountId)
    {
        using var connection = _database.Open();
        var row = connection.QuerySingle<(long Failures, string? LockedUntil)>("SELECT failed_sign_ins, locked_until FROM accounts WHERE id = @accountId", new { accountId });
        return ((int)row.Failures, row.LockedUntil is null ? null : Timestamps.Parse(row.LockedUntil));
    }

    internal void SetLockout(long accountId, int failures, DateTimeOffset? lockedUntil)
    {
        using var connection = _database.Open();
        connection.Execute(
            "UPDATE accounts SET failed_sign_ins = @failures, locked_until = @until WHERE id = @accountId",
            new { accountId, failures, until = lockedUntil is { } u ? Timestamps.Format(u) : null });
    }

    /// <summary>Starts a session and returns its bearer token; only the token's hash is stored.</summary>
    internal string CreateSession(long accountId, TimeSpan lifetime)
    {
        var token = "cws_" + Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = _time.GetUtcNow();
        using var connection = _database.Open();
        connection.Execute(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES (@hash, @accountId, @now, @expires)",
            new { hash = HashSecret(token), accountId, now = Timestamps.Format(now), expires = Timestamps.Format(now + lifetime) });
        return token;
    }

    public void RevokeSession(string token)
    {
        using var connection = _database.Open();
        connection.Execute("UPDATE sessions SET revoked = 1 WHERE token_hash = @hash", new { hash = HashSecret(token) });
    }

    /// <summary>The caller behind a session token, if the session is live and the account enabled; else null.</summary>
    public Caller? CallerForSession(string token)
    {
        using var connection = _database.Open();
        var row = connection.QuerySingleOrDefault<(long AccountId, string ExpiresAt, long Revoked)>(
            "SELECT account_id, expires_at, revoked FROM sessions WHERE token_hash = @hash", new { hash = HashSecret(token) });
        var now = _time.GetUtcNow();
        if (row.AccountId == 0 || row.Revoked != 0 || Timestamps.Parse(row.ExpiresAt) <= now)
        {
            return null;
        }

        var account = Get(row.AccountId);
        return account.Disabled ? null : new Caller(account.Id, account.Username, account.Roles.Where(r => r.IsInForceAt(now)).ToList(), null);
    }

    public CreatedApiKey CreateKey(ApiKeyInput input, string actor)
    {
        if (string.IsNullOrWhiteSpace(input.Name) || input.CameraIds is null || input.CameraIds.Count == 0)
        {
            throw new InvalidRequestException("An edge key needs a name and the cameras it may report for.");
        }

        var secret = "cwk_" + Base64Url(RandomNumberGenerator.GetBytes(32));
        using var connection = _database.Open();
        var id = connection.ExecuteScalar<long>(
            "INSERT INTO api_keys (name, secret_hash, camera_ids, created_at, created_by) VALUES (@Name, @hash, @cameras, @now, @actor) RETURNING id",
            new { input.Name, hash = HashSecret(secret), cameras = JsonSerializer.Serialize(input.CameraIds), now = Timestamps.Format(_time.GetUtcNow()), actor });
        return new CreatedApiKey(Keys().Single(k => k.Id == id), secret);
    }

    public ApiKey RevokeKey(long id)
    {
        using var connection = _database.Open();
        if (connection.Execute("UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL", new { id, now = Timestamps.Format(_time.GetUtcNow()) }) == 0)
        {
            throw new NotFoundException($"No live edge key {id}.");
        }

        return Keys().Single(k => k.Id == id);
    }

    public IReadOnlyList<ApiKey> Keys()
    {
        using var connection = _database.Open();
        return connection.Query<(long Id, string Name, string CameraIds, string CreatedAt, string CreatedBy, string? RevokedAt)>(
            "SELECT id, name, camera_ids, created_at, created_by, revoked_at FROM api_keys ORDER BY id")
            .Select(r => new ApiKey(r.Id, r.Name, JsonSerializer.Deserialize<long[]>(r.CameraIds)!, Timestamps.Parse(r.CreatedAt), r.CreatedBy, r.RevokedAt is null ? null : Timestamps.Parse(r.RevokedAt)))
            .ToList();
    }

    /// <summary>The caller behind an edge key, if the key exists and is not revoked; else null.</summary>
    public Caller? CallerForKey(string secret)
    {
        using var connection = _database.Open();
        var id = connection.ExecuteScalar<long?>("SELECT id FROM api_keys WHERE secret_hash = @hash AND revoked_at IS NULL", new { hash = HashSecret(secret) });
        if (id is null)
        {
            return null;
        }

        var key = Keys().Single(k => k.Id == id);
        var grant = new RoleGrant(0, 0, Role.EdgeDevice, null, key.CameraIds, null, null, key.CreatedBy, key.CreatedAt);
        return new Caller(null, $"edge-key:{key.Id}:{key.Name}", [grant], key);
    }

    private static Role? Conflicts(HashSet<Role> held, Role adding)
    {
        Role[] exclusive = [Role.Verifier, Role.Authority];
        if (adding == Role.Administrator)
        {
            return held.Where(exclusive.Contains).Cast<Role?>().FirstOrDefault();
        }

        return exclusive.Contains(adding) && held.Contains(Role.Administrator) ? Role.Administrator : null;
    }

    // Session tokens and edge keys are 256-bit random secrets, so one SHA-256 is enough to store them:
    // there is nothing to brute-force. Passwords, which people choose, get Argon2id instead.
    internal static string HashSecret(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    internal static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private Account? Find(string where, object parameters)
    {
        using var connection = _database.Open();
        var row = connection.QuerySingleOrDefault<(long Id, string Username, string PersonName, long Disabled, long Accepted, string CreatedAt, string CreatedBy)>(
            $"SELECT id, username, person_name, disabled, password_hash IS NOT NULL AND totp_secret IS NOT NULL, created_at, created_by FROM accounts {where}", parameters);
        if (row.Id == 0)
        {
            return null;
        }

        var roles = connection.Query<(long Id, long AccountId, string Role, string? SiteIds, string? CameraIds, string? ValidFrom, string? ValidUntil, string GrantedBy, string GrantedAt, string Status, string? DecidedBy, string? DecidedAt)>(
            "SELECT id, account_id, role, site_ids, camera_ids, valid_from, valid_until, granted_by, granted_at, status, decided_by, decided_at FROM role_grants WHERE account_id = @id ORDER BY id", new { id = row.Id })
            .Select(g => new RoleGrant(
                g.Id, g.AccountId, Enum.Parse<Role>(g.Role),
                g.SiteIds is null ? null : JsonSerializer.Deserialize<long[]>(g.SiteIds),
                g.CameraIds is null ? null : JsonSerializer.Deserialize<long[]>(g.CameraIds),
                g.ValidFrom is null ? null : Timestamps.Parse(g.ValidFrom),
                g.ValidUntil is null ? null : Timestamps.Parse(g.ValidUntil),
                g.GrantedBy, Timestamps.Parse(g.GrantedAt),
                Enum.Parse<GrantStatus>(g.Status), g.DecidedBy, g.DecidedAt is null ? null : Timestamps.Parse(g.DecidedAt)))
            .ToList();
        return new Account(row.Id, row.Username, row.PersonName, row.Disabled != 0, row.Accepted != 0, Timestamps.Parse(row.CreatedAt), row.CreatedBy, roles);
    }
}
