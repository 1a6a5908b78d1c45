using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CityWatch.Data;
using CityWatch.Keys;
using Dapper;

namespace CityWatch.Evidence;

/// <summary>The key of an evidence item is gone (retention or urgency deletion): the item can never be read again.</summary>
public sealed class EvidenceDestroyedException(string keyId)
    : InvalidOperationException($"The key of evidence item {keyId} has been destroyed; the item cannot be read.");

/// <summary>An item's key row as stored: the key wrapped by its epoch's key (or, with no epoch, by the master key).</summary>
public sealed record StoredKey(byte[] Wrapped, string? Epoch);

/// <summary>
/// Encryption of evidence at rest, one random AES-256-GCM key per item. Item keys live in the <c>evidence_keys</c>
/// table, each wrapped (AES-GCM) by the key of an <b>erasure epoch</b>; the epoch keys live outside the database, in the
/// server's <see cref="ErasureKeyFile"/>, wrapped by the master key, which itself is stored only wrapped by the data
/// folder's key-encryption key (<see cref="KeyRing"/>, key <c>evidence-master</c>): a copy of the data folder without
/// the KEK opens nothing. The item's key id is the associated data of the item and (with the epoch) of its wrapped key,
/// so a key or a file moved to another item does not decrypt. The master key is created with the first item, so a
/// data folder that never held evidence holds no key either; opening an item never creates one. Unwrapping the master
/// key is recorded in the audit log (once per process, with the reason: the first seal or read).
/// <para>
/// <b>Why epochs.</b> Destroying an item means its key can never be read again, from the live database or from a copy
/// of its disk. On SQLite, deleting the key row with <c>secure_delete</c> and truncating the WAL does that. On
/// PostgreSQL it does not: the deleted row stays as a dead tuple, <c>VACUUM</c> does not overwrite it, and the WAL keeps
/// it. So an item key is never stored there except wrapped by an epoch key PostgreSQL never sees, and destroying items
/// ends (<see cref="EraseDestroyed"/>) by erasing the epoch keys they were under: the epoch's surviving item keys are
/// rewrapped under a fresh epoch key in one transaction, then the old epoch key is deleted from the erasure-key file,
/// whose deletions are final. Whatever PostgreSQL (or a backup, or a WAL archive) still holds of a destroyed key is
/// wrapped by an epoch key that no longer exists. One epoch takes the items sealed in one hour (<see cref="EpochLength"/>),
/// so retention, which deletes by age, empties whole epochs, and erasing one costs no rewrap; an item destroyed early
/// (a refused urgency, a removed entry, a subject's erasure) costs one rewrap of its hour's surviving keys.
/// The same path runs on SQLite, where the row deletion alone would do.
/// </para>
/// <para>
/// <b>Rotation against sealing.</b> A seal takes its epoch's <c>evidence_epochs</c> row as <c>open</c> inside the
/// sealing transaction (PostgreSQL: <c>FOR SHARE</c>; SQLite: the database's write lock, taken first by the placeholder
/// row); on PostgreSQL a destruction holds it the same way before it deletes a key. The rotation marks the row
/// <c>retired</c> and rewraps in one transaction, which on PostgreSQL waits for every seal (and destruction) holding the
/// row and makes any later seal choose another epoch; so once it commits no item key is, or will be,
/// wrapped by the retired epoch, and only then is its key deleted. A crash between the commit and the deletion leaves
/// a <c>retired</c> row, erased by the next <see cref="EraseDestroyed"/>; an epoch key written whose row never
/// committed (a rolled-back seal) is deleted once it is an hour old.
/// </para>
/// </summary>
/// <remarks>
/// Stored item and wrapped-key format: "CWE1", 12-byte nonce, 16-byte tag, ciphertext. An older data folder's plaintext
/// <c>evidence-master.key</c> is wrapped and deleted when the folder is first opened with a KEK; its item keys sealed
/// before epochs existed (<c>epoch</c> null) stay wrapped by the master key and are destroyed by deleting their row.
/// On PostgreSQL the epoch keys are in this server's file only: a second server cannot open what this one sealed
/// (handing epoch keys to a standby is not built; docs/scale-out.md).
/// </remarks>
public sealed class EvidenceVault
{
    public const string MasterKeyFileName = KeyRing.LegacyEvidenceKeyFile;

