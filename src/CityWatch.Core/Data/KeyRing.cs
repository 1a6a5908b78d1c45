using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using CityWatch.AuditLog;
using CityWatch.Grants;
using CityWatch.Keys;
using Dapper;

namespace CityWatch.Data;

/// <summary>A key was unwrapped or migrated: what the audit log records (see <see cref="KeyRing.RecordTo"/>).</summary>
/// <remarks>
/// <paramref name="PublicKey"/> is set for a signing key whose verifiers learn it from the log (the
/// grant-signing key): base64 of its raw Ed25519 public key.
/// </remarks>
public sealed record KeyEvent(string Action, string Key, string Reason, string KekId, string? PublicKey = null);

/// <summary>
/// Where a <see cref="KeyRing"/> records its events: <paramref name="Append"/> on its own, once logged;
/// <paramref name="Stage"/> inside a caller's transaction (the audit outbox), returning the task that
/// completes once the record is in the log.
/// </summary>
public sealed record KeyLogSink(Func<KeyEvent, Task> Append, Func<DbConnection, DbTransaction, KeyEvent, Task> Stage);

/// <summary>
/// The keys of one data folder, stored in <c>wrapped_keys</c> only wrapped by the <see cref="KeyEncryptionKey"/>:
/// the log's Ed25519 signing key, the evidence master key, the template key, the account-secrets key (TOTP
/// secrets, the identity-reference HMAC key), the stream-credentials key and the grant-signing key. Each key is unwrapped at
/// most once per process, and each unwrap is an event the audit log records before the key is used;
/// events from before the log opened (the log's own key) wait and are recorded as it opens. Creating a key
/// is not an unwrap and is not logged: its first unwrap, at the next start, is (except the grant-signing key,
/// whose creation is logged with its public key).
/// </summary>
/// <remarks>
/// On first use the ring checks that every stored key is wrapped by this KEK, so a wrong KEK is refused
/// before anything is read. Plaintext key files of an older data folder (<c>audit-log.key</c>,
/// <c>evidence-master.key</c>) are used as they are until the log opens; then each is wrapped and its
/// <c>key.migrate</c> record staged in one transaction, and the file is deleted.
/// </remarks>
public sealed class KeyRing
{
    public const string AuditSigning = "audit-signing";
    public const string EvidenceMaster = "evidence-master";
    public const string Template = "template";

    /// <summary>Seals the accounts' TOTP secrets and the identity-reference HMAC key.</summary>
    public const string AccountSecrets = "account-secrets";

    /// <summary>Seals the user information (user name, password) of camera stream URLs.</summary>
    public const string StreamCredentials = "stream-credentials";

    /// <summary>
    /// The policy engine's Ed25519 grant-signing key (a 32-byte seed). Its public half is stored beside it
    /// and carried, base64, by its key events, the first being its creation (<see cref="CreateAction"/>).
    /// </summary>
    public const string GrantSigning = "grant-signing";

    public const string UnwrapAction = "key.unwrap";
    public const string MigrateAction = "key.migrate";
    public const string CreateAction = "key.create";

    /// <summary>Where an older data folder kept its plaintext keys, next to the database.</summary>
    public const string LegacyAuditKeyFile = "audit-log.key";
    public const string LegacyEvidenceKeyFile = "evidence-master.key";

    private const int SecretSize = 32;

    private readonly CityWatchDatabase _database;
    private readonly KeyEncryptionKey _kek;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, byte[]> _unwrapped = [];
    private readonly Dictionary<string, (byte[] Secret, Task Logged)> _staged = [];
    private readonly Dictionary<string, string> _legacyFiles = [];
    private readonly List<KeyEvent> _pending = [];
    private readonly List<KeyLogSink> _sinks = [];
    private bool _checked;

    internal KeyRing(CityWatchDatabase database, KeyEncryptionKey kek)
    {
        _database = database;
        _kek = kek;
        if (database.Dialect.IsPostgres)
        {
            return; // no older data folder there: its keys were never plaintext files
        }

        var directory = Path.GetDirectoryName(database.Path)!;
        _legacyFiles[AuditSigning] = Path.Combine(directory, LegacyAuditKeyFile);
        _legacyFiles[EvidenceMaster] = Path.Combine(directory, LegacyEvidenceKeyFile);
    }

