using System.Security.Cryptography;
using System.Text;
using CityWatch.Data;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Alerts;

/// <summary>The key of an evidence item is gone (retention or urgency deletion): the item can never be read again.</summary>
public sealed class EvidenceDestroyedException(string keyId)
    : InvalidOperationException($"The key of evidence item {keyId} has been destroyed; the item cannot be read.");

/// <summary>
/// Encryption of evidence at rest, one random AES-256-GCM key per item. Item keys live in the
/// <c>evidence_keys</c> table, each wrapped (AES-GCM) by the master key, a 32-byte file in the data folder
/// created owner-read/write only (0600) on first start. The item's key id is the associated data of both
/// the wrapped key and the item, so a key or a file moved to another item does not decrypt. Deleting the
/// key row destroys the item (crypto-shredding): a copy of the file that survived anywhere (a backup, a
/// disk block) stays ciphertext. The master key is created with the first item, so a data folder that
/// never held evidence holds no key either; opening an item never creates one.
/// </summary>
/// <remarks>
/// Stored item format: "CWE1", 12-byte nonce, 16-byte tag, ciphertext. The master key file is the one
/// secret: whoever holds it and a database copy can read every item whose key has not been destroyed.
/// </remarks>
public sealed class EvidenceVault
{
    public const string MasterKeyFileName = "evidence-master.key";

    private const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Magic = "CWE1"u8.ToArray();

    private readonly CityWatchDatabase database;
    private readonly Lock gate = new();
    private byte[]? masterKey;

    public EvidenceVault(CityWatchDatabase database, string masterKeyPath)
    {
        ArgumentNullException.ThrowIfNull(database);
        this.database = database;
        MasterKeyPath = Path.GetFullPath(masterKeyPath);
    }

    /// <summary>The vault of a database: its master key sits next to the database file.</summary>
    public static EvidenceVault For(CityWatchDatabase database) =>
        new(database, Path.Combine(Path.GetDirectoryName(database.Path)!, MasterKeyFileName));

    public string MasterKeyPath { get; }

    /// <summary>A new random key for one item, wrapped and written in <paramref name="transaction"/>; returns the key id and the sealed item.</summary>
    public (string KeyId, byte[] Sealed) Seal(byte[] plaintext, SqliteConnection connection, SqliteTransaction transaction, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var keyId = Guid.NewGuid().ToString("N");
        var itemKey = RandomNumberGenerator.GetBytes(KeySize);
        try
        {
            var wrapped = Encrypt(MasterKey(create: true), itemKey, keyId);
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
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        ArgumentNullException.ThrowIfNull(sealedItem);
        byte[]? wrapped;
        using (var connection = database.Open())
        {
            wrapped = connection.ExecuteScalar<byte[]?>("SELECT wrapped FROM evidence_keys WHERE key_id = @keyId", new { keyId });
        }

        if (wrapped is null)
        {
            throw new EvidenceDestroyedException(keyId);
        }

        var itemKey = Decrypt(MasterKey(create: false), wrapped, keyId);
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
    public static int Destroy(IEnumerable<string> keyIds, SqliteConnection connection, SqliteTransaction transaction)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var count = 0;
        foreach (var keyId in keyIds)
        {
            count += connection.Execute("DELETE FROM evidence_keys WHERE key_id = @keyId", new { keyId }, transaction);
        }

        return count;
    }

    public bool Exists(string keyId)
    {
        using var connection = database.Open();
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

    private byte[] MasterKey(bool create)
    {
        lock (gate)
        {
            if (masterKey is null && !create && !File.Exists(MasterKeyPath))
            {
                throw new InvalidOperationException($"The evidence master key {MasterKeyPath} is missing; without it no evidence item can be opened.");
            }

            return masterKey ??= LoadOrCreateMasterKey(MasterKeyPath);
        }
    }

    private static byte[] LoadOrCreateMasterKey(string path)
    {
        if (File.Exists(path))
        {
            var existing = File.ReadAllBytes(path);
            return existing.Length == KeySize
                ? existing
                : throw new InvalidOperationException($"The evidence master key {path} is {existing.Length} bytes, not {KeySize}.");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var key = RandomNumberGenerator.GetBytes(KeySize);
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(key);
            stream.Flush(flushToDisk: true);
        }

        try
        {
            File.Move(temporary, path, overwrite: false);
            return key;
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another instance created it first: use that one.
            File.Delete(temporary);
            return LoadOrCreateMasterKey(path);
        }
    }
}
