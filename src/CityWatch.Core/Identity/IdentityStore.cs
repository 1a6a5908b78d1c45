using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Keys;
using Dapper;

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
/// Accounts, their roles, sign-in sessions and edge keys. Passwords, session tokens and edge keys
/// are stored only as hashes; the TOTP secrets and the identity-reference HMAC key, which must be read
/// back, only sealed with the <see cref="KeyRing.AccountSecrets"/> key (wrapped by the KEK). Every change
/// here is staged with its audit record in the same transaction.
/// Who may change what (invitations, grants that need a second person) is decided by
/// <see cref="Invitations"/> and <see cref="RoleGrants"/>; this class holds the rows and the rules that
/// hold whoever asks (separation of duties, one account per person).
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>), whole: the reads, and every act with its record staged
/// in its transaction (<see cref="AuditTrail.Stage"/>). The acts that count role holders for the public history
/// (<see cref="SetDisabledAsync"/>, and the grants and set-up that call <see cref="RecordChange"/>) run in
/// <see cref="SqlDialect.BeginWrite"/> on <c>accounts</c> and <c>role_grants</c> (<see cref="RoleTables"/>), so the count
/// they record is the one they commit. A TOTP step is used up by a compare-and-set in its statement
/// (<see cref="TryStartSession"/>) and a failed sign-in counted by an increment in its statement (<see cref="CountFailure"/>),
/// so two sign-ins at once can neither use one code twice nor both count one failure; the row writes are
/// <c>internal static</c> over the caller's <see cref="DbConnection"/>. Names are looked up ignoring ASCII case on both
/// (<see cref="SqlDialect.EqualsIgnoringCase"/>).
/// </para>
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

    /// <summary>The tables an act that changes who holds a role locks (<see cref="SqlDialect.BeginWrite"/>): its checks and its count of holders stand until it commits.</summary>
    internal static readonly string[] RoleTables = ["accounts", "role_grants"];

    internal CityWatchDatabase Database => _database;

    public bool AnyAccount()
    {
        using var connection = _database.Connect();
        return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM accounts") > 0;
    }

    /// <summary>Inserts an account with no password (the person sets it by accepting an invitation).</summary>
    internal long InsertAccount(DbConnection connection, DbTransaction transaction, AccountInput input, string actor)
    {
        if (string.IsNullOrWhiteSpace(input.Username) || input.Username.Length > 64 || input.Username.Any(char.IsWhiteSpace))
        {
            throw new InvalidRequestException("A username is 1 to 64 characters with no spaces.");
        }

        if (string.IsNullOrWhiteSpace(input.PersonName) || input.PersonName.Length > 200)
        {
            throw new InvalidRequestException("An account names the natural person who holds it: personName is 1 to 200 characters.");
        }

        var identity = IdentityReferences.Hash(_database.Keys, connection, transaction, input.IdentityReference);
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
        catch (DbException e) when (SqlDialect.IsConstraintViolation(e))
        {
            throw new ConflictException($"An account named '{input.Username}' already exists.");
        }
    }

    public Account Get(long id) => Find("WHERE id = @id", new { id }) ?? throw new NotFoundException($"No account {id}.");

    public Account? FindByName(string username) => Find($"WHERE {_database.Dialect.EqualsIgnoringCase("username", "username")}", new { username });

    public IReadOnlyList<Account> List()
    {
        using var connection = _database.Connect();
        return connection.Query<long>("SELECT id FROM accounts ORDER BY id").Select(Get).ToList();
    }

    /// <summary>
    /// Disables or enables an account (a disabled one's sessions end at once), with its record in the same
    /// transaction; the public history records the counts. Nothing changes, and nothing is recorded, if the
    /// account is already so.
    /// </summary>
    public async Task<Account> SetDisabledAsync(long id, bool disabled, string actor, AuditTrail audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(audit);
        var account = Get(id);
        var now = _time.GetUtcNow();
        StagedRecord staged;
        using (var connection = _database.Connect())
        using (var transaction = _database.Dialect.BeginWrite(connection, RoleTables))
        {
            if (!TrySetDisabled(connection, transaction, id, disabled))
            {
                return account;
            }

            // The roles it holds as this commits (BeginWrite: no grant changes meanwhile), each a point of the public history.
            var roles = (Find(connection, transaction, "WHERE id = @id", new { id }) ?? account).Roles.Where(r => r.IsInForceAt(now)).Select(r => r.Role).Distinct().ToList();
            foreach (var role in roles)
            {
                RecordChange(connection, transaction, role, disabled ? RoleChangeKind.AccountDisabled : RoleChangeKind.AccountEnabled);
            }

            staged = audit.Stage(connection, transaction, new AuditRecord(actor, IdentityActions.AccountChange, disabled ? "disabled" : "enabled", Parameters: new Dictionary<string, string> { ["account"] = account.Username }));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>
    /// Disables or enables account <paramref name="id"/> in the caller's transaction on either engine, only if it is not
    /// so already, ending a disabled one's sessions; says whether it changed. Its history and record: <see cref="SetDisabledAsync"/>.
    /// </summary>
    internal static bool TrySetDisabled(DbConnection connection, DbTransaction transaction, long id, bool disabled)
    {
        if (connection.Execute("UPDATE accounts SET disabled = @disabled WHERE id = @id AND disabled <> @disabled", new { id, disabled }, transaction) == 0)
        {
            return false;
        }

        if (disabled)
        {
            connection.Execute("UPDATE sessions SET revoked = TRUE WHERE account_id = @id", new { id }, transaction);
        }

        return true;
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

    internal long InsertGrant(DbConnection connection, DbTransaction transaction, long accountId, RoleGrantInput input, string actor, long? actorId, GrantStatus status, string? decidedBy)
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
    internal void RecordChange(DbConnection connection, DbTransaction transaction, Role role, RoleChangeKind change)
    {
        var now = Timestamps.Format(_time.GetUtcNow());
        var holders = connection.ExecuteScalar<int>(
            """
            SELECT COUNT(DISTINCT g.account_id) FROM role_grants g JOIN accounts a ON a.id = g.account_id
            WHERE g.role = @role AND g.status = 'Active' AND a.disabled = FALSE
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
        using var connection = _database.Connect();
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

        using var connection = _database.Connect();
        counts[Role.EdgeDevice] = connection.ExecuteScalar<int>("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL");
        return counts;
    }

    /// <summary>The time step of the account's last accepted TOTP code (null before the first), read without opening any secret.</summary>
    public long? TotpLastStep(long accountId)
    {
        using var connection = _database.Connect();
        return connection.QuerySingleOrDefault<long?>("SELECT totp_last_step FROM accounts WHERE id = @accountId", new { accountId });
    }

    /// <summary>The account's credentials, its TOTP secret opened (an unwrap of the account-secrets key, logged once per process).</summary>
    internal Credentials Credentials(long accountId)
    {
        using var connection = _database.Connect();
        var stored = connection.QuerySingleOrDefault<Credentials>(
            "SELECT password_hash AS PasswordHash, totp_secret AS TotpSecret, totp_last_step AS TotpLastStep FROM accounts WHERE id = @accountId", new { accountId })
            ?? throw new NotFoundException($"No account {accountId}.");
        return stored.TotpSecret is null ? stored : stored with { TotpSecret = OpenTotp(stored.TotpSecret, AccountBinding(accountId)) };
    }

    /// <summary>What an account's sealed TOTP secret is bound to, so that it cannot be moved to another account.</summary>
    internal static string AccountBinding(long accountId) => $"account/{accountId.ToString(System.Globalization.CultureInfo.InvariantCulture)}/totp";

    /// <summary>What an invitation's pending TOTP secret is bound to.</summary>
    internal static string InvitationBinding(long invitationId) => $"invitation/{invitationId.ToString(System.Globalization.CultureInfo.InvariantCulture)}/totp";

    /// <summary>Seals a TOTP secret inside the caller's write transaction.</summary>
    internal string SealTotp(DbConnection connection, DbTransaction transaction, string secret, string binding) =>
        Sealing.SealText(_database.Keys.SecretWithin(KeyRing.AccountSecrets, "enrolling a second factor", connection, transaction), secret, binding);

    /// <summary>Opens a stored TOTP secret (outside any write transaction); one an older version stored in clear is returned as it is until it is sealed at start.</summary>
    internal string OpenTotp(string stored, string binding)
    {
        if (!Sealing.IsSealedText(stored))
        {
            return stored;
        }

        try
        {
            return Sealing.OpenText(_database.Keys.Secret(KeyRing.AccountSecrets, "sign-in: checking a one-time code", create: false), stored, binding);
        }
        catch (CryptographicException)
        {
            throw new InvalidOperationException($"A sealed TOTP secret ({binding}) does not open: it was altered or moved from another row.");
        }
    }

    internal (int Failures, DateTimeOffset? LockedUntil) Lockout(long accountId)
    {
        using var connection = _database.Connect();
        var row = connection.QuerySingle<(long Failures, string? LockedUntil)>("SELECT failed_sign_ins, locked_until FROM accounts WHERE id = @accountId", new { accountId });
        return ((int)row.Failures, row.LockedUntil is null ? null : Timestamps.Parse(row.LockedUntil));
    }

    /// <summary>
    /// A failed sign-in: with <paramref name="lockout"/> (a failure that counts, on a known name, at its time and with the
    /// lock-out it may start) the account's failure count goes up by one and, at <paramref name="maxFailures"/>, the account
    /// is locked (<see cref="CountFailure"/>); the record, which <paramref name="record"/> makes knowing whether this
    /// failure locked the account, commits with it. A record the log refuses leaves the count as it was. Returns whether it locked.
    /// </summary>
    internal async Task<bool> RecordFailureAsync(
        long? accountId, int maxFailures, (DateTimeOffset Now, DateTimeOffset LockUntil)? lockout, Func<bool, AuditRecord> record, AuditTrail audit, CancellationToken cancellationToken)
    {
        StagedRecord staged;
        var locked = false;
        using (var connection = _database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (accountId is { } id && lockout is { } l)
            {
                locked = CountFailure(connection, transaction, id, maxFailures, l.Now, l.LockUntil);
            }

            staged = audit.Stage(connection, transaction, record(locked));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return locked;
    }

    /// <summary>
    /// One more failed sign-in on account <paramref name="accountId"/> at <paramref name="now"/>, in the caller's transaction
    /// on either engine, in one statement (the count it raises is the stored one, whatever committed since it was read,
    /// so two failures at once are two): at <paramref name="maxFailures"/> the count starts again at 0 and the account is
    /// locked until <paramref name="lockUntil"/>; below it, a lock-out that has run out is cleared. A lock-out in force is
    /// left as it is (a failure that passed the check before another locked the account neither counts nor unlocks it).
    /// Says whether this failure locked the account.
    /// </summary>
    internal static bool CountFailure(DbConnection connection, DbTransaction transaction, long accountId, int maxFailures, DateTimeOffset now, DateTimeOffset lockUntil) =>
        connection.ExecuteScalar<bool?>(
            """
            UPDATE accounts SET
                locked_until = CASE WHEN failed_sign_ins + 1 >= @maxFailures THEN @until ELSE NULL END,
                failed_sign_ins = CASE WHEN failed_sign_ins + 1 >= @maxFailures THEN 0 ELSE failed_sign_ins + 1 END
            WHERE id = @accountId AND (locked_until IS NULL OR locked_until <= @now)
            RETURNING locked_until IS NOT NULL
            """,
            new { accountId, maxFailures, now = Timestamps.Format(now), until = Timestamps.Format(lockUntil) },
            transaction) == true;

    /// <summary>
    /// Starts a session and returns its bearer token (only its hash is stored), with <paramref name="record"/>
    /// in the same transaction. With a TOTP <paramref name="step"/>, the step is used up there too
    /// (compare-and-set: a step at or before the last one used, by a concurrent sign-in, returns null) and
    /// the failure count is cleared. A disabled account gets no session (null).
    /// </summary>
    public async Task<string?> StartSessionAsync(long accountId, long? step, TimeSpan lifetime, AuditRecord record, AuditTrail audit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(audit);
        var token = "cws_" + Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = _time.GetUtcNow();
        StagedRecord staged;
        using (var connection = _database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (!TryStartSession(connection, transaction, accountId, step, HashSecret(token), now, lifetime))
            {
                return null;
            }

            staged = audit.Stage(connection, transaction, record);
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return token;
    }

    /// <summary>
    /// A session for enabled account <paramref name="accountId"/> (its token stored only as <paramref name="tokenHash"/>),
    /// in the caller's transaction on either engine, its failure count cleared. With a TOTP <paramref name="step"/> the
    /// step is used up in the same statement, only if it is after the last one used (a compare-and-set: of two sign-ins
    /// with one code, one wins). False, and nothing written, for a disabled account or a step already used.
    /// </summary>
    internal static bool TryStartSession(DbConnection connection, DbTransaction transaction, long accountId, long? step, string tokenHash, DateTimeOffset now, TimeSpan lifetime)
    {
        var updated = step is { } s
            ? connection.Execute(
                "UPDATE accounts SET totp_last_step = @s, failed_sign_ins = 0, locked_until = NULL WHERE id = @accountId AND disabled = FALSE AND (totp_last_step IS NULL OR totp_last_step < @s)",
                new { accountId, s },
                transaction)
            : connection.Execute("UPDATE accounts SET failed_sign_ins = 0, locked_until = NULL WHERE id = @accountId AND disabled = FALSE", new { accountId }, transaction);
        if (updated == 0)
        {
            return false;
        }

        connection.Execute(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES (@tokenHash, @accountId, @now, @expires)",
            new { tokenHash, accountId, now = Timestamps.Format(now), expires = Timestamps.Format(now + lifetime) },
            transaction);
        return true;
    }

    public void RevokeSession(string token)
    {
        using var connection = _database.Connect();
        connection.Execute("UPDATE sessions SET revoked = TRUE WHERE token_hash = @hash", new { hash = HashSecret(token) });
    }

    /// <summary>The caller behind a session token, if the session is live and the account enabled; else null.</summary>
    public Caller? CallerForSession(string token)
    {
        using var connection = _database.Connect();
        var row = connection.QuerySingleOrDefault<(long AccountId, string ExpiresAt, bool Revoked)>(
            "SELECT account_id, expires_at, revoked FROM sessions WHERE token_hash = @hash", new { hash = HashSecret(token) });
        var now = _time.GetUtcNow();
        if (row.AccountId == 0 || row.Revoked || Timestamps.Parse(row.ExpiresAt) <= now)
        {
            return null;
        }

        var account = Get(row.AccountId);
        return account.Disabled ? null : new Caller(account.Id, account.Username, account.Roles.Where(r => r.IsInForceAt(now)).ToList(), null);
    }

    /// <summary>The longest edge-key name: the key acts as "edge-key:ID:NAME", which must fit the log's actor field.</summary>
    public const int MaxKeyName = 64;

    /// <summary>Makes an edge key (only its hash is stored) with its record in the same transaction; the secret is shown once.</summary>
    public async Task<CreatedApiKey> CreateKeyAsync(ApiKeyInput input, string actor, AuditTrail audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(audit);
        if (string.IsNullOrWhiteSpace(input.Name) || input.Name.Length > MaxKeyName || input.CameraIds is null || input.CameraIds.Count == 0)
        {
            throw new InvalidRequestException($"An edge key needs a name (1 to {MaxKeyName} characters) and the cameras it may report for.");
        }

        var secret = "cwk_" + Base64Url(RandomNumberGenerator.GetBytes(32));
        long id;
        StagedRecord staged;
        using (var connection = _database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            id = connection.ExecuteScalar<long>(
                "INSERT INTO api_keys (name, secret_hash, camera_ids, created_at, created_by) VALUES (@Name, @hash, @cameras, @now, @actor) RETURNING id",
                new { input.Name, hash = HashSecret(secret), cameras = JsonSerializer.Serialize(input.CameraIds), now = Timestamps.Format(_time.GetUtcNow()), actor },
                transaction);
            staged = audit.Stage(connection, transaction, new AuditRecord(actor, IdentityActions.KeyCreate, "created", Parameters: new Dictionary<string, string>
            {
                ["key"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["cameras"] = string.Join(",", input.CameraIds),
            }));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return new CreatedApiKey(Keys().Single(k => k.Id == id), secret);
    }

    /// <summary>Revokes a live edge key with its record in the same transaction.</summary>
    public async Task<ApiKey> RevokeKeyAsync(long id, string actor, AuditTrail audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(audit);
        StagedRecord staged;
        using (var connection = _database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            if (connection.Execute("UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL", new { id, now = Timestamps.Format(_time.GetUtcNow()) }, transaction) == 0)
            {
                throw new NotFoundException($"No live edge key {id}.");
            }

            staged = audit.Stage(connection, transaction, new AuditRecord(actor, IdentityActions.KeyRevoke, "revoked", Parameters: new Dictionary<string, string> { ["key"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Keys().Single(k => k.Id == id);
    }

    /// <summary>
    /// Seals what an older version stored in clear (the identity-reference HMAC key, the accounts' and
    /// pending invitations' TOTP secrets) in one transaction with its <c>key.migrate</c> record, then
    /// checkpoints and vacuums so the clear bytes leave the WAL and free pages. Run at start; returns how
    /// many secrets were sealed.
    /// </summary>
    public async Task<int> SealClearSecretsAsync(AuditTrail audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(audit);
        using var connection = _database.Connect();
        var salt = connection.ExecuteScalar<byte[]?>("SELECT salt FROM identity_salt WHERE id = 1");
        var clearSalt = salt is not null && !IdentityReferences.IsSealed(salt);
        var accounts = connection.Query<(long Id, string Secret)>("SELECT id, totp_secret FROM accounts WHERE totp_secret IS NOT NULL")
            .Where(r => !Sealing.IsSealedText(r.Secret)).ToList();
        var pending = connection.Query<(long Id, string Secret)>("SELECT id, pending_totp_secret FROM invitations WHERE pending_totp_secret IS NOT NULL")
            .Where(r => !Sealing.IsSealedText(r.Secret)).ToList();
        var count = (clearSalt ? 1 : 0) + accounts.Count + pending.Count;
        if (count == 0)
        {
            return 0;
        }

        StagedRecord staged;
        using (var transaction = connection.BeginTransaction())
        {
            var key = _database.Keys.SecretWithin(KeyRing.AccountSecrets, "start-up: sealing account secrets stored in clear by an older version", connection, transaction);
            if (clearSalt)
            {
                connection.Execute(
                    "UPDATE identity_salt SET salt = @salt WHERE id = 1",
                    new { salt = Sealing.Seal(key, salt!, Encoding.ASCII.GetBytes(IdentityReferences.KeyBinding)) },
                    transaction);
            }

            foreach (var (id, secret) in accounts)
            {
                connection.Execute("UPDATE accounts SET totp_secret = @sealed WHERE id = @id", new { id, @sealed = Sealing.SealText(key, secret, AccountBinding(id)) }, transaction);
            }

            foreach (var (id, secret) in pending)
            {
                connection.Execute("UPDATE invitations SET pending_totp_secret = @sealed WHERE id = @id", new { id, @sealed = Sealing.SealText(key, secret, InvitationBinding(id)) }, transaction);
            }

            staged = audit.Stage(connection, transaction, new AuditRecord(
                "system:keys",
                AuditActions.KeyMigrate,
                "ok",
                Parameters: new Dictionary<string, string> { ["key"] = KeyRing.AccountSecrets, ["reason"] = "TOTP secrets and the identity-reference key stored in clear by an older version sealed" },
                ResultCount: count));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        if (!_database.Dialect.IsPostgres)
        {
            connection.Execute("PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
        }

        // PostgreSQL: no older version kept identity there, so nothing is found in clear; were anything, its
        // replaced row versions would stay until VACUUM, the question Checkpoint() leaves open (docs/scale-out.md).
        return count;
    }

    public IReadOnlyList<ApiKey> Keys()
    {
        using var connection = _database.Connect();
        return connection.Query<(long Id, string Name, string CameraIds, string CreatedAt, string CreatedBy, string? RevokedAt)>(
            "SELECT id, name, camera_ids, created_at, created_by, revoked_at FROM api_keys ORDER BY id")
            .Select(r => new ApiKey(r.Id, r.Name, JsonSerializer.Deserialize<long[]>(r.CameraIds)!, Timestamps.Parse(r.CreatedAt), r.CreatedBy, r.RevokedAt is null ? null : Timestamps.Parse(r.RevokedAt)))
            .ToList();
    }

    /// <summary>The caller behind an edge key, if the key exists and is not revoked; else null.</summary>
    public Caller? CallerForKey(string secret)
    {
        using var connection = _database.Connect();
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
        using var connection = _database.Connect();
        return Find(connection, null, where, parameters);
    }

    /// <summary>The account matching <paramref name="where"/>, with all its grants, as <paramref name="transaction"/> sees it (either engine); null if none.</summary>
    internal static Account? Find(DbConnection connection, DbTransaction? transaction, string where, object parameters)
    {
        var row = connection.QuerySingleOrDefault<(long Id, string Username, string PersonName, bool Disabled, bool Accepted, string CreatedAt, string CreatedBy)>(
            $"SELECT id, username, person_name, disabled, password_hash IS NOT NULL AND totp_secret IS NOT NULL, created_at, created_by FROM accounts {where}", parameters, transaction);
        if (row.Id == 0)
        {
            return null;
        }

        var roles = connection.Query<(long Id, long AccountId, string Role, string? SiteIds, string? CameraIds, string? ValidFrom, string? ValidUntil, string GrantedBy, string GrantedAt, string Status, string? DecidedBy, string? DecidedAt)>(
            "SELECT id, account_id, role, site_ids, camera_ids, valid_from, valid_until, granted_by, granted_at, status, decided_by, decided_at FROM role_grants WHERE account_id = @id ORDER BY id", new { id = row.Id }, transaction)
            .Select(g => new RoleGrant(
                g.Id, g.AccountId, Enum.Parse<Role>(g.Role),
                g.SiteIds is null ? null : JsonSerializer.Deserialize<long[]>(g.SiteIds),
                g.CameraIds is null ? null : JsonSerializer.Deserialize<long[]>(g.CameraIds),
                g.ValidFrom is null ? null : Timestamps.Parse(g.ValidFrom),
                g.ValidUntil is null ? null : Timestamps.Parse(g.ValidUntil),
                g.GrantedBy, Timestamps.Parse(g.GrantedAt),
                Enum.Parse<GrantStatus>(g.Status), g.DecidedBy, g.DecidedAt is null ? null : Timestamps.Parse(g.DecidedAt)))
            .ToList();
        return new Account(row.Id, row.Username, row.PersonName, row.Disabled, row.Accepted, Timestamps.Parse(row.CreatedAt), row.CreatedBy, roles);
    }
}