    public string KekId => _kek.Id;

    /// <summary>Events not yet recorded because no log is open (for tests and diagnostics).</summary>
    public int PendingEvents
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Checks the KEK against the stored keys; throws <see cref="WrongKeyEncryptionKeyException"/> on a wrong KEK.</summary>
    public void Check()
    {
        lock (_gate)
        {
            EnsureChecked();
        }
    }

    /// <summary>The public key stored with a wrapped key (the log's verifier key), readable without the KEK; null if none.</summary>
    public static string? StoredPublicKey(DbConnection connection, string name)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var exists = SqlDialect.Of(connection).TableExists(connection, "wrapped_keys");
        return exists ? connection.ExecuteScalar<string?>("SELECT public_key FROM wrapped_keys WHERE name = @name", new { name }) : null;
    }

    /// <summary>
    /// Records every key event through <paramref name="sink"/> (the audit trail) from now on: first the
    /// events that waited, then the migration of any plaintext key file (wrapped, its record staged in the
    /// same transaction, then the file deleted).
    /// </summary>
    public void RecordTo(KeyLogSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        List<KeyEvent> waiting;
        lock (_gate)
        {
            waiting = [.. _pending];
            _pending.Clear();
            _sinks.Add(sink);
        }

        foreach (var keyEvent in waiting)
        {
            sink.Append(keyEvent).GetAwaiter().GetResult();
        }

        foreach (var (name, file) in _legacyFiles.ToList())
        {
            Migrate(name, file, sink);
        }
    }

    /// <summary>Stops recording through <paramref name="sink"/> (the trail is closing); later events wait for the next one.</summary>
    public void StopRecording(KeyLogSink sink)
    {
        lock (_gate)
        {
            _sinks.Remove(sink);
        }
    }

    /// <summary>The log's signing key for <paramref name="origin"/>: unwrapped, created with the first log, or read from an older folder's <paramref name="legacyFile"/>.</summary>
    internal NoteSigner AuditSigner(string origin, string? legacyFile)
    {
        if (legacyFile is not null)
        {
            lock (_gate)
            {
                _legacyFiles[AuditSigning] = Path.GetFullPath(legacyFile);
            }
        }

        var secret = Obtain(AuditSigning, "start-up: the audit log signs its checkpoints", () =>
        {
            using var created = NoteSigner.Generate(origin);
            return Encoding.UTF8.GetBytes(created.ExportPrivateKey());
        });
        var signer = NoteSigner.FromPrivateKey(Encoding.UTF8.GetString(secret));
        if (signer.Name != origin)
        {
            signer.Dispose();
            throw new InvalidOperationException($"The audit key of this data folder is for '{signer.Name}', not '{origin}'.");
        }

        return signer;
    }

    /// <summary>
    /// The grant-signing key's 32-byte Ed25519 seed: created on first use (that creation recorded with its
    /// public key), unwrapped once per process (recorded, with its public key) before it is returned.
    /// </summary>
    internal byte[] GrantSigningSeed(string reason) =>
        Obtain(GrantSigning, reason, () => RandomNumberGenerator.GetBytes(SecretSize));

    /// <summary>
    /// A 32-byte key by name (the evidence master key, the template key), unwrapped once per process and
    /// recorded (waiting for the log) before it is returned; created on first use if <paramref name="create"/>.
    /// Never call it inside an open write transaction: use <see cref="SecretWithin"/> there.
    /// </summary>
    internal byte[] Secret(string name, string reason, bool create) =>
        Obtain(name, reason, create ? () => RandomNumberGenerator.GetBytes(SecretSize) : null);

    /// <summary>
    /// A 32-byte key inside the caller's write transaction (sealing evidence). An unwrap is staged as a record
    /// in that transaction, so it commits with the act or not at all; the key is kept for later calls only
    /// once that record is in the log. A key created here is written in that transaction.
    /// </summary>
    internal byte[] SecretWithin(string name, string reason, DbConnection connection, DbTransaction transaction)
    {
        lock (_gate)
        {
            if (_unwrapped.TryGetValue(name, out var known))
            {
                return known;
            }

            if (_staged.Remove(name, out var staged) && staged.Logged.IsCompletedSuccessfully)
            {
                _unwrapped[name] = staged.Secret;
                return staged.Secret;
            }

            EnsureChecked();
            if (_legacyFiles.TryGetValue(name, out var legacy) && File.Exists(legacy))
            {
                throw new InvalidOperationException($"{legacy} has not been migrated yet: open the audit log first.");
            }

            var row = connection.QuerySingleOrDefault<(string KekId, byte[] Wrapped)?>(
                "SELECT kek_id, wrapped FROM wrapped_keys WHERE name = @name", new { name }, transaction);
            if (row is null)
            {
                var created = RandomNumberGenerator.GetBytes(SecretSize);
                connection.Execute(
                    "INSERT INTO wrapped_keys (name, kek_id, wrapped, public_key) VALUES (@name, @kekId, @wrapped, NULL)",
                    new { name, kekId = _kek.Id, wrapped = _kek.Wrap(name, created) },
                    transaction);
                return created;
            }

            var secret = Unwrap(name, row.Value.KekId, row.Value.Wrapped);
            var sink = _sinks.Count == 0
                ? throw new InvalidOperationException($"The {name} key is unwrapped only while the audit log is open, so that the unwrap is recorded.")
                : _sinks[^1];
            _staged[name] = (secret, sink.Stage(connection, transaction, new KeyEvent(UnwrapAction, name, reason, _kek.Id)));
            return secret;
        }
    }

    /// <summary>Whether a key of that name is stored (wrapped), without unwrapping it.</summary>
    internal bool Has(string name)
    {
        using var connection = _database.Connect();
        connection.Execute(KeySchema.For(_database.Dialect));
        return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM wrapped_keys WHERE name = @name", new { name }) > 0
            || (_legacyFiles.TryGetValue(name, out var legacy) && File.Exists(legacy));
    }

    // The database work under the lock; the log is waited for outside it, so that a thread holding the
    // database's write lock and asking for a key can never stand between the log's commit and this one.
    private byte[] Obtain(string name, string reason, Func<byte[]>? generate)
    {
        KeyEvent? keyEvent = null;
        byte[] secret;
        lock (_gate)
        {
            EnsureChecked();
            if (_unwrapped.TryGetValue(name, out var known))
            {
                return known;
            }

            if (_legacyFiles.TryGetValue(name, out var legacy) && File.Exists(legacy))
            {
                // An older folder: its plaintext key is used as it is until the log opens and migrates it.
                secret = ReadLegacy(name, legacy);
            }
            else
            {
                using var connection = _database.Connect();
                (secret, keyEvent) = Load(connection, name, reason, generate);
            }
        }

        if (keyEvent is not null)
        {
            Record(keyEvent);
        }

        lock (_gate)
        {
            return _unwrapped.TryAdd(name, secret) ? secret : _unwrapped[name];
        }
    }

    private (byte[] Secret, KeyEvent? Event) Load(DbConnection connection, string name, string reason, Func<byte[]>? generate)
    {
        var row = connection.QuerySingleOrDefault<(string KekId, byte[] Wrapped)?>(
            "SELECT kek_id, wrapped FROM wrapped_keys WHERE name = @name", new { name });
        if (row is { } stored)
        {
            var unwrapped = Unwrap(name, stored.KekId, stored.Wrapped);
            return (unwrapped, new KeyEvent(UnwrapAction, name, reason, _kek.Id, LoggedPublicKey(name, unwrapped)));
        }

        if (generate is null)
        {
            throw new InvalidOperationException($"This data folder holds no {name} key; nothing sealed with it can be opened.");
        }

        var created = generate();
        if (!Store(connection, null, name, created))
        {
            // Another process created it first: use that one.
            return Load(connection, name, reason, null);
        }

        // Creating a key is not logged, except for a signing key whose verifiers learn it from the log.
        var logged = LoggedPublicKey(name, created);
        return (created, logged is null ? null : new KeyEvent(CreateAction, name, reason, _kek.Id, logged));
    }

    private byte[] Unwrap(string name, string kekId, byte[] wrapped)
    {
        if (kekId != _kek.Id)
        {
            throw Mismatch(kekId);
        }

        return _kek.Unwrap(name, wrapped);
    }

    private bool Store(DbConnection connection, DbTransaction? transaction, string name, byte[] secret) =>
        connection.Execute(
            "INSERT INTO wrapped_keys (name, kek_id, wrapped, public_key) VALUES (@name, @kekId, @wrapped, @publicKey) ON CONFLICT (name) DO NOTHING",
            new { name, kekId = _kek.Id, wrapped = _kek.Wrap(name, secret), publicKey = PublicKeyOf(name, secret) },
            transaction) == 1;

    // An older folder's plaintext key file: wrapped into the table with its key.migrate record staged in the
    // same transaction, then deleted. After a crash between the commit and the delete the wrapped key is
    // already there: it must be the same key, and the file just goes.
    private void Migrate(string name, string file, KeyLogSink sink)
    {
        byte[] plain;
        Task? logged = null;
        lock (_gate)
        {
            EnsureChecked();
            if (!File.Exists(file))
            {
                return;
            }

            plain = ReadLegacy(name, file);
            using var connection = _database.Open();
            using var transaction = connection.BeginTransaction();
            var row = connection.QuerySingleOrDefault<(string KekId, byte[] Wrapped)?>(
                "SELECT kek_id, wrapped FROM wrapped_keys WHERE name = @name", new { name }, transaction);
            if (row is { } stored)
            {
                if (!CryptographicOperations.FixedTimeEquals(Unwrap(name, stored.KekId, stored.Wrapped), plain))
                {
                    throw new KeyEncryptionKeyException($"The data folder holds both a wrapped {name} key and a different plaintext {file}; remove the one that is not in use.");
                }
            }
            else
            {
                Store(connection, transaction, name, plain);
                logged = sink.Stage(connection, transaction, new KeyEvent(MigrateAction, name, $"the plaintext {Path.GetFileName(file)} was wrapped by the KEK and deleted", _kek.Id));
            }

            transaction.Commit();
            _unwrapped[name] = plain;
        }

        logged?.GetAwaiter().GetResult();
        File.Delete(file);
    }

    private static byte[] ReadLegacy(string name, string file)
    {
        var plain = File.ReadAllBytes(file);
        if (name == AuditSigning)
        {
            using var signer = NoteSigner.FromPrivateKey(Encoding.UTF8.GetString(plain));
        }
        else if (plain.Length != SecretSize)
        {
            throw new KeyEncryptionKeyException($"The key file {file} is {plain.Length} bytes, not {SecretSize}.");
        }

        return plain;
    }

    private static string? LoggedPublicKey(string name, byte[] secret) =>
        name == GrantSigning ? PublicKeyOf(name, secret) : null;

    private static string? PublicKeyOf(string name, byte[] secret)
    {
        if (name == GrantSigning)
        {
            return Convert.ToBase64String(GrantSigner.PublicKeyOf(secret));
        }

        if (name != AuditSigning)
        {
            return null;
        }

        using var signer = NoteSigner.FromPrivateKey(Encoding.UTF8.GetString(secret));
        return signer.VerifierKey;
    }

    private void EnsureChecked()
    {
        if (_checked)
        {
            return;
        }

        using var connection = _database.Connect();
        connection.Execute(KeySchema.For(_database.Dialect));
        var foreign = connection.ExecuteScalar<string?>("SELECT kek_id FROM wrapped_keys WHERE kek_id <> @id LIMIT 1", new { id = _kek.Id });
        if (foreign is not null)
        {
            throw Mismatch(foreign);
        }

        _checked = true;
    }

    private void Record(KeyEvent keyEvent)
    {
        KeyLogSink? sink;
        lock (_gate)
        {
            sink = _sinks.Count == 0 ? null : _sinks[^1];
            if (sink is null)
            {
                _pending.Add(keyEvent);
            }
        }

        sink?.Append(keyEvent).GetAwaiter().GetResult();
    }

    private WrongKeyEncryptionKeyException Mismatch(string storedKekId) => new(
        $"wrong key-encryption key: the one from {_kek.Source} (id {_kek.Id}) is not the one this data folder's keys are wrapped with (id {storedKekId})");
}
