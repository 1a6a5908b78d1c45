using System.Security.Cryptography;
using System.Text;
using CityWatch.Data;
using CityWatch.Keys;
using Dapper;
using System.Data.Common;

namespace CityWatch.Evidence;

/// <summary>The key of an evidence item is gone (retention or urgency deletion): the item can never be read again.</summary>
public sealed class EvidenceDestroyedException(string keyId)
    : InvalidOperationException($"The key of evidence item {keyId} has been destroyed; the item cannot be read.");

/// <summary>
/// Encryption of evidence at rest, one random AES-256-GCM key per item. Item keys live in the
/// <c>evidence_keys</c> table, each wrapped (AES-GCM) by the master key, which itself is stored only wrapped
/// by the data folder's key-encryption key (<see cref="KeyRing"/>, key <c>evidence-master</c>): a copy of the
/// data folder without the KEK opens nothing. The item's key id is the associated data of both the wrapped
/// key and the item, so a key or a file moved to another item does not decrypt. Deleting the key row
/// destroys the item (crypto-shredding): a copy of the file that survived anywhere (a backup, a disk block)
/// stays ciphertext. The master key is created with the first item, so a data folder that never held
/// evidence holds no key either; opening an item never creates one. Unwrapping the master key is recorded
/// in the audit log (once per process, with the reason: the first seal or read).
/// </summary>
/// <remarks>
/// Stored item format: "CWE1", 12-byte nonce, 16-byte tag, ciphertext. An older data folder's plaintext
/// <c>evidence-master.key</c> is wrapped and deleted when the folder is first opened with a KEK.
/// </remarks>
public sealed class EvidenceVault
{
    public const string MasterKeyFileName = KeyRing.LegacyEvidenceKeyFile;

    private const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Magic = "CWE1"u8.ToArray();

    private readonly CityWatchDatabase database;

    /// <param name="database">The database, opened with its KEK (an older folder's plaintext master key is migrated when the KEK is first checked).</param>
    public EvidenceVault(CityWatchDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        this.database = database;
    }

    /// <summary>The vault of a database.</summary>
    public static EvidenceVault For(CityWatchDatabase database) => new(database);

    /// <summary>Whether the data folder holds a (wrapped) master key, that is, has ever sealed evidence.</summary>
    public bool HasMasterKey => database.Keys.Has(KeyRing.EvidenceMaster);

    /// <summary>A new random key for one item, wrapped and written in <paramref name="transaction"/>; returns the key id and the sealed item.</summary>
    public (string KeyId, byte[] Sealed) Seal(byte[] plaintext, DbConnection connection, DbTransaction transaction, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var keyId = Guid.NewGuid().ToString("N");
        var itemKey = RandomNumberGenerator.GetBytes(KeySize);
        try
        {
            var wrapped = Encrypt(database.Keys.SecretWithin(KeyRing.EvidenceMaster, "evidence seal", connection, transaction), itemKey, keyId);
            connection.Execute(
                "INSERT INTO evidence_keys (key_id, wrapped, created_at) VALUES (@keyId, @wrapped, @at)",
                new { keyId, wrapped, at = Timestamps.Format(now) },
                transaction);
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
    public byte[] OpenWithin(string keyId, byte[] sealedItem, DbConnection connection, DbTransaction? transaction)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        ArgumentNullException.ThrowIfNull(sealedItem);
        ArgumentNullException.ThrowIfNull(connection);
        var wrapped = connection.ExecuteScalar<byte[]?>("SELECT wrapped FROM evidence_keys WHERE key_id = @keyId", new { keyId }, transaction)
            ?? throw new EvidenceDestroyedException(keyId);
        var master = transaction is null
            ? database.Keys.Secret(KeyRing.EvidenceMaster, "evidence read", create: false)
            : database.Keys.SecretWithin(KeyRing.EvidenceMaster, "evidence read", connection, transaction);
        var itemKey = Decrypt(master, wrapped, keyId);
        try
        {
            return Decrypt(itemKey, sealedItem, keyId);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(itemKey);
        }
    }

    /// <summary>Destroys item keys (in the caller's transaction); their items become unreadable. Returns how many existed.</summary>
    public static int Destroy(IEnumerable<string> keyIds, DbConnection connection, DbTransaction transaction)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var count = 0;
        foreach (var keyId in keyIds)
        {
            count += connection.Execute("DELETE FROM evidence_keys WHERE key_id = @keyId", new { keyId }, transaction);
        }

        return count;
    }

    /// <summary>
    /// Makes what <see cref="Destroy"/> destroyed unrecoverable from a copy of the data folder too: call it after the
    /// destroying transaction commits. On SQLite it empties the WAL of older copies of the key pages
    /// (<see cref="CityWatchDatabase.Checkpoint"/>).
    /// </summary>
    public void EraseDestroyed()
    {
        if (!database.Dialect.IsPostgres)
        {
            database.Checkpoint();
        }
    }

    public bool Exists(string keyId)
    {
        using var connection = database.Connect();
        return connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_keys WHERE key_id = @keyId", new { keyId }) > 0;
    }

    private static byte[] Encrypt(byte[] key, byte[] plaintext, string keyId)
    {
        var output = new byte[Magic.Length + NonceSize + TagSize + plaintext.Length];
        Magic.CopyTo(output, 0);
        var nonce = output.AsSpan(Magic.Length, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(Magic.Length + NonceSize + TagSize), output.AsSpan(Magic.Length + NonceSize, TagSize), Encoding.UTF8.GetBytes(keyId));
        return output;
    }

    private static byte[] Decrypt(byte[] key, byte[] sealedItem, string keyId)
    {
        if (sealedItem.Length < Magic.Length + NonceSize + TagSize || !sealedItem.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new CryptographicException($"Evidence item {keyId} is not in the sealed format.");
        }

        var plaintext = new byte[sealedItem.Length - Magic.Length - NonceSize - TagSize];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(
            sealedItem.AsSpan(Magic.Length, NonceSize),
            sealedItem.AsSpan(Magic.Length + NonceSize + TagSize),
            sealedItem.AsSpan(Magic.Length + NonceSize, TagSize),
            plaintext,
            Encoding.UTF8.GetBytes(keyId));
        return plaintext;
    }
}
