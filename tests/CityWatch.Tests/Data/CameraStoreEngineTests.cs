using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The camera register's stores (<see cref="CameraStore"/>, <see cref="CameraUptime"/>) on both engines: the same tests, once on a SQLite file and once on a
/// PostgreSQL database of a real server (<see cref="PostgresServer"/>), each test on an empty database
/// migrated by <see cref="CityWatchDatabase.Migrate"/>.
/// </summary>
public abstract class CameraStoreEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync();

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
}

public sealed class CameraStoreOnSqliteTests : CameraStoreEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    public void Dispose() => _databases.Dispose();
}

public sealed class CameraStoreOnPostgresTests(PostgresFixture postgres) : CameraStoreEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    [Fact]
    public async Task An_empty_database_is_migrated_to_the_converted_features_and_only_those()
    {
        var database = await NewDatabaseAsync();

        database.Migrate(Time);

        Assert.Equal(SqlDialect.Postgres, database.Dialect);
        Assert.Equal(new Dictionary<string, int> { ["cameras"] = 3, ["policy"] = 1, ["cases"] = 2, ["watchlists"] = 3, ["alerts"] = 4, ["analysis_jobs"] = 1, ["subject_access"] = 1, ["audit"] = 4, ["identity"] = 1, ["keys"] = 1, ["settings"] = 1 }, database.SchemaVersions());
        using var connection = database.Connect();
        var tables = connection.Query<string>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
        Assert.Equal(
            [
                "accounts", "alert_decision_refusals", "alert_decisions", "alert_statistics", "alerts", "analysis_jobs", "api_keys",
                "audit_checkpoints", "audit_cosignatures", "audit_leaf_openings", "audit_leaves", "audit_outbox", "audit_outbox_rejected",
                "audit_sequenced", "audit_tiles", "audit_witnessed", "camera_health_days", "cameras", "cases", "deployments", "evidence_keys",
                "identity_salt", "invitations", "legal_bases", "role_changes", "role_grants", "schema_versions", "sessions", "setting_proposals", "settings", "sites",
                "subject_access_requests", "urgent_requests", "watchlist_entries", "watchlists", "wrapped_keys",
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
