using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The camera register's stores (<see cref="CameraStore"/>, <see cref="CameraUptime"/>) and its governed writes
/// (<see cref="CameraRegister"/>: stream credentials sealed through the key ring, each write with its record, a
/// governed change stopping the deployments on the camera) on both engines: the same tests, once on a SQLite file and
/// once on a PostgreSQL database of a real server (<see cref="PostgresServer"/>), each test on an empty database
/// migrated by <see cref="CityWatchDatabase.Migrate"/> (the register's opened with a KEK, as its audit trail and key ring need).
/// </summary>
public abstract class CameraStoreEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync();

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    private async Task<(CityWatchDatabase Database, CameraStore Store)> StoreAsync()
    {
        var database = await NewDatabaseAsync();
        database.Migrate(Time);
        return (database, new CameraStore(database));
    }

    private static SiteInput Harbour => new("harbour", "Harbour", 51.1, 4.1, "city");

    private static CameraInput Quay(string code = "quay-1") =>
        new(code, "harbour", "Quay", "city", "traffic", StreamUrl: "rtsp://127.0.0.1:8554/quay", AnalysisFps: 0.1, Latitude: 51.100001, Longitude: 4.100001);

    [Fact]
    public async Task A_site_and_a_camera_are_created_and_read_back_exactly()
    {
        var (_, store) = await StoreAsync();

        var site = store.CreateSite(Harbour);
        var created = store.Create(Quay());
        var read = store.Get(created.Id);

        Assert.Equal(created, read);
        Assert.Equal(site.Id, read.SiteId);
        Assert.Equal(0.1, read.AnalysisFps);
        Assert.Equal(51.100001, read.Latitude);
        Assert.True(read.Enabled);
        Assert.False(read.FaceRecognitionAllowed);
        Assert.Equal(CameraStore.DefaultAnalysisWidth, read.AnalysisWidth);
        Assert.Equal([created], store.List(0, 10).Items);
        Assert.Equal(1, store.List(0, 10, site.Id).Total);
        Assert.Equal([created], store.Streaming());
        Assert.Equal([site], store.ListSites(0, 10).Items);
        Assert.Null(store.Find(created.Id + 1));
        Assert.Throws<NotFoundException>(() => store.Get(created.Id + 1));
    }

    [Fact]
    public async Task A_replaced_camera_reads_as_changed_and_the_change_says_what_it_touched()
    {
        var (database, store) = await StoreAsync();
        store.CreateSite(Harbour);
        var camera = store.Create(Quay());

        CameraChange change;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            change = CameraStore.Replace(connection, transaction, camera.Id, Quay() with { Name = "Quay north", StreamUrl = null, FaceRecognitionAllowed = true, Enabled = false });
            transaction.Commit();
        }

        var read = store.Get(camera.Id);
        Assert.Equal(camera, change.Before);
        Assert.Equal(read, change.After);
        Assert.Equal("Quay north", read.Name);
        Assert.Null(read.StreamUrl);
        Assert.True(read.FaceRecognitionAllowed);
        Assert.False(read.Enabled);
        Assert.True(change.Governed);
        Assert.Empty(store.Streaming());
    }

    [Fact]
    public async Task A_refused_change_leaves_the_register_as_it_was()
    {
        var (database, store) = await StoreAsync();
        store.CreateSite(Harbour);
        var first = store.Create(Quay("quay-1"));
        var second = store.Create(Quay("quay-2"));

        Assert.Throws<ConflictException>(() => store.Create(Quay("quay-1")));
        Assert.Throws<ConflictException>(() => store.CreateSite(Harbour));
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.Throws<ConflictException>(() => CameraStore.Replace(connection, transaction, second.Id, Quay("quay-1") with { Name = "taken" }));
        }

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.Throws<NotFoundException>(() => CameraStore.Replace(connection, transaction, second.Id + 100, Quay("quay-3")));
            Assert.Throws<NotFoundException>(() => CameraStore.Remove(connection, transaction, second.Id + 100));
        }

        Assert.Equal([first, second], store.List(0, 10).Items);
    }

    [Fact]
    public async Task An_import_with_one_bad_camera_writes_nothing_and_a_good_one_writes_all()
    {
        var (database, store) = await StoreAsync();
        SiteInput[] sites = [Harbour, new("station", "Station", 51.2, 4.2, "rail")];

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.Throws<InvalidRequestException>(() =>
                CameraStore.Import(connection, transaction, sites, [Quay("quay-1"), Quay("quay-2") with { SiteCode = "nowhere" }]));
        }

        Assert.Equal(0, store.ListSites(0, 10).Total);
        Assert.Equal(0, store.List(0, 10).Total);

        Assert.Equal(new ImportResult(2, 2, 2, 0), store.CheckImport(sites, [Quay("quay-1"), Quay("quay-2") with { SiteCode = "station" }]));
        Assert.Equal(0, store.List(0, 10).Total);

        ImportResult result;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            (result, _) = CameraStore.Import(connection, transaction, sites, [Quay("quay-1"), Quay("quay-2") with { SiteCode = "station" }]);
            transaction.Commit();
        }

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            var (again, updated) = CameraStore.Import(connection, transaction, [Harbour with { Name = "Old harbour" }], [Quay("quay-1") with { Purpose = "safety" }]);
            transaction.Commit();
            Assert.Equal(new ImportResult(1, 1, 0, 1), again);
            Assert.Equal("safety", Assert.Single(updated).After.Purpose);
        }

        Assert.Equal(new ImportResult(2, 2, 2, 0), result);
        Assert.Equal(["Old harbour", "Station"], store.ListSites(0, 10).Items.Select(s => s.Name));
        Assert.Equal(["safety", "traffic"], store.List(0, 10).Items.Select(c => c.Purpose));
    }

    [Fact]
    public async Task A_deleted_camera_is_gone_and_its_site_stays()
    {
        var (database, store) = await StoreAsync();
        store.CreateSite(Harbour);
        var camera = store.Create(Quay());

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.Equal(camera, CameraStore.Remove(connection, transaction, camera.Id));
            transaction.Commit();
        }

        Assert.Null(store.Find(camera.Id));
        Assert.Equal(1, store.ListSites(0, 10).Total);
    }

    [Fact]
    public async Task Uptime_counts_minutes_per_camera_and_day_and_forgets_days_out_of_the_window()
    {
        var (database, store) = await StoreAsync();
        store.CreateSite(Harbour);
        var up = store.Create(Quay("quay-1"));
        var flaky = store.Create(Quay("quay-2"));
        var uptime = new CameraUptime(database, Time);
        var now = Time.GetUtcNow();

        uptime.Record(now.AddDays(-40), [(up.Id, false)]);
        uptime.Record(now.AddMinutes(-2), [(up.Id, true), (flaky.Id, true), (flaky.Id + 100, true)]);
        uptime.Record(now.AddMinutes(-1), [(up.Id, true), (flaky.Id, false)]);
        uptime.Record(now, [(up.Id, true), (flaky.Id, false), (flaky.Id, false)]);

        Assert.Equal(new Dictionary<long, double> { [up.Id] = 1.0, [flaky.Id] = 0.25 }, uptime.Shares());
        using var connection = database.Connect();
        Assert.Equal(2, connection.ExecuteScalar<int>("SELECT COUNT(*) FROM camera_health_days"));
    }

    [Fact]
    public async Task Migrating_again_changes_nothing()
    {
        var (database, store) = await StoreAsync();
        store.CreateSite(Harbour);
        var camera = store.Create(Quay());
        var versions = database.SchemaVersions();

        database.Migrate(Time);

        Assert.Equal(versions, database.SchemaVersions());
        Assert.Equal(3, versions["cameras"]);
        Assert.Equal(camera, store.Get(camera.Id));
    }

    private const string Password = "s3cret-pa55";

    private const string Credentialed = $"rtsp://viewer:{Password}@127.0.0.1:8554/quay";

    [Fact]
    public async Task A_camera_written_with_credentials_through_the_register_is_stored_sealed_and_read_back()
    {
        await using var register = await RegisterAsync();
        register.Store.CreateSite(Harbour);

        var created = await register.Cameras.CreateAsync(Quay() with { StreamUrl = Credentialed }, "admin");

        Assert.Equal(created, register.Store.Get(created.Id));
        Assert.True(StreamCredentials.IsSealed(created.StreamUrl));
        Assert.Equal("rtsp://127.0.0.1:8554/quay", StreamCredentials.Strip(created.StreamUrl));
        Assert.Equal(Credentialed, register.Store.IngestUrl(created));
        register.AssertNotInClear(Password, "viewer:");
        Assert.Equal([KeyRing.StreamCredentials], register.KeyNames());

        // A client writes back what it read (no credentials): the stored ones are kept, and nothing governed changed.
        var edited = await register.Cameras.UpdateAsync(created.Id, Quay() with { StreamUrl = "rtsp://127.0.0.1:8554/quay", Name = "Quay north" }, "admin");
        Assert.Equal((created.StreamUrl, "Quay north"), (edited.StreamUrl, edited.Name));
        Assert.Equal(Credentialed, register.Store.IngestUrl(register.Store.Get(created.Id)));

        // New credentials are sealed anew, in the transaction of the change.
        var changed = await register.Cameras.UpdateAsync(created.Id, Quay() with { StreamUrl = "rtsp://viewer:n3w-pa55@127.0.0.1:8554/quay" }, "admin");
        Assert.True(StreamCredentials.IsSealed(changed.StreamUrl));
        Assert.Equal("rtsp://viewer:n3w-pa55@127.0.0.1:8554/quay", register.Store.IngestUrl(register.Store.Get(created.Id)));
        register.AssertNotInClear(Password, "n3w-pa55", "viewer:");

        var records = await register.LoggedAsync(AuditActions.CameraChange);
        Assert.Equal(["created", "edited", "changed"], records.Select(r => r.Outcome));
        Assert.All(records, r => Assert.Equal("admin", r.Actor));
        Assert.Equal(["false", "false", "true"], records.Select(r => Parameter(r, "credentialsChanged")));
        Assert.Equal(StreamCredentials.Fingerprint("rtsp://127.0.0.1:8554/quay"), Parameter(records[0], "newStream"));
        Assert.All(records, r => Assert.DoesNotContain(Password, r.Body, StringComparison.Ordinal));
        Assert.All(records, r => Assert.DoesNotContain("n3w-pa55", r.Body, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_refused_register_change_leaves_the_register_its_deployments_and_its_log_as_they_were()
    {
        await using var register = await RegisterAsync();
        register.Store.CreateSite(Harbour);
        var first = await register.Cameras.CreateAsync(Quay("quay-1") with { StreamUrl = Credentialed }, "admin");
        var second = await register.Cameras.CreateAsync(Quay("quay-2"), "admin");
        var deployment = await register.RunningDeploymentAsync(first.Id, Time.GetUtcNow());
        var logged = (await register.LoggedAsync(null)).Count;

        await Assert.ThrowsAsync<ConflictException>(() => register.Cameras.CreateAsync(Quay("quay-1") with { StreamUrl = "rtsp://other:pw@127.0.0.1/x" }, "admin"));
        await Assert.ThrowsAsync<ConflictException>(() => register.Cameras.UpdateAsync(second.Id, Quay("quay-1"), "admin"));
        await Assert.ThrowsAsync<NotFoundException>(() => register.Cameras.UpdateAsync(second.Id + 100, Quay("quay-3"), "admin"));
        await Assert.ThrowsAsync<NotFoundException>(() => register.Cameras.DeleteAsync(second.Id + 100, "admin"));
        // An import whose first camera is a governed change (it would stop the deployment) and whose second is bad: nothing.
        await Assert.ThrowsAsync<InvalidRequestException>(() => register.Cameras.ImportAsync(
            [Harbour],
            [Quay("quay-1") with { FaceRecognitionAllowed = true }, Quay("quay-9") with { SiteCode = "nowhere" }],
            "admin"));

        Assert.Equal([first, second], register.Store.List(0, 10).Items);
        Assert.True(register.Deployments.Get(deployment).Running);
        Assert.Equal(logged, (await register.LoggedAsync(null)).Count);

        // The same governed change on its own lands, and stops the deployment in its transaction.
        await register.Cameras.UpdateAsync(first.Id, Quay("quay-1") with { StreamUrl = "rtsp://127.0.0.1:8554/quay", FaceRecognitionAllowed = true }, "admin");
        var stopped = register.Deployments.Get(deployment);
        Assert.Equal((false, $"stopped: camera {first.Id} changed"), (stopped.Running, stopped.StopReason));
        Assert.Equal(first.StreamUrl, register.Store.Get(first.Id).StreamUrl);
        var after = await register.LoggedAsync(null);
        Assert.Equal(
            [(AuditActions.CameraChange, "changed"), (GovernanceActions.DeploymentStop, $"stopped: camera {first.Id} changed")],
            after.Skip(logged).Where(r => r.Action != KeyRing.UnwrapAction).Select(r => (r.Action, r.Outcome)));
    }

    [Fact]
    public async Task Credentials_kept_in_clear_are_sealed_once_with_their_record()
    {
        await using var register = await RegisterAsync();
        register.Store.CreateSite(Harbour);
        // What an older version stored: the URL as given (the store's own write, which seals nothing).
        var clear = register.Store.Create(Quay("quay-1") with { StreamUrl = Credentialed });
        var plain = register.Store.Create(Quay("quay-2"));
        Assert.False(StreamCredentials.IsSealed(clear.StreamUrl));

        Assert.Equal(1, await register.Cameras.SealClearCredentialsAsync());
        Assert.Equal(0, await register.Cameras.SealClearCredentialsAsync());

        var sealedCamera = register.Store.Get(clear.Id);
        Assert.True(StreamCredentials.IsSealed(sealedCamera.StreamUrl));
        Assert.Equal(Credentialed, register.Store.IngestUrl(sealedCamera));
        Assert.Equal(plain, register.Store.Get(plain.Id));
        register.AssertNotInClear(Password, "viewer:");
        var migration = Assert.Single(await register.LoggedAsync(AuditActions.KeyMigrate));
        Assert.Equal(("system:keys", "ok", KeyRing.StreamCredentials), (migration.Actor, migration.Outcome, Parameter(migration, "key")));
    }

    [Fact]
    public async Task Migrating_a_register_with_sealed_credentials_again_changes_nothing()
    {
        await using var register = await RegisterAsync();
        register.Store.CreateSite(Harbour);
        var camera = await register.Cameras.CreateAsync(Quay() with { StreamUrl = Credentialed }, "admin");
        var versions = register.Database.SchemaVersions();

        register.Database.Migrate(Time);

        Assert.Equal(versions, register.Database.SchemaVersions());
        Assert.Equal((3, 1), (versions["cameras"], versions["policy"]));
        Assert.Equal(camera, register.Store.Get(camera.Id));
        Assert.Equal(Credentialed, register.Store.IngestUrl(camera));
        Assert.Equal(0, await register.Cameras.SealClearCredentialsAsync());
    }

    private async Task<Register> RegisterAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return new Register(database, Time);
    }

    private static string? Parameter(LoggedAct act, string key)
    {
        using var body = System.Text.Json.JsonDocument.Parse(act.Body);
        return body.RootElement.GetProperty("Parameters").TryGetProperty(key, out var value) ? value.GetString() : null;
    }

    /// <summary>The camera register over one database, with the stores it writes through and its audit trail.</summary>
    private sealed class Register : IAsyncDisposable
    {
        private readonly TimeProvider _time;

        public Register(CityWatchDatabase database, TimeProvider time)
        {
            _time = time;
            Database = database;
            Audit = new AuditTrail(database, time);
            LegalBases = new LegalBasisStore(database, Audit, time);
            Deployments = new DeploymentStore(database, LegalBases, new WatchlistStore(database, time), new CameraScope(database), Audit, time);
            Cameras = new CameraRegister(database, Deployments, Audit);
            Store = new CameraStore(database);
        }

        public CityWatchDatabase Database { get; }

        public AuditTrail Audit { get; }

        public LegalBasisStore LegalBases { get; }

        public DeploymentStore Deployments { get; }

        public CameraRegister Cameras { get; }

        public CameraStore Store { get; }

        /// <summary>A deployment running on <paramref name="cameraId"/> under an authorised basis (its row only: the start's checks are the policy tests').</summary>
        public async Task<long> RunningDeploymentAsync(long cameraId, DateTimeOffset now)
        {
            var draft = new LegalBasisDraft(
                "Missing child, harbour", "Order 2026/118", "court:antwerp", LegalObjective.VictimOrMissingPersonSearch, "a child reported missing at the harbour",
                [ProcessingPurpose.Live], [cameraId], [9], now, now.AddDays(10), IsDemonstration: true);
            var basis = await LegalBases.RegisterAsync(draft, "registrar");
            await LegalBases.RecordPrerequisitesAsync(basis.Id, TestCity.SamplePrerequisites, "registrar");
            basis = await LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision("ruling 7"), "judge");
            using var connection = Database.Connect();
            using var transaction = connection.BeginTransaction();
            var id = DeploymentStore.TryInsert(connection, transaction, basis, [cameraId], [new DeploymentWatchlist(9, "digest")], "officer", _time.GetUtcNow())!.Value;
            transaction.Commit();
            return id;
        }

        /// <summary>Every record logged so far (of <paramref name="action"/>, or all), in log order.</summary>
        public async Task<IReadOnlyList<LoggedAct>> LoggedAsync(string? action)
        {
            await Audit.FlushAsync();
            return Audit.Read(0, 10_000, action);
        }

        /// <summary>The names of the keys stored (wrapped) in the database.</summary>
        public IReadOnlyList<string> KeyNames()
        {
            using var connection = Database.Connect();
            return [.. connection.Query<string>("SELECT name FROM wrapped_keys WHERE name <> @signing ORDER BY name", new { signing = KeyRing.AuditSigning })];
        }

        /// <summary>No stream URL in the cameras table holds any of <paramref name="secrets"/>.</summary>
        public void AssertNotInClear(params string[] secrets)
        {
            using var connection = Database.Connect();
            var stored = connection.Query<string>("SELECT stream_url FROM cameras WHERE stream_url IS NOT NULL").ToList();
            Assert.NotEmpty(stored);
            foreach (var secret in secrets)
            {
                Assert.All(stored, url => Assert.DoesNotContain(secret, url, StringComparison.Ordinal));
            }
        }

        public ValueTask DisposeAsync() => Audit.DisposeAsync();
    }
}