    /// <summary>The items sealed within one hour (UTC) share an epoch, until an early destruction rotates it.</summary>
    public static readonly TimeSpan EpochLength = TimeSpan.FromHours(1);

    /// <summary>How old an epoch key without an epoch row must be before it counts as left by a rolled-back seal.</summary>
    internal static readonly TimeSpan OrphanAge = TimeSpan.FromHours(1);

    internal const string OpenState = "open";
    internal const string RetiredState = "retired";

    private const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Magic = "CWE1"u8.ToArray();

    private readonly CityWatchDatabase database;
    private readonly TimeProvider time;

    /// <param name="database">The database, opened with its KEK (an older folder's plaintext master key is migrated when the KEK is first checked).</param>
    /// <param name="time">The clock of the erasure-key file's records (when an epoch key was written).</param>
    public EvidenceVault(CityWatchDatabase database, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        this.database = database;
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>The vault of a database.</summary>
    public static EvidenceVault For(CityWatchDatabase database) => new(database);

    /// <summary>Whether the data folder holds a (wrapped) master key, that is, has ever sealed evidence.</summary>
    public bool HasMasterKey => database.Keys.Has(KeyRing.EvidenceMaster);

    /// <summary>
    /// A new random key for one item, wrapped by the current epoch's key and written in <paramref name="transaction"/>;
    /// returns the key id and the sealed item. An epoch's key is written to the erasure-key file before its row is.
    /// </summary>
    public (string KeyId, byte[] Sealed) Seal(byte[] plaintext, DbConnection connection, DbTransaction transaction, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(connection);
        var keyId = Guid.NewGuid().ToString("N");
        var itemKey = RandomNumberGenerator.GetBytes(KeySize);
        try
        {
            // The row first: on SQLite that takes the write lock before the epoch is read, so no rotation commits between.
            connection.Execute(
                "INSERT INTO evidence_keys (key_id, wrapped, created_at) VALUES (@keyId, @empty, @at)",
                new { keyId, empty = Array.Empty<byte>(), at = Timestamps.Format(now) },
                transaction);
            var master = database.Keys.SecretWithin(KeyRing.EvidenceMaster, "evidence seal", connection, transaction);
            var (epoch, epochKey) = OpenEpoch(master, connection, transaction, now);
            try
            {
                connection.Execute(
                    "UPDATE evidence_keys SET wrapped = @wrapped, epoch = @epoch WHERE key_id = @keyId",
                    new { keyId, epoch, wrapped = Encrypt(epochKey, itemKey, WrappedData(keyId, epoch)) },
                    transaction);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(epochKey);
            }

            return (keyId, Encrypt(itemKey, plaintext, keyId));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(itemKey);
        }
    }

    /// <summary>Decrypts a sealed item with its key; throws <see cref="EvidenceDestroyedException"/> if the key is gone.</summary>
    public byte[] Open(string keyId, byte[] sealedItem)
    {
        using var connection = database.Connect();
        return OpenWithin(keyId, sealedItem, connection, null);
    }

    /// <summary>
    /// <see cref="Open"/> over the caller's connection (and transaction, if one is open on it): for a store that opens
    /// many items in one read, or inside the act that reads them.
    /// </summary>
    public byte[] OpenWithin(string keyId, byte[] sealedItem, DbConnection connection, DbTransaction? transaction) =>
        OpenRead(keyId, sealedItem, ReadKey(keyId, connection, transaction), connection, transaction);

    /// <summary>
    /// <see cref="OpenWithin"/> with the item's key row as the caller's own query read it (<c>evidence_keys.wrapped</c> and
    /// <c>.epoch</c> joined to the items), so that opening many items reads no row per item; null when the query found no
    /// key row (the item destroyed). A rotation that moved the key since the query is met by reading the row again.
    /// </summary>
    public byte[] OpenRead(string keyId, byte[] sealedItem, StoredKey? read, DbConnection connection, DbTransaction? transaction)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        ArgumentNullException.ThrowIfNull(sealedItem);
        ArgumentNullException.ThrowIfNull(connection);
        var itemKey = ItemKey(keyId, read, connection, transaction);
        try
        {
            return Decrypt(itemKey, sealedItem, keyId);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(itemKey);
        }
    }

