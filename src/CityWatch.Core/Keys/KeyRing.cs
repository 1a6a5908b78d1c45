using System.Security.Cryptography;
using System.Text;
using CityWatch.AuditLog;
using CityWatch.Data;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Keys;

/// <summary>A key was unwrapped or migrated: what the audit log records (see <see cref="KeyRing.RecordTo"/>).</summary>
public sealed record KeyEvent(string Action, string Key, string Reason, string KekId);

/// <summary>
/// The keys of one data folder, stored in <c>wrapped_keys</c> only wrapped by the <see cref="KeyEncryptionKey"/>:
/// the log's Ed25519 signing key, the evidence master key and the template key. Each key is unwrapped at
/// most once per process, and each unwrap (and each migration of a plaintext key file) is an event the
/// audit log records before the key is used; events from before the log opened wait and are recorded as
/// it opens. Creating a key is not an unwrap and is not logged: its first unwrap, at the next start, is.
/// </summary>
/// <remarks>
/// On first use the ring checks that every stored key is wrapped by this KEK (a wrong KEK is refused
/// before anything is read) and wraps any plaintext key file an older data folder holds
/// (<c>audit-log.key</c>, <c>evidence-master.key</c>), then deletes the file.
/// </remarks>
public sealed class KeyRing
{
    public const string AuditSigning = "audit-signing";
    public const string EvidenceMaster = "evidence-master";
    public const string Template = "template";

    public const string UnwrapAction = "key.unwrap";
    public const string MigrateAction = "key.migrate";

    /// <summary>Where an older data folder kept its plaintext keys, next to the database.</summary>
    public const string LegacyAuditKeyFile = "audit-log.key";
    public const string LegacyEvidenceKeyFile = "evidence-master.key";

    private const int SecretSize = 32;

    private readonly CityWatchDatabase _database;
    private readonly KeyEncryptionKey _kek;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, byte[]> _unwrapped = [];
    private readonly List<KeyEvent> _pending = [];
    private readonly List<Func<KeyEvent, Task>> _logs = [];
    private bool _checked;

    internal KeyRing(CityWatchDatabase database, KeyEncryptionKey kek)
    {
        _database = database;
        _kek = kek;
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

    /// <summary>Checks the KEK against the stored keys and migrates plaintext key files; throws <see cref="WrongKeyEncryptionKeyException"/> on a wrong KEK.</summary>
    public void Check()
    {
        List<KeyEvent> events = [];
        lock (_gate)
        {
            EnsureChecked(events);
        }

        RecordAndWait(events);
    }

    /// <summary>The public key stored with a wrapped key (the log's verifier key), readable without the KEK; null if none.</summary>
    public static string? StoredPublicKey(SqliteConnection connection, string name)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var exists = connection.ExecuteScalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'wrapped_keys'") > 0;
        return exists ? connection.ExecuteScalar<string?>("SELECT public_key FROM wrapped_keys WHERE name = @name", new { name }) : null;
    }

    /// <summary>
    /// Records every key event through <paramref name="log"/> (the audit trail) from now on, first the ones
    /// that waited. An event is recorded before its key is handed out; if recording fails, so does the use.
    /// </summary>
    public void RecordTo(Func<KeyEvent, Task> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        List<KeyEvent> waiting;
        lock (_gate)
        {
            waiting = [.. _pending];
            _pending.Clear();
            _logs.Add(log);
        }

        foreach (var keyEvent in waiting)
        {
            log(keyEvent).GetAwaiter().GetResult();
        }
    }

    /// <summary>Stops recording through <paramref name="log"/> (the trail is closing); later events wait for the next one.</summary>
    public void StopRecording(Func<KeyEvent, Task> log)
    {
        lock (_gate)
        {
            _logs.Remove(log);
        }
    }

