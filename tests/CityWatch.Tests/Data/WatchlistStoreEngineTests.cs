using System.Buffers.Binary;
using System.Security.Cryptography;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The watchlist store (<see cref="WatchlistStore"/>) on both engines, each test on an empty database migrated
/// by <see cref="CityWatchDatabase.Migrate"/> and opened without a key-encryption key: lists are created and
/// read, entries' metadata and digests read, the display written. What touches templates needs the key ring and
/// what stages a record needs the audit trail: both SQLite only, covered there by the governance tests; here an
/// enrolment without the key ring is refused before it writes anything, on either engine.
/// </summary>
public abstract class WatchlistStoreEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync();

    private async Task<(CityWatchDatabase Database, WatchlistStore Store)> StoreAsync()
    {
        var database = await NewDatabaseAsync();
        database.Migrate(Time);
        return (database, new WatchlistStore(database, Time));
    }

    // An entry as an enrolment leaves it, written directly: the template is opaque bytes to the database.
    private static long InsertEntry(CityWatchDatabase database, long watchlistId, byte[] template, string templateHash, long? basis)
    {
        using var connection = database.Connect();
        return connection.ExecuteScalar<long>(
            """
            INSERT INTO watchlist_entries (watchlist_id, label, category, image_source, legal_basis_id, enrolled_by, enrolled_at, model, template, template_hash, label_salt)
            VALUES (@watchlistId, 'P-1', 'missing person', 'family photo', @basis, 'enroller', '2026-12-03T09:00:00.0000000+00:00', 'faceres', @template, @templateHash, @salt)
            RETURNING id
            """,
            new { watchlistId, basis, template, templateHash, salt = new byte[] { 0, 1, 2, 255 } });
    }

    [Fact]
    public async Task A_watchlist_is_created_and_read_back_exactly_and_a_second_with_its_name_is_a_conflict()
    {
        var (_, store) = await StoreAsync();

        var created = store.Create(new WatchlistInput("Missing persons", "reported missing", "teal", Sound: true), "curator");

        Assert.Equal(created, store.Get(created.Id));
        Assert.Equal(created, store.GetByName("Missing persons"));
        Assert.Equal(("Missing persons", "reported missing", "curator", Time.GetUtcNow(), 0, "teal", true), (created.Name, created.Description, created.CreatedBy, created.CreatedAt, created.Entries, created.Colour, created.Sound));
        Assert.False(created.Approved);
        Assert.Throws<ConflictException>(() => store.Create(new WatchlistInput(" Missing persons ", "again"), "other"));
        Assert.Equal([created], store.List());
        Assert.Empty(store.Entries(created.Id));
        Assert.Throws<NotFoundException>(() => store.Get(created.Id + 1));
        Assert.Throws<NotFoundException>(() => store.GetByName("nobody"));
        var digest = Assert.Single(store.Digests());
        Assert.Equal((created.Id, 0L, Convert.ToHexStringLower(SHA256.HashData([]))), (digest.WatchlistId, digest.Count, digest.Hex));
    }

    [Fact]
    public async Task An_entry_is_read_without_its_template_counted_under_its_basis_and_in_the_digest_and_its_bytes_kept_exactly()
    {
        var (database, store) = await StoreAsync();
        var list = store.Create(new WatchlistInput("Wanted", ""), "curator");
        var template = new byte[512];
        RandomNumberGenerator.Fill(template);
        var templateHash = Convert.ToHexStringLower(SHA256.HashData(template));

        var entryId = InsertEntry(database, list.Id, template, templateHash, basis: 7);

        var entry = Assert.Single(store.Entries(list.Id));
        Assert.Equal((entryId, list.Id, "P-1", 7L, "enroller", "faceres", templateHash), (entry.Id, entry.WatchlistId, entry.Label, entry.LegalBasisId!.Value, entry.EnrolledBy, entry.Model, entry.TemplateHash));
        Assert.Equal(1, store.CountUnderBasis(7));
        Assert.Equal(0, store.CountUnderBasis(8));
        Assert.Equal(1, store.Get(list.Id).Entries);
        var expected = new byte[8 + 32];
        BinaryPrimitives.WriteInt64BigEndian(expected, entryId);
        Convert.FromHexString(templateHash).CopyTo(expected, 8);
        var digest = Assert.Single(store.Digests());
        Assert.Equal(1L, digest.Count);
        Assert.Equal(SHA256.HashData(expected), digest.RootHash);
        Assert.Equal(digest.Hex, store.Get(list.Id).CurrentDigest);
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.Equal(digest.RootHash, WatchlistStore.Digest(connection, transaction, list.Id).RootHash);
        }

        using var reader = database.Connect();
        Assert.Equal(template, reader.ExecuteScalar<byte[]>("SELECT template FROM watchlist_entries WHERE id = @entryId", new { entryId }));
    }

    [Fact]
    public async Task The_display_is_written_in_the_callers_transaction_keeping_what_is_left_out_and_a_missing_list_writes_nothing()
    {
        var (database, store) = await StoreAsync();
        var list = store.Create(new WatchlistInput("Wanted", ""), "curator");

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.Equal(("red", false), WatchlistStore.WriteDisplay(connection, transaction, list.Id, "red", null));
            Assert.Equal(("red", true), WatchlistStore.WriteDisplay(connection, transaction, list.Id, null, true));
            Assert.Throws<NotFoundException>(() => WatchlistStore.WriteDisplay(connection, transaction, list.Id + 1, "teal", false));
            transaction.Commit();
        }

        Assert.Equal(("red", true), (store.Get(list.Id).Colour, store.Get(list.Id).Sound));
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            WatchlistStore.WriteDisplay(connection, transaction, list.Id, "teal", false);
            transaction.Rollback();
        }

        Assert.Equal(("red", true), (store.Get(list.Id).Colour, store.Get(list.Id).Sound));
        Assert.Equal(list with { Colour = "red", Sound = true }, store.Get(list.Id));
    }

    [Fact]
    public async Task Without_the_key_ring_an_enrolment_is_refused_before_anything_is_written()
    {
        var (database, store) = await StoreAsync();
        var list = store.Create(new WatchlistInput("Wanted", ""), "curator");

        Assert.Throws<KeyEncryptionKeyRequiredException>(() =>
            store.AddEntry(list.Id, new EntryInput("P-1", "wanted", "warrant photo"), "faceres", new float[512], [1, 2, 3], "enroller"));

        Assert.Empty(store.Entries(list.Id));
        Assert.Equal(list, store.Get(list.Id));
        using var connection = database.Connect();
        Assert.Equal(0, connection.ExecuteScalar<int>("SELECT COUNT(*) FROM watchlist_entries"));
    }

    [Fact]
    public async Task Migrating_again_keeps_the_watchlists_at_their_version_and_their_rows()
    {
        var (database, store) = await StoreAsync();
        var list = store.Create(new WatchlistInput("Wanted", "", "red", Sound: true), "curator");

        database.Migrate(Time);

        Assert.Equal(3, database.SchemaVersions()["watchlists"]);
        Assert.Equal(list, store.Get(list.Id));
    }
}

public sealed class WatchlistStoreOnSqliteTests : WatchlistStoreEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    public void Dispose() => _databases.Dispose();
}

public sealed class WatchlistStoreOnPostgresTests(PostgresFixture postgres) : WatchlistStoreEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    [Fact]
    public async Task Templates_and_label_salts_are_bytea_and_the_tone_a_boolean()
    {
        var database = await NewDatabaseAsync();
        database.Migrate(Time);

        using var connection = database.Connect();
        var types = connection.Query<(string Table, string Column, string Type)>(
            """
            SELECT table_name, column_name, data_type FROM information_schema.columns
            WHERE (table_name = 'watchlist_entries' AND column_name IN ('id', 'template', 'label_salt')) OR (table_name = 'watchlists' AND column_name = 'sound')
            ORDER BY table_name, column_name
            """);
        Assert.Equal([("watchlist_entries", "id", "bigint"), ("watchlist_entries", "label_salt", "bytea"), ("watchlist_entries", "template", "bytea"), ("watchlists", "sound", "boolean")], types);
    }

    public void Dispose() => _databases.Dispose();
}