    /// <summary>
    /// Destroys item keys (in the caller's transaction); their items become unreadable once it commits, and unrecoverable
    /// from a copy of the database once <see cref="EraseDestroyed"/> has run. Returns how many existed.
    /// </summary>
    public static int Destroy(IEnumerable<string> keyIds, DbConnection connection, DbTransaction transaction)
    {
        ArgumentNullException.ThrowIfNull(keyIds);
        ArgumentNullException.ThrowIfNull(connection);
        var dialect = SqlDialect.Of(connection);
        var count = 0;
        foreach (var keyId in keyIds)
        {
            // On PostgreSQL the epoch row first, as a seal holds it: a rotation then never holds the epoch while it waits
            // for this row, which this transaction would hold while it waited for the epoch (a deadlock).
            // (Not on SQLite: a read first would pin a deferred transaction's snapshot; there the DELETE takes the write lock.)
            if (dialect.IsPostgres
                && connection.ExecuteScalar<string?>("SELECT epoch FROM evidence_keys WHERE key_id = @keyId", new { keyId }, transaction) is { } epoch)
            {
                connection.Execute("SELECT id FROM evidence_epochs WHERE id = @epoch FOR SHARE", new { epoch }, transaction);
            }

            // The epoch as the deletion found it (a rotation may have moved the key since the read above).
            foreach (var (_, from) in connection.Query<(string KeyId, string? Epoch)>(
                "DELETE FROM evidence_keys WHERE key_id = @keyId RETURNING key_id, epoch", new { keyId }, transaction).ToList())
            {
                count++;
                if (from is not null)
                {
                    connection.Execute($"INSERT INTO evidence_erasures (epoch, at) VALUES (@from, {dialect.UtcNow})", new { from }, transaction);
                }
            }
        }

        return count;
    }

    /// <summary>
    /// Makes what <see cref="Destroy"/> destroyed unrecoverable from a copy of the data folder too: call it after the
    /// destroying transaction commits. Every epoch an item was destroyed from is rotated (its surviving keys rewrapped
    /// under a fresh epoch, the old epoch key deleted from the erasure-key file); retired epochs a crash left are erased,
    /// and epoch keys a rolled-back seal left are deleted. On SQLite the database's WAL is then emptied of older copies
    /// of the key pages (<see cref="CityWatchDatabase.Checkpoint"/>, tried again for up to a second while a reader holds it). Returns how many epoch keys it erased.
    /// </summary>
    public int EraseDestroyed()
    {
        if (!database.HasErasureKeys)
        {
            return 0; // PostgreSQL without a local erasure-key file: nothing was sealed there (Seal refuses).
        }

        List<string> dirty;
        using (var connection = database.Connect())
        {
            dirty = connection.Query<string>("SELECT DISTINCT epoch FROM evidence_erasures ORDER BY epoch").ToList();
        }

        if (dirty.Count > 0)
        {
            var master = database.Keys.Secret(KeyRing.EvidenceMaster, "evidence erasure: rewrapping an epoch's surviving keys", create: false);
            foreach (var epoch in dirty)
            {
                Rotate(epoch, master);
            }
        }

        var erased = EraseRetired() + EraseOrphans();
        // A reader in the WAL (the sequencer, a background checkpoint) keeps the truncation from happening: try for a
        // while, and otherwise leave it to the next destruction's checkpoint or the next start.
        for (var attempt = 0; !database.Dialect.IsPostgres && !database.Checkpoint() && attempt < 20; attempt++)
        {
            Thread.Sleep(50);
        }

        return erased;
    }

    public bool Exists(string keyId)
    {
        using var connection = database.Connect();
        return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_keys WHERE key_id = @keyId", new { keyId }) > 0;
    }

    /// <summary>The period an instant's items are sealed in: its UTC hour, <c>yyyyMMddTHH</c>.</summary>
    internal static string Period(DateTimeOffset at) => at.UtcDateTime.ToString("yyyyMMdd'T'HH", CultureInfo.InvariantCulture);