    /// <summary>The log's signing key for <paramref name="origin"/>: unwrapped, created with the first log, or migrated from <paramref name="legacyFile"/>.</summary>
    internal NoteSigner AuditSigner(string origin, string? legacyFile)
    {
        var secret = Obtain(AuditSigning, "start-up: the audit log signs its checkpoints", legacyFile, () =>
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
    /// A 32-byte key by name (the evidence master key, the template key), unwrapped once per process and
    /// recorded (waiting for the log) before it is returned; created on first use if <paramref name="create"/>.
    /// Never call it inside an open write transaction: the log's commit would wait for it.
    /// </summary>
    internal byte[] Secret(string name, string reason, bool create) =>
        Obtain(name, reason, null, create ? () => RandomNumberGenerator.GetBytes(SecretSize) : null);

    /// <summary>
    /// A 32-byte key inside the caller's write transaction (sealing evidence): a key created here is written
    /// in that transaction (and not kept if it rolls back); the event is handed to the log without waiting
    /// for its commit, which can only follow the caller's. The one relaxation of record-before-use, until
    /// the log can stage a record in the caller's transaction.
    /// </summary>
    internal byte[] SecretWithin(string name, string reason, SqliteConnection connection, SqliteTransaction transaction)
    {
        KeyEvent? keyEvent = null;
        byte[] secret;
        lock (_gate)
        {
            if (_unwrapped.TryGetValue(name, out var known))
            {
                return known;
            }

            if (!_checked)
            {
                throw new InvalidOperationException("The key ring must be checked (the audit log opened) before keys are used inside a transaction.");
            }

            var row = connection.QuerySingleOrDefault<(string KekId, byte[] Wrapped)?>(
                "SELECT kek_id, wrapped FROM wrapped_keys WHERE name = @name", new { name }, transaction);
            if (row is { } stored)
            {
                secret = Unwrap(name, stored.KekId, stored.Wrapped);
                _unwrapped[name] = secret;
                keyEvent = new KeyEvent(UnwrapAction, name, reason, _kek.Id);
            }
            else
            {
                secret = RandomNumberGenerator.GetBytes(SecretSize);
                connection.Execute(
                    "INSERT INTO wrapped_keys (name, kek_id, wrapped, public_key) VALUES (@name, @kekId, @wrapped, NULL)",
                    new { name, kekId = _kek.Id, wrapped = _kek.Wrap(name, secret) },
                    transaction);
            }

            if (keyEvent is null)
            {
                return secret;
            }

            if (_logs.Count == 0)
            {
                _pending.Add(keyEvent);
                return secret;
            }

            _ = _logs[^1](keyEvent);
        }

        return secret;
    }

    /// <summary>Whether a key of that name is stored (wrapped), without unwrapping it.</summary>
    internal bool Has(string name)
    {
        using var connection = _database.Open();
        connection.Execute(KeySchema.Sql);
        return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM wrapped_keys WHERE name = @name", new { name }) > 0;
    }

    // The database work under the lock; the log is waited for outside it, so that a thread holding the
    // database's write lock and asking for a key can never stand between the log's commit and this one.
    private byte[] Obtain(string name, string reason, string? legacyFile, Func<byte[]>? generate)
    {
        List<KeyEvent> events = [];
        byte[] secret;
        lock (_gate)
        {
            EnsureChecked(events);
            if (_unwrapped.TryGetValue(name, out var known) && events.Count == 0)
            {
                return known;
            }

            if (known is null)
            {
                using var connection = _database.Open();
                known = MigrateLegacy(connection, name, legacyFile, events) ?? Load(connection, name, reason, generate, events);
            }

            secret = known;
        }

        RecordAndWait(events);
        lock (_gate)
        {
            return _unwrapped.TryAdd(name, secret) ? secret : _unwrapped[name];
        }
    }

    private byte[] Load(SqliteConnection connection, string name, string reason, Func<byte[]>? generate, List<KeyEvent> events)
    {
        var row = connection.QuerySingleOrDefault<(string KekId, byte[] Wrapped)?>(
            "SELECT kek_id, wrapped FROM wrapped_keys WHERE name = @name", new { name });
        if (row is { } stored)
        {
            var secret = Unwrap(name, stored.KekId, stored.Wrapped);
            events.Add(new KeyEvent(UnwrapAction, name, reason, _kek.Id));
            return secret;
        }

        if (generate is null)
        {
            throw new InvalidOperationException($"This data folder holds no {name} key; nothing sealed with it can be opened.");
        }

        var created = generate();
        if (!Store(connection, name, created))
        {
            // Another process created it first: use that one.
            return Load(connection, name, reason, null, events);
        }

        // Creating a key is not an unwrap: the new key was never in anyone's hands. Its first unwrap (the next start) is logged.
        return created;
    }

    private byte[] Unwrap(string name, string kekId, byte[] wrapped)
    {
        if (kekId != _kek.Id)
        {
            throw Mismatch(kekId);
        }

        return _kek.Unwrap(name, wrapped);
    }

    private bool Store(SqliteConnection connection, string name, byte[] secret) =>
        connection.Execute(
            "INSERT OR IGNORE INTO wrapped_keys (name, kek_id, wrapped, public_key) VALUES (@name, @kekId, @wrapped, @publicKey)",
            new { name, kekId = _kek.Id, wrapped = _kek.Wrap(name, secret), publicKey = PublicKeyOf(name, secret) }) == 1;

    // A plaintext key file of an older data folder: wrapped into the table (or checked against the key
    // already there, after a crash between the two steps), then deleted. Returns the key if it migrated.
    private byte[]? MigrateLegacy(SqliteConnection connection, string name, string? legacyFile, List<KeyEvent> events)
    {
        if (legacyFile is null || !File.Exists(legacyFile))
        {
            return null;
        }

        var plain = File.ReadAllBytes(legacyFile);
        Validate(name, plain, legacyFile);
        var row = connection.QuerySingleOrDefault<(string KekId, byte[] Wrapped)?>(
            "SELECT kek_id, wrapped FROM wrapped_keys WHERE name = @name", new { name });
        if (row is { } stored)
        {
            var existing = Unwrap(name, stored.KekId, stored.Wrapped);
            if (!CryptographicOperations.FixedTimeEquals(existing, plain))
            {
                throw new KeyEncryptionKeyException($"The data folder holds both a wrapped {name} key and a different plaintext {legacyFile}; remove the one that is not in use.");
            }

            events.Add(new KeyEvent(UnwrapAction, name, $"migration: checked against the plaintext {Path.GetFileName(legacyFile)} before deleting it", _kek.Id));
        }
        else
        {
            Store(connection, name, plain);
            events.Add(new KeyEvent(MigrateAction, name, $"the plaintext {Path.GetFileName(legacyFile)} was wrapped by the KEK and deleted", _kek.Id));
        }

        File.Delete(legacyFile);
        return plain;
    }

    private static void Validate(string name, byte[] plain, string file)
    {
        if (name == AuditSigning)
        {
            using var signer = NoteSigner.FromPrivateKey(Encoding.UTF8.GetString(plain));
        }
        else if (plain.Length != SecretSize)
        {
            throw new KeyEncryptionKeyException($"The key file {file} is {plain.Length} bytes, not {SecretSize}.");
        }
    }

    private static string? PublicKeyOf(string name, byte[] secret)
    {
        if (name != AuditSigning)
        {
            return null;
        }

        using var signer = NoteSigner.FromPrivateKey(Encoding.UTF8.GetString(secret));
        return signer.VerifierKey;
    }

    private void EnsureChecked(List<KeyEvent> events)
    {
        if (_checked)
        {
            return;
        }

        using (var connection = _database.Open())
        {
            connection.Execute(KeySchema.Sql);
            var foreign = connection.ExecuteScalar<string?>("SELECT kek_id FROM wrapped_keys WHERE kek_id <> @id LIMIT 1", new { id = _kek.Id });
            if (foreign is not null)
            {
                throw Mismatch(foreign);
            }
        }

        _checked = true;
        // An older data folder's plaintext key files go at once, whether or not the key is needed now.
        var directory = Path.GetDirectoryName(_database.Path)!;
        foreach (var (name, file) in new[] { (AuditSigning, LegacyAuditKeyFile), (EvidenceMaster, LegacyEvidenceKeyFile) })
        {
            if (File.Exists(Path.Combine(directory, file)))
            {
                using var connection = _database.Open();
                _unwrapped[name] = MigrateLegacy(connection, name, Path.Combine(directory, file), events)!;
            }
        }
    }

    private void RecordAndWait(List<KeyEvent> events)
    {
        foreach (var keyEvent in events)
        {
            Func<KeyEvent, Task>? log;
            lock (_gate)
            {
                log = _logs.Count == 0 ? null : _logs[^1];
                if (log is null)
                {
                    _pending.Add(keyEvent);
                }
            }

            log?.Invoke(keyEvent).GetAwaiter().GetResult();
        }
    }

    private WrongKeyEncryptionKeyException Mismatch(string storedKekId) => new(
        $"wrong key-encryption key: the one from {_kek.Source} (id {_kek.Id}) is not the one this data folder's keys are wrapped with (id {storedKekId})");
}
