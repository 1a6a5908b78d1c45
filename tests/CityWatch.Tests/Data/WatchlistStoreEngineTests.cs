using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Evidence;
using CityWatch.Grants;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using NSec.Cryptography;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The watchlist store (<see cref="WatchlistStore"/>) on both engines, each test on an empty database migrated
/// by <see cref="CityWatchDatabase.Migrate"/>. Opened without a key-encryption key: lists are created and read,
/// entries' metadata and digests read, the display written, and an enrolment is refused before it writes
/// anything. Opened with one (the key ring, the audit trail): enrolment with its photo and the templates loaded
/// back, approval, the removals (by hand, by expiry, under a basis) with the photo keys they destroy, and the
/// gallery a server releases to a worker (<see cref="WorkerRequests.GalleryAsync"/>).
/// </summary>
public abstract class WatchlistStoreEngineTests
{
    private const string Worker = "worker-a";

    private static readonly byte[] Jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 0xD9];

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync();

    /// <summary>An empty database on this class's engine opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

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
    public async Task An_enrolment_stores_its_photo_sealed_its_template_loads_back_exactly_and_the_cap_holds()
    {
        await using var keyed = await KeyedAsync();
        var list = keyed.Store.Create(new WatchlistInput("Wanted", ""), "curator");
        var template = Template(3);

        var entry = await EnrolAsync(keyed, list.Id, "P-1", template, basis: 7, cap: 1);
        var refused = keyed.Store.AddEntry(list.Id, new EntryInput("P-2", "wanted", "warrant photo"), "faceres", Template(4), [9], "enroller", 7, cap: 1, inTransaction: null);

        Assert.Null(refused);
        Assert.Equal([entry], keyed.Store.Entries(list.Id));
        var loaded = Assert.Single(keyed.Store.Templates(list.Id));
        Assert.Equal(entry, loaded.Entry);
        Assert.Equal(template, loaded.Template);
        using (var connection = keyed.Database.Connect())
        using (var transaction = keyed.Database.Dialect.BeginRead(connection))
        {
            var read = Assert.Single(keyed.Store.Templates(connection, transaction, [list.Id, list.Id + 1], "test: a gallery read"));
            Assert.Equal(template, read.Template);
        }

        var (stored, photo, photoKey, _) = Row(keyed.Database, entry.Id);
        Assert.Equal(-1, stored.AsSpan().IndexOf(TemplateBytes(template).AsSpan(0, 64)));
        Assert.Equal("CWE1"u8.ToArray(), photo![..4]);
        Assert.True(keyed.Vault.Exists(photoKey!));
        Assert.True(keyed.Store.HasPhoto(entry.Id));
        var viewed = keyed.Store.ViewPhoto(entry.Id, (c, t) => keyed.Audit.Stage(c, t, new AuditRecord("verifier", AuditActions.AlertView, "enrolment photo")));
        Assert.NotNull(viewed);
        await keyed.Audit.CommittedAsync(viewed.Value.Logged);
        Assert.Equal(Jpeg, viewed.Value.Jpeg);
        await keyed.Audit.FlushAsync();
        Assert.Single(keyed.Audit.Read(0, 1000, AuditActions.Enrolment));
        Assert.Single(keyed.Audit.Read(0, 1000, AuditActions.AlertView));
    }

    [Fact]
    public async Task Each_template_is_sealed_under_its_entrys_own_key_an_older_one_under_the_template_key_still_loads_and_a_moved_one_does_not_open()
    {
        await using var keyed = await KeyedAsync();
        var list = keyed.Store.Create(new WatchlistInput("Wanted", ""), "curator");
        var own = await EnrolAsync(keyed, list.Id, "P-1", Template(1));
        var second = await EnrolAsync(keyed, list.Id, "P-2", Template(2));
        // An entry an older version sealed: under the folder's template key, the entry id as associated data, no key of its own.
        var older = Template(3);
        var olderId = InsertEntry(keyed.Database, list.Id, [], Convert.ToHexStringLower(SHA256.HashData(TemplateBytes(older))), basis: null);
        using (var connection = keyed.Database.Connect())
        {
            var key = keyed.Database.Keys.Secret(KeyRing.Template, "test: an older entry", create: true);
            connection.Execute(
                "UPDATE watchlist_entries SET template = @sealed WHERE id = @olderId",
                new { olderId, @sealed = Sealing.Seal(key, TemplateBytes(older), System.Text.Encoding.ASCII.GetBytes($"watchlist-entry/{olderId}")) });
        }

        var (ownSealed, _, _, ownKey) = Row(keyed.Database, own.Id);
        Assert.NotNull(ownKey);
        Assert.NotEqual(ownKey, Row(keyed.Database, second.Id).TemplateKey);
        Assert.Null(Row(keyed.Database, olderId).TemplateKey);
        Assert.Equal("CWE1"u8.ToArray(), ownSealed[..4]);
        Assert.Equal([Template(1), Template(2), older], keyed.Store.Templates(list.Id).Select(t => t.Template));
        Assert.Equal(0, await keyed.Store.SealPlaintextTemplatesAsync(keyed.Audit));

        // The first entry's sealed template and key moved onto the second: it does not open there.
        using (var connection = keyed.Database.Connect())
        {
            connection.Execute(
                "UPDATE watchlist_entries SET template = @ownSealed, template_key = @ownKey WHERE id = @id", new { id = second.Id, ownSealed, ownKey });
        }

        Assert.Contains("does not open", Assert.Throws<InvalidOperationException>(() => keyed.Store.Templates(list.Id)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Removing_an_entry_destroys_its_photo_key_and_then_nothing_is_found_viewed_or_removed_again()
    {
        await using var keyed = await KeyedAsync();
        var list = keyed.Store.Create(new WatchlistInput("Wanted", ""), "curator");
        var removed = await EnrolAsync(keyed, list.Id, "P-1", Template(1));
        var kept = await EnrolAsync(keyed, list.Id, "P-2", Template(2));
        var removedKey = Row(keyed.Database, removed.Id).PhotoKey!;
        var removedTemplateKey = Row(keyed.Database, removed.Id).TemplateKey!;
        StagedRecord? staged = null;

        keyed.Store.RemoveEntry(list.Id, removed.Id, "investigator", (c, t) =>
            staged = keyed.Audit.Stage(c, t, new AuditRecord("investigator", AuditActions.EnrolmentRemoval, "removed", Parameters: new Dictionary<string, string>
            {
                ["watchlistCount"] = WatchlistStore.Digest(c, t, list.Id).Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            })));
        await keyed.Audit.CommittedAsync(staged!);

        Assert.False(keyed.Vault.Exists(removedKey));
        Assert.False(keyed.Vault.Exists(removedTemplateKey), "the removed entry's template key is destroyed");
        Assert.True(keyed.Vault.Exists(Row(keyed.Database, kept.Id).TemplateKey!));
        Assert.False(keyed.Store.HasPhoto(removed.Id));
        var views = 0;
        Assert.Null(keyed.Store.ViewPhoto(removed.Id, (c, t) => { views++; return keyed.Audit.Stage(c, t, new AuditRecord("v", AuditActions.AlertView, "x")); }));
        Assert.Equal(0, views);
        Assert.Equal([kept.Id], keyed.Store.Entries(list.Id).Select(e => e.Id));
        Assert.Equal([kept.Id], keyed.Store.Templates(list.Id).Select(t => t.Entry.Id));
        Assert.True(keyed.Vault.Exists(Row(keyed.Database, kept.Id).PhotoKey!));
        Assert.Equal("investigator", keyed.Store.Get(list.Id).ChangedBy);
        Assert.Throws<NotFoundException>(() => keyed.Store.RemoveEntry(list.Id, removed.Id, "investigator"));
        await keyed.Audit.FlushAsync();
        var record = Assert.Single(keyed.Audit.Read(0, 1000, AuditActions.EnrolmentRemoval));
        using var body = JsonDocument.Parse(record.Body);
        Assert.Equal("1", body.RootElement.GetProperty("Parameters").GetProperty("watchlistCount").GetString());
    }

    [Fact]
    public async Task Removal_under_a_basis_and_by_expiry_delete_exactly_their_entries_and_their_photo_keys()
    {
        await using var keyed = await KeyedAsync();
        var list = keyed.Store.Create(new WatchlistInput("Wanted", ""), "curator");
        var other = keyed.Store.Create(new WatchlistInput("Missing", ""), "curator");
        var under = new[] { await EnrolAsync(keyed, list.Id, "B-1", Template(1), basis: 7), await EnrolAsync(keyed, other.Id, "B-2", Template(2), basis: 7) };
        var expiring = await EnrolAsync(keyed, list.Id, "E-1", Template(3), expires: Time.GetUtcNow().AddHours(1));
        var kept = await EnrolAsync(keyed, list.Id, "K-1", Template(4), basis: 8);
        var keys = new[] { under[0], under[1], expiring, kept }.ToDictionary(e => e.Id, e => Row(keyed.Database, e.Id).PhotoKey!);
        var templateKeys = new[] { under[0], under[1], expiring, kept }.ToDictionary(e => e.Id, e => Row(keyed.Database, e.Id).TemplateKey!);

        IReadOnlyList<(long WatchlistId, long EntryId)> underBasis;
        using (var connection = keyed.Database.Connect())
        using (var transaction = keyed.Database.Dialect.BeginWrite(connection, WatchlistStore.WriteTables))
        {
            underBasis = keyed.Store.RemoveUnderBasis(connection, transaction, 7, "urgency-guard");
            transaction.Commit();
        }

        var staged = new List<StagedRecord>();
        var expired = keyed.Store.RemoveExpired(Time.GetUtcNow().AddHours(2), "governance-job", (c, t, removed) =>
            staged.Add(keyed.Audit.Stage(c, t, new AuditRecord("governance-job", GovernanceActions.WatchlistExpiry, "expired entries removed", ResultCount: removed.Count))));
        foreach (var record in staged)
        {
            await keyed.Audit.CommittedAsync(record);
        }

        Assert.Equal([(list.Id, under[0].Id), (other.Id, under[1].Id)], underBasis);
        Assert.Equal([(list.Id, expiring.Id)], expired);
        Assert.Empty(keyed.Store.RemoveExpired(Time.GetUtcNow().AddHours(2), "governance-job"));
        Assert.Equal(0, keyed.Store.CountUnderBasis(7));
        Assert.Equal([kept.Id], keyed.Store.Entries(list.Id).Select(e => e.Id));
        Assert.Empty(keyed.Store.Entries(other.Id));
        foreach (var gone in new[] { under[0], under[1], expiring })
        {
            Assert.False(keyed.Vault.Exists(keys[gone.Id]), $"the photo key of {gone.Label} is destroyed");
            Assert.False(keyed.Vault.Exists(templateKeys[gone.Id]), $"the template key of {gone.Label} is destroyed");
            Assert.False(keyed.Store.HasPhoto(gone.Id));
        }

        Assert.True(keyed.Vault.Exists(keys[kept.Id]));
        Assert.True(keyed.Vault.Exists(templateKeys[kept.Id]));
        Assert.Equal(("urgency-guard", "governance-job"), (keyed.Store.Get(other.Id).ChangedBy, keyed.Store.Get(list.Id).ChangedBy));
        await keyed.Audit.FlushAsync();
        Assert.Single(keyed.Audit.Read(0, 1000, GovernanceActions.WatchlistExpiry));
    }

    [Fact]
    public async Task An_approval_stamps_the_pending_entries_once_and_the_enroller_or_a_second_approval_is_refused()
    {
        await using var keyed = await KeyedAsync();
        var list = keyed.Store.Create(new WatchlistInput("Wanted", ""), "curator");
        var first = await EnrolAsync(keyed, list.Id, "P-1", Template(1));
        var second = await EnrolAsync(keyed, list.Id, "P-2", Template(2));

        var own = keyed.Store.Approve(list.Id, "enroller");
        var approved = keyed.Store.Approve(list.Id, "approver", (c, t, approval) => Assert.Equal([first.Id, second.Id], approval.Entries));

        Assert.Null(own.Approved);
        Assert.EndsWith("another account must approve it", own.Refusal, StringComparison.Ordinal);
        Assert.Null(approved.Refusal);
        Assert.Equal([first.Id, second.Id], approved.Entries);
        Assert.True(approved.Approved!.Approved);
        Assert.All(keyed.Store.Entries(list.Id), e => Assert.Equal("approver", e.ApprovedBy));
        Assert.Throws<ConflictException>(() => keyed.Store.Approve(list.Id, "approver"));
    }

    [Fact]
    public async Task The_gallery_released_to_a_worker_holds_exactly_the_grants_watchlists_opens_only_with_its_key_and_is_logged()
    {
        await using var keyed = await KeyedAsync();
        var list = keyed.Store.Create(new WatchlistInput("Wanted", ""), "curator");
        var other = keyed.Store.Create(new WatchlistInput("Missing", ""), "curator");
        var e1 = await EnrolAsync(keyed, list.Id, "P-1", Template(1));
        var e2 = await EnrolAsync(keyed, list.Id, "P-2", Template(2));
        await EnrolAsync(keyed, other.Id, "P-3", Template(3));
        using var crops = new CropSealing(keyed.Database);
        var requests = new WorkerRequests(
            keyed.Cameras, keyed.Policy, keyed.Store, leases: null!, crops, keyed.Audit, keyed.Database, () => 0.42f, Time); // the gallery release reads no lease
        var grant = SignedGrantFor(keyed.Database, Worker, camera: 1, [list.Id]);
        using var recipient = SealedBox.NewRecipientKey();

        var reply = await requests.GalleryAsync(Worker, new GalleryRequest(Worker, grant, Convert.ToBase64String(SealedBox.PublicKeyOf(recipient))));

        Assert.Null(reply.Refusal);
        var grantId = SignedGrant.Parse(grant).Claims.Id;
        var box = Convert.FromBase64String(reply.Sealed!);
        Assert.Throws<CryptographicException>(() => SealedBox.Open(recipient, box, WorkerRequests.GalleryAssociatedData(Guid.NewGuid())));
        var snapshot = WorkerProtocol.Parse<GallerySnapshot>(SealedBox.Open(recipient, box, WorkerRequests.GalleryAssociatedData(grantId)));
        Assert.Equal(grantId, snapshot.GrantId);
        Assert.Equal([(list.Id, e1.Id, "P-1"), (list.Id, e2.Id, "P-2")], snapshot.Templates.Select(t => (t.WatchlistId, t.EntryId, t.Label)));
        Assert.Equal(TemplateBytes(Template(1)), Convert.FromBase64String(snapshot.Templates[0].Template));
        Assert.Equal(TemplateBytes(Template(2)), Convert.FromBase64String(snapshot.Templates[1].Template));
        await keyed.Audit.FlushAsync();
        var release = Assert.Single(keyed.Audit.Read(0, 10_000, WorkerRequests.GalleryReleaseAction));
        using var body = JsonDocument.Parse(release.Body);
        var parameters = body.RootElement.GetProperty("Parameters");
        Assert.Equal((Worker, "2", WorkerRequests.Fingerprint(SealedBox.PublicKeyOf(recipient))), (parameters.GetProperty("worker").GetString(), parameters.GetProperty("entries").GetString(), parameters.GetProperty("recipient").GetString()));
    }

    [Fact]
    public async Task Migrating_again_keeps_the_watchlists_at_their_version_and_their_rows()
    {
        var (database, store) = await StoreAsync();
        var list = store.Create(new WatchlistInput("Wanted", "", "red", Sound: true), "curator");

        database.Migrate(Time);

        Assert.Equal(4, database.SchemaVersions()["watchlists"]);
        Assert.Equal(list, store.Get(list.Id));
    }

    private async Task<Keyed> KeyedAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return new Keyed(database, Time);
    }

    // An enrolment as Enrolment.EnrolAsync makes it: the photo sealed and the record staged in the enrolment's transaction.
    private async Task<WatchlistEntry> EnrolAsync(Keyed keyed, long watchlistId, string label, float[] template, long? basis = null, int? cap = null, DateTimeOffset? expires = null)
    {
        StagedRecord? staged = null;
        var entry = keyed.Store.AddEntry(watchlistId, new EntryInput(label, "wanted", "warrant photo", expires), "faceres", template, [1, 2, 3], "enroller", basis, cap, (c, t, entryId, templateHash, digest) =>
        {
            keyed.Store.StorePhoto(c, t, entryId, Jpeg);
            staged = keyed.Audit.Stage(c, t, new AuditRecord("enroller", AuditActions.Enrolment, "enrolled", basis, Commitments: [templateHash]));
        });
        Assert.NotNull(entry);
        await keyed.Audit.CommittedAsync(staged!);
        return entry;
    }

    private static (byte[] Template, byte[]? Photo, string? PhotoKey, string? TemplateKey) Row(CityWatchDatabase database, long entryId)
    {
        using var connection = database.Connect();
        return connection.QuerySingle<(byte[], byte[]?, string?, string?)>(
            "SELECT template, photo, photo_key, template_key FROM watchlist_entries WHERE id = @entryId", new { entryId });
    }

    private static float[] Template(int seed)
    {
        var values = new float[512];
        values[seed] = 1f;
        return values;
    }

    private static byte[] TemplateBytes(float[] template)
    {
        var bytes = new byte[template.Length * sizeof(float)];
        for (var i = 0; i < template.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), template[i]);
        }

        return bytes;
    }

    // A live grant signed with the database's grant-signing key, as the policy engine signs one for a worker.
    private string SignedGrantFor(CityWatchDatabase database, string worker, long camera, long[] watchlists)
    {
        var now = Time.GetUtcNow();
        using var key = Key.Import(SignatureAlgorithm.Ed25519, database.Keys.GrantSigningSeed("test: a grant for the gallery"), KeyBlobFormat.RawPrivateKey);
        var claims = new GrantClaims(
            Guid.NewGuid(), 0, ProcessingPurpose.Live, camera, watchlists, null, now, now + PolicyEngine.GrantLifetime, worker,
            SignedGrant.KeyIdOf(key.PublicKey.Export(KeyBlobFormat.RawPublicKey)));
        var bytes = claims.ToCanonicalJson();
        return new SignedGrant(GrantClaims.FromCanonicalJson(bytes), bytes, SignatureAlgorithm.Ed25519.Sign(key, SignedGrant.SignedBytes(bytes))).ToString();
    }

    /// <summary>The watchlist store over a database opened with its KEK, its audit trail and vault, and the policy engine a gallery release verifies grants with.</summary>
    private sealed class Keyed : IAsyncDisposable
    {
        private readonly string _evidence = TestPaths.NewScratchDirectory();

        public Keyed(CityWatchDatabase database, TimeProvider time)
        {
            Database = database;
            Audit = new AuditTrail(database, time);
            Store = new WatchlistStore(database, time);
            Vault = EvidenceVault.For(database);
            Cameras = new CameraStore(database);
            var legalBases = new LegalBasisStore(database, Audit, time);
            var scope = new CameraScope(database);
            var deployments = new DeploymentStore(database, legalBases, Store, scope, Audit, time);
            var urgency = new UrgencyGuard(database, legalBases, deployments, Store, new AlertStore(database, _evidence), Audit);
            Policy = new PolicyEngine(legalBases, Cameras, deployments, Store, scope, urgency, new CaseStore(database, legalBases, scope, Audit, time), Audit, database, time);
        }

        public CityWatchDatabase Database { get; }

        public AuditTrail Audit { get; }

        public WatchlistStore Store { get; }

        public EvidenceVault Vault { get; }

        public CameraStore Cameras { get; }

        public PolicyEngine Policy { get; }

        public async ValueTask DisposeAsync()
        {
            await Audit.DisposeAsync();
            Directory.Delete(_evidence, recursive: true);
        }
    }
}

public sealed class WatchlistStoreOnSqliteTests : WatchlistStoreEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class WatchlistStoreOnPostgresTests(PostgresFixture postgres) : WatchlistStoreEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

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