    // The open epoch of the period, held against rotation until the caller's transaction ends; a new one if none.
    private (string Epoch, byte[] Key) OpenEpoch(byte[] master, DbConnection connection, DbTransaction transaction, DateTimeOffset now)
    {
        var period = Period(now);
        var lockRow = database.Dialect.IsPostgres ? " FOR SHARE" : "";
        var open = connection.Query<string>(
            $"SELECT id FROM evidence_epochs WHERE period = @period AND state = '{OpenState}' ORDER BY id LIMIT 1{lockRow}", new { period }, transaction).FirstOrDefault();
        if (open is not null && database.ErasureKeys.Get(open) is { } wrapped)
        {
            return (open, Decrypt(master, wrapped, EpochData(open)));
        }

        // None yet, or one whose key this server does not hold (a crash between the key and its row): a fresh epoch.
        var epoch = NewEpochId(period);
        var key = RandomNumberGenerator.GetBytes(KeySize);
        database.ErasureKeys.Put(epoch, Encrypt(master, key, EpochData(epoch)), time.GetUtcNow());
        connection.Execute(
            $"INSERT INTO evidence_epochs (id, period, state, opened_at) VALUES (@epoch, @period, '{OpenState}', @at)",
            new { epoch, period, at = Timestamps.Format(now) },
            transaction);
        return (epoch, key);
    }

    private static StoredKey? ReadKey(string keyId, DbConnection connection, DbTransaction? transaction) =>
        connection.QuerySingleOrDefault<StoredKey?>("SELECT wrapped, epoch FROM evidence_keys WHERE key_id = @keyId", new { keyId }, transaction);

    private byte[] ItemKey(string keyId, StoredKey? read, DbConnection connection, DbTransaction? transaction)
    {
        // A rotation may move the key to a new epoch and erase the old one between the row's read and the epoch key's: read again.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var row = (attempt == 0 ? read : ReadKey(keyId, connection, transaction)) ?? throw new EvidenceDestroyedException(keyId);
            var master = transaction is null
                ? database.Keys.Secret(KeyRing.EvidenceMaster, "evidence read", create: false)
                : database.Keys.SecretWithin(KeyRing.EvidenceMaster, "evidence read", connection, transaction);
            if (row.Epoch is null)
            {
                return Decrypt(master, row.Wrapped, keyId);
            }

            if (database.ErasureKeys.Get(row.Epoch) is { } wrappedEpoch)
            {
                var epochKey = Decrypt(master, wrappedEpoch, EpochData(row.Epoch));
                try
                {
                    return Decrypt(epochKey, row.Wrapped, WrappedData(keyId, row.Epoch));
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(epochKey);
                }
            }
        }

