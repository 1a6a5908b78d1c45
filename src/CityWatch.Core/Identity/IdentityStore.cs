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

/// <summary>Accounts, their roles, sign-in sessions and edge keys in SQLite. Secrets are stored only as hashes.</summary>
public sealed class IdentityStore
{
    private readonly CityWatchDatabase _database;
    private readonly TimeProvider _time;

    public IdentityStore(CityWatchDatabase database, TimeProvider time)
    {
        _database = database;
        _time = time;
    }

    public bool AnyAccount()
    {
        using var connection = _database.Open();
        return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM accounts") > 0;
    }

    public Account CreateAccount(AccountInput input, string actor)
    {
        if (string.IsNullOrWhiteSpace(input.Username) || input.Username.Length > 64 || input.Username.Any(char.IsWhiteSpace))
        {
            throw new InvalidRequestException("A username is 1 to 64 characters with no spaces.");
        }

        PasswordHasher.CheckStrength(input.Password);
        using var connection = _database.Open();
        try
        {
            var id = connection.ExecuteScalar<long>(
                "INSERT INTO accounts (username, display_name, password_hash, created_at, created_by) VALUES (@u, @d, @h, @now, @actor) RETURNING id",
                new { u = input.Username, d = string.IsNullOrWhiteSpace(input.DisplayName) ? input.Username : input.DisplayName, h = PasswordHasher.Hash(input.Password), now = Timestamps.Format(_time.GetUtcNow()), actor });
            return Get(id);
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

    public void SetDisabled(long id, bool disabled)
    {
        using var connection = _database.Open();
        if (connection.Execute("UPDATE accounts SET disabled = @disabled WHERE id = @id", new { id, disabled }) == 0)
        {
            throw new NotFoundException($"No account {id}.");
        }

        if (disabled)
        {
            connection.Execute("UPDATE sessions SET revoked = 1 WHERE account_id = @id", new { id });
        }
    }

    /// <summary>Adds a role, enforcing separation of duties. The caller checks who may do it.</summary>
    public RoleGrant AddRole(long accountId, RoleGrantInput input, string actor)
    {
        var account = Get(accountId);
        var now = _time.GetUtcNow();
        var held = account.Roles.Where(r => r.IsValidAt(now) || r.ValidFrom > now).Select(r => r.Role).ToHashSet();
        if (Conflicts(held, input.Role) is { } conflict)
        {
            throw new ConflictException($"Separation of duties: an account with the {conflict} role may not also hold {input.Role}.");
        }

        if (input.Role == Role.EdgeDevice)
        {
            throw new InvalidRequestException("Edge devices use API keys, not accounts.");
        }

        if (input.ValidFrom is { } from && input.ValidUntil is { } until && until <= from)
        {
            throw new InvalidRequestException("validUntil must be after validFrom.");
        }

        using var connection = _database.Open();
        var id = connection.ExecuteScalar<long>(
            """
            INSERT INTO role_grants (account_id, role, site_ids, camera_ids, valid_from, valid_until, granted_by, granted_at)
            VALUES (@accountId, @role, @sites, @cameras, @from, @until, @actor, @now) RETURNING id
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
                now = Timestamps.Format(now),
            });
        return Get(accountId).Roles.Single(r => r.Id == id);
    }

    public void RemoveRole(long accountId, long grantId)
    {
        using var connection = _database.Open();
        if (connection.Execute("DELETE FROM role_grants WHERE id = @grantId AND account_id = @accountId", new { accountId, grantId }) == 0)
        {
            throw new NotFoundException($"No role grant {grantId} on account {accountId}.");
        }
    }

    /// <summary>How many enabled accounts hold each role now: the public count, no names.</summary>
    public IReadOnlyDictionary<Role, int> CountsByRole()
    {
        var now = _time.GetUtcNow();
        var counts = Enum.GetValues<Role>().ToDictionary(r => r, _ => 0);
        foreach (var account in List().Where(a => !a.Disabled))
        {
            foreach (var role in account.Roles.Where(r => r.IsValidAt(now)).Select(r => r.Role).Distinct())
            {
                counts[role]++;
            }
        }

        using var connection = _database.Open();
        counts[Role.EdgeDevice] = connection.ExecuteScalar<int>("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL");
        return counts;
    }

    internal string? PasswordHash(long accountId)
    {
        using var connection = _database.Open();
        return connection.ExecuteScalar<string?>("SELECT password_hash FROM accounts WHERE id = @accountId", new { accountId });
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
        return account.Disabled ? null : new Caller(account.Id, account.Username, account.Roles.Where(r => r.IsValidAt(now)).ToList(), null);
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
    private static string HashSecret(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private Account? Find(string where, object parameters)
    {
        using var connection = _database.Open();
        var row = connection.QuerySingleOrDefault<(long Id, string Username, string DisplayName, long Disabled, string CreatedAt, string CreatedBy)>(
            $"SELECT id, username, display_name, disabled, created_at, created_by FROM accounts {where}", parameters);
        if (row.Id == 0)
        {
            return null;
        }

        var roles = connection.Query<(long Id, long AccountId, string Role, string? SiteIds, string? CameraIds, string? ValidFrom, string? ValidUntil, string GrantedBy, string GrantedAt)>(
            "SELECT id, account_id, role, site_ids, camera_ids, valid_from, valid_until, granted_by, granted_at FROM role_grants WHERE account_id = @id ORDER BY id", new { id = row.Id })
            .Select(g => new RoleGrant(
                g.Id, g.AccountId, Enum.Parse<Role>(g.Role),
                g.SiteIds is null ? null : JsonSerializer.Deserialize<long[]>(g.SiteIds),
                g.CameraIds is null ? null : JsonSerializer.Deserialize<long[]>(g.CameraIds),
                g.ValidFrom is null ? null : Timestamps.Parse(g.ValidFrom),
                g.ValidUntil is null ? null : Timestamps.Parse(g.ValidUntil),
                g.GrantedBy, Timestamps.Parse(g.GrantedAt)))
            .ToList();
        return new Account(row.Id, row.Username, row.DisplayName, row.Disabled != 0, Timestamps.Parse(row.CreatedAt), row.CreatedBy, roles);
    }
}