public sealed class CameraStoreOnSqliteTests : CameraStoreEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class CameraStoreOnPostgresTests(PostgresFixture postgres) : CameraStoreEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    [Fact]
    public async Task An_empty_database_is_migrated_to_the_converted_features_and_only_those()
    {
        var database = await NewDatabaseAsync();

        database.Migrate(Time);

        Assert.Equal(SqlDialect.Postgres, database.Dialect);
        Assert.Equal(new Dictionary<string, int> { ["cameras"] = 3, ["policy"] = 1, ["cases"] = 2, ["watchlists"] = 4, ["alerts"] = 5, ["analysis_jobs"] = 1, ["subject_access"] = 1, ["audit"] = 4, ["identity"] = 1, ["keys"] = 1, ["scaleout"] = 1, ["settings"] = 1 }, database.SchemaVersions());
        using var connection = database.Connect();
        var tables = connection.Query<string>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
        Assert.Equal(
            [
                "accounts", "alert_decision_refusals", "alert_decisions", "alert_statistics", "alerts", "analysis_jobs", "api_keys",
                "audit_checkpoints", "audit_cosignatures", "audit_leaf_openings", "audit_leaves", "audit_outbox", "audit_outbox_rejected",
                "audit_sequenced", "audit_tiles", "audit_witnessed", "camera_fences", "camera_health_days", "cameras", "cases", "deployments", "evidence_epochs", "evidence_erasures", "evidence_keys",
                "identity_salt", "invitations", "legal_bases", "role_changes", "role_grants", "scaleout_received", "scaleout_rejected", "schema_versions", "sessions",
                "setting_proposals", "settings", "sites", "subject_access_requests", "urgent_requests", "watchlist_entries", "watchlists", "wrapped_keys",
            ],
            tables);
        var types = connection.Query<(string Column, string Type)>(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'cameras' AND column_name IN ('id', 'latitude', 'enabled') ORDER BY column_name");
        Assert.Equal([("enabled", "boolean"), ("id", "bigint"), ("latitude", "double precision")], types);
    }

    [Fact]
    public async Task A_database_recorded_by_a_newer_citywatch_is_refused_and_the_stores_not_converted_refuse_plainly()
    {
        var database = await NewDatabaseAsync();
        database.Migrate(Time);
        using (var connection = database.Connect())
        {
            connection.Execute("UPDATE schema_versions SET version = 99 WHERE feature = 'cameras'");
        }

        var refused = Assert.Throws<SchemaTooNewException>(() => database.Migrate(Time));
        Assert.Contains("cameras at schema version 99", refused.Message, StringComparison.Ordinal);
        var unconverted = Assert.Throws<NotSupportedException>(() => database.Open());
        Assert.Contains("not on PostgreSQL yet", unconverted.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _databases.Dispose();
}