        // The key row names an epoch this server's erasure-key file does not hold.
        throw new EvidenceDestroyedException(keyId);
    }

    // Retires an epoch and rewraps its surviving item keys under a fresh one, in one transaction.
    private void Rotate(string epoch, byte[] master)
    {
        using var connection = database.Connect();
        using var transaction = database.Dialect.BeginWrite(connection);
        var retired = connection.Execute(
            $"UPDATE evidence_epochs SET state = '{RetiredState}' WHERE id = @epoch AND state = '{OpenState}'", new { epoch }, transaction) > 0;
        if (retired)
        {
            var survivors = connection.Query<(string KeyId, byte[] Wrapped)>(
                "SELECT key_id, wrapped FROM evidence_keys WHERE epoch = @epoch", new { epoch }, transaction).ToList();
            if (survivors.Count > 0)
            {
                Rewrap(epoch, survivors, master, connection, transaction);
            }
        }

        connection.Execute("DELETE FROM evidence_erasures WHERE epoch = @epoch", new { epoch }, transaction);
        transaction.Commit();
    }

    // Moves an epoch's surviving item keys under a fresh epoch of the same period (its key written to the file first).
    private void Rewrap(string epoch, List<(string KeyId, byte[] Wrapped)> survivors, byte[] master, DbConnection connection, DbTransaction transaction)
    {
        var period = connection.ExecuteScalar<string>("SELECT period FROM evidence_epochs WHERE id = @epoch", new { epoch }, transaction)!;
        var wrappedOld = database.ErasureKeys.Get(epoch)
            ?? throw new InvalidOperationException($"evidence epoch {epoch} holds {survivors.Count} keys but its key is not in {database.ErasureKeys.Path}");
        var oldKey = Decrypt(master, wrappedOld, EpochData(epoch));
        var next = NewEpochId(period);
        var nextKey = RandomNumberGenerator.GetBytes(KeySize);
        try
        {
            database.ErasureKeys.Put(next, Encrypt(master, nextKey, EpochData(next)), time.GetUtcNow());
            connection.Execute(
                $"INSERT INTO evidence_epochs (id, period, state, opened_at) VALUES (@next, @period, '{OpenState}', {database.Dialect.UtcNow})",
                new { next, period },
                transaction);
            foreach (var (keyId, wrapped) in survivors)
            {
                var itemKey = Decrypt(oldKey, wrapped, WrappedData(keyId, epoch));
                try
                {
                    connection.Execute(
                        "UPDATE evidence_keys SET wrapped = @wrapped, epoch = @next WHERE key_id = @keyId",
                        new { keyId, next, wrapped = Encrypt(nextKey, itemKey, WrappedData(keyId, next)) },
                        transaction);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(itemKey);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(oldKey);
            CryptographicOperations.ZeroMemory(nextKey);
        }
    }

    // Deletes the keys of retired epochs (no item key is or will be under them), then their rows.
    private int EraseRetired()
    {
        using var connection = database.Connect();
        var retired = connection.Query<string>($"SELECT id FROM evidence_epochs WHERE state = '{RetiredState}'").ToList();
        if (retired.Count == 0)
        {
            return 0;
        }

        var erased = database.ErasureKeys.Delete(retired);
        connection.Execute($"DELETE FROM evidence_epochs WHERE {database.Dialect.AnyOf("id", "retired")} AND state = '{RetiredState}'", new { retired });
        return erased;
    }

    // Deletes epoch keys with no epoch row that are old enough that no seal writing one can still be in its transaction.
    private int EraseOrphans()
    {
        var file = database.ErasureKeys.List();
        if (file.Count == 0)
        {
            return 0;
        }

        HashSet<string> known;
        using (var connection = database.Connect())
        {
            known = connection.Query<string>("SELECT id FROM evidence_epochs").ToHashSet(StringComparer.Ordinal);
        }

        var cutoff = time.GetUtcNow() - OrphanAge;
        return database.ErasureKeys.Delete(file.Where(k => !known.Contains(k.Id) && k.CreatedAt < cutoff).Select(k => k.Id).ToList());
    }

    private static string NewEpochId(string period) => $"{period}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}";

    private static string EpochData(string epoch) => "epoch:" + epoch;

    private static string WrappedData(string keyId, string epoch) => keyId + "@" + epoch;

    private static byte[] Encrypt(byte[] key, byte[] plaintext, string associated)
    {
        var output = new byte[Magic.Length + NonceSize + TagSize + plaintext.Length];
        Magic.CopyTo(output, 0);
        var nonce = output.AsSpan(Magic.Length, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(Magic.Length + NonceSize + TagSize), output.AsSpan(Magic.Length + NonceSize, TagSize), Encoding.UTF8.GetBytes(associated));
        return output;
    }

    private static byte[] Decrypt(byte[] key, byte[] sealedItem, string associated)
    {
        if (sealedItem.Length < Magic.Length + NonceSize + TagSize || !sealedItem.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new CryptographicException($"Evidence item {associated} is not in the sealed format.");
        }

        var plaintext = new byte[sealedItem.Length - Magic.Length - NonceSize - TagSize];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(
            sealedItem.AsSpan(Magic.Length, NonceSize),
            sealedItem.AsSpan(Magic.Length + NonceSize + TagSize),
            sealedItem.AsSpan(Magic.Length + NonceSize, TagSize),
            plaintext,
            Encoding.UTF8.GetBytes(associated));
        return plaintext;
    }
}
