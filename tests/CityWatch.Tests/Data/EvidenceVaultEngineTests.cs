using System.Security.Cryptography;
using System.Text;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Evidence;
using CityWatch.Keys;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;

namespace CityWatch.Tests.Data;

/// <summary>
/// The evidence vault's erasure epochs (<see cref="EvidenceVault"/>) on both engines: what a copy of the database taken
/// before a destruction (a PostgreSQL dead tuple, its WAL, a backup) still holds of a destroyed item's key opens nothing
/// once <see cref="EvidenceVault.EraseDestroyed"/> has run, because the epoch key it was wrapped by is gone from the
/// erasure-key file, while the items that survive in the same epoch still open. Each test runs on an empty database
/// opened with a KEK, with the audit trail open (unwrapping the master key is logged).
/// </summary>
public abstract class EvidenceVaultEngineTests
{
    private static readonly byte[] Crop = Encoding.UTF8.GetBytes("a face crop, as bytes");

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 8, 9, 15, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    private async Task<(CityWatchDatabase Database, AuditTrail Audit, EvidenceVault Vault)> VaultAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return (database, new AuditTrail(database, Time), new EvidenceVault(database, Time));
    }

    private string Seal(CityWatchDatabase database, EvidenceVault vault, byte[] item, out byte[] sealedItem)
    {
        using var connection = database.Connect();
        using var transaction = connection.BeginTransaction();
        var (keyId, sealedBytes) = vault.Seal(item, connection, transaction, Time.GetUtcNow());
        transaction.Commit();
        sealedItem = sealedBytes;
        return keyId;
    }

    private static void Destroy(CityWatchDatabase database, params string[] keyIds)
    {
        using var connection = database.Connect();
        using var transaction = connection.BeginTransaction();
        EvidenceVault.Destroy(keyIds, connection, transaction);
        transaction.Commit();
    }

    private static (byte[] Wrapped, string Epoch) KeyRow(CityWatchDatabase database, string keyId)
    {
        using var connection = database.Connect();
        return connection.QuerySingle<(byte[] Wrapped, string Epoch)>("SELECT wrapped, epoch FROM evidence_keys WHERE key_id = @keyId", new { keyId });
    }

    // Every byte of the erasure-key file as a copy of it would hold them: the file, its WAL and shared memory.
    private static byte[] FileCopy(CityWatchDatabase database)
    {
        var bytes = new List<byte>();
        foreach (var path in new[] { database.ErasureKeys.Path, database.ErasureKeys.Path + "-wal", database.ErasureKeys.Path + "-shm" })
        {
            if (File.Exists(path))
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var memory = new MemoryStream();
                stream.CopyTo(memory);
                bytes.AddRange(memory.ToArray());
            }
        }

        return [.. bytes];
    }

    private static bool Holds(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    [Fact]
    public async Task A_sealed_item_opens_and_its_key_is_wrapped_by_an_epoch_key_kept_outside_the_database()
    {
        var (database, audit, vault) = await VaultAsync();
        await using var log = audit;

        var keyId = Seal(database, vault, Crop, out var sealedItem);

        Assert.Equal(Crop, vault.Open(keyId, sealedItem));
        var (_, epoch) = KeyRow(database, keyId);
        Assert.StartsWith(EvidenceVault.Period(Time.GetUtcNow()) + "-", epoch);
        Assert.NotNull(database.ErasureKeys.Get(epoch));
        using var connection = database.Connect();
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_keys WHERE epoch IS NULL"));
    }

    [Fact]
    public async Task A_destroyed_items_key_copied_before_the_destruction_opens_nothing_once_erased_and_its_epoch_mates_still_open()
    {
        var (database, audit, vault) = await VaultAsync();
        await using var log = audit;
        var destroyed = Seal(database, vault, Crop, out var destroyedItem);
        var survivor = Seal(database, vault, Encoding.UTF8.GetBytes("another crop"), out var survivorItem);
        var (copiedWrapped, epoch) = KeyRow(database, destroyed);
        Assert.Equal(epoch, KeyRow(database, survivor).Epoch);
        var epochKeyAsStored = database.ErasureKeys.Get(epoch)!;

        Destroy(database, destroyed);
        Assert.Throws<EvidenceDestroyedException>(() => vault.Open(destroyed, destroyedItem));
        var erased = vault.EraseDestroyed();

        Assert.Equal(1, erased);
        // The copy an attacker kept (the dead tuple, the WAL) names an epoch whose key no longer exists anywhere.
        Assert.Null(database.ErasureKeys.Get(epoch));
        Assert.DoesNotContain(database.ErasureKeys.List(), k => k.Id == epoch);
        Assert.False(Holds(FileCopy(database), epochKeyAsStored), "the erased epoch key is still in the erasure-key file or its WAL");
        Assert.NotEmpty(copiedWrapped);
        // The survivor moved to a fresh epoch of the same hour and opens.
        var (_, moved) = KeyRow(database, survivor);
        Assert.NotEqual(epoch, moved);
        Assert.StartsWith(EvidenceVault.Period(Time.GetUtcNow()) + "-", moved);
        Assert.Equal("another crop", Encoding.UTF8.GetString(vault.Open(survivor, survivorItem)));
        using var connection = database.Connect();
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_erasures"));
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_epochs WHERE id = @epoch", new { epoch }));
    }

    [Fact]
    public async Task An_epoch_emptied_whole_is_erased_without_a_successor_and_the_next_seal_opens_a_fresh_one()
    {
        var (database, audit, vault) = await VaultAsync();
        await using var log = audit;
        var first = Seal(database, vault, Crop, out _);
        var second = Seal(database, vault, Crop, out _);
        var epoch = KeyRow(database, first).Epoch;

        Destroy(database, first, second);
        vault.EraseDestroyed();

        Assert.Empty(database.ErasureKeys.List());
        using (var connection = database.Connect())
        {
            Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_epochs"));
        }

        var third = Seal(database, vault, Crop, out var thirdItem);
        Assert.NotEqual(epoch, KeyRow(database, third).Epoch);
        Assert.Equal(Crop, vault.Open(third, thirdItem));
    }

    [Fact]
    public async Task Items_of_another_hour_are_in_another_epoch_and_untouched_by_this_hours_erasure()
    {
        var (database, audit, vault) = await VaultAsync();
        await using var log = audit;
        var earlier = Seal(database, vault, Crop, out var earlierItem);
        var earlierEpoch = KeyRow(database, earlier).Epoch;
        Time.Advance(EvidenceVault.EpochLength);
        var later = Seal(database, vault, Crop, out _);
        Assert.NotEqual(earlierEpoch, KeyRow(database, later).Epoch);

        Destroy(database, later);
        vault.EraseDestroyed();

        Assert.Equal(earlierEpoch, KeyRow(database, earlier).Epoch);
        Assert.Equal(Crop, vault.Open(earlier, earlierItem));
        Assert.Equal([earlierEpoch], database.ErasureKeys.List().Select(k => k.Id));
    }

    [Fact]
    public async Task A_seal_still_in_its_transaction_holds_off_the_rotation_and_is_rewrapped_by_it()
    {
        var (database, audit, vault) = await VaultAsync();
        await using var log = audit;
        var destroyed = Seal(database, vault, Crop, out _);
        var epoch = KeyRow(database, destroyed).Epoch;
        Destroy(database, destroyed);

        string pending;
        byte[] pendingItem;
        Task<int> erasing;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            (pending, pendingItem) = vault.Seal(Crop, connection, transaction, Time.GetUtcNow());
            erasing = Task.Run(vault.EraseDestroyed);
            await WaitUntilBlockedAsync(database, erasing);
            Assert.False(erasing.IsCompleted, "the rotation went ahead of a seal into its epoch that had not committed");
            transaction.Commit();
        }

        Assert.Equal(1, await erasing);
        Assert.Null(database.ErasureKeys.Get(epoch));
        Assert.NotEqual(epoch, KeyRow(database, pending).Epoch);
        Assert.Equal(Crop, vault.Open(pending, pendingItem));
    }

    [Fact]
    public async Task A_retired_epoch_a_crash_left_behind_and_an_old_orphan_key_are_erased_by_the_next_pass()
    {
        var (database, audit, vault) = await VaultAsync();
        await using var log = audit;
        var keyId = Seal(database, vault, Crop, out _);
        var epoch = KeyRow(database, keyId).Epoch;
        using (var connection = database.Connect())
        {
            // What the rotation commits for an epoch with no survivor, the process then killed before the key's deletion.
            connection.Execute("DELETE FROM evidence_keys");
            connection.Execute("UPDATE evidence_epochs SET state = 'retired'");
        }

        database.ErasureKeys.Put("orphan-old", [1, 2, 3], Time.GetUtcNow() - EvidenceVault.OrphanAge - TimeSpan.FromMinutes(1));
        database.ErasureKeys.Put("orphan-young", [4, 5, 6], Time.GetUtcNow());

        Assert.Equal(2, vault.EraseDestroyed());

        Assert.Equal(["orphan-young"], database.ErasureKeys.List().Select(k => k.Id));
        Assert.Null(database.ErasureKeys.Get(epoch));
    }

    [Fact]
    public async Task An_item_key_from_before_epochs_wrapped_by_the_master_key_still_opens_and_is_destroyed()
    {
        var (database, audit, vault) = await VaultAsync();
        await using var log = audit;
        Seal(database, vault, Crop, out _); // creates the master key
        var master = database.Keys.Secret(KeyRing.EvidenceMaster, "test: an item sealed the old way", create: false);
        var itemKey = RandomNumberGenerator.GetBytes(32);
        const string keyId = "legacy-item";
        using (var connection = database.Connect())
        {
            connection.Execute(
                "INSERT INTO evidence_keys (key_id, wrapped, created_at) VALUES (@keyId, @wrapped, @at)",
                new { keyId, wrapped = OldFormat(master, itemKey, keyId), at = Timestamps.Format(Time.GetUtcNow()) });
        }

        Assert.Equal(Crop, vault.Open(keyId, OldFormat(itemKey, Crop, keyId)));
        Destroy(database, keyId);
        vault.EraseDestroyed();
        Assert.False(vault.Exists(keyId));
    }

    // The vault's format: "CWE1", nonce, tag, ciphertext, the key id as associated data.
    private static byte[] OldFormat(byte[] key, byte[] plaintext, string keyId)
    {
        var output = new byte[4 + 12 + 16 + plaintext.Length];
        "CWE1"u8.CopyTo(output);
        RandomNumberGenerator.Fill(output.AsSpan(4, 12));
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(output.AsSpan(4, 12), plaintext, output.AsSpan(32), output.AsSpan(16, 16), Encoding.UTF8.GetBytes(keyId));
        return output;
    }

    /// <summary>Until <paramref name="work"/> waits on a lock: on PostgreSQL, a lock request not granted; on SQLite (no such view), a while.</summary>
    protected abstract Task WaitUntilBlockedAsync(CityWatchDatabase database, Task work);
}

public sealed class EvidenceVaultOnSqliteTests : EvidenceVaultEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    // SQLite shows no waiter; the rotation's BEGIN IMMEDIATE waits on the busy timeout for the seal's write lock.
    protected override Task WaitUntilBlockedAsync(CityWatchDatabase database, Task work) => Task.WhenAny(work, Task.Delay(500));

    public void Dispose() => _databases.Dispose();
}

public sealed class EvidenceVaultOnPostgresTests(PostgresFixture postgres) : EvidenceVaultEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    protected override async Task WaitUntilBlockedAsync(CityWatchDatabase database, Task work)
    {
        for (var i = 0; i < 500 && !work.IsCompleted; i++)
        {
            using (var connection = database.Connect())
            {
                if (connection.ExecuteScalar<long>("SELECT COUNT(*) FROM pg_catalog.pg_locks WHERE NOT granted") > 0)
                {
                    return;
                }
            }

            await Task.Delay(20);
        }
    }

    public void Dispose() => _databases.Dispose();
}
