using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Tests.Data;

public sealed class MigrationTests
{
    [Fact]
    public void A_fresh_folder_gets_every_feature_at_its_latest_version()
    {
        using var city = new TestCity();

        var expected = SchemaMigrations.Features.ToDictionary(f => f.Feature, f => f.Latest, StringComparer.Ordinal);
        Assert.Equal(expected, city.Database.SchemaVersions());
        Assert.Equal(3, city.Database.SchemaVersions()["cameras"]);
        Assert.Contains(("cameras", "latitude"), Columns(city.Database));
        Assert.Contains(("camera_health_days", "minutes_up"), Columns(city.Database));
    }

    [Fact]
    public void Running_migrate_twice_changes_nothing()
    {
        using var city = new TestCity();
        var schema = Schema(city.Database);
        var versions = VersionRows(city.Database);

        city.Time.Advance(TimeSpan.FromDays(1));
        city.Database.Migrate(city.Time);

        Assert.Equal(schema, Schema(city.Database));
        Assert.Equal(versions, VersionRows(city.Database));
    }

    [Fact]
    public async Task A_folder_from_before_schema_versions_upgrades_in_place_keeps_its_rows_and_its_log_verifies()
    {
        using var city = new TestCity(CreateAsBeforeSchemaVersions);
        var cameras = new[] { city.AddCamera("C1"), city.AddCamera("C2", faceRecognitionAllowed: false) };
        for (var i = 0; i < 40; i++)
        {
            await city.Audit.AppendAsync(new AuditRecord("t", AuditActions.Analysis, $"act {i}"));
        }

        using (var connection = city.Database.Open())
        {
            connection.Execute(
                "INSERT INTO watchlists (name, description, created_by, created_at) VALUES ('older', '', 't', @at)",
                new { at = Timestamps.Format(city.Time.GetUtcNow()) });
        }

        var size = city.Audit.Size;
        await city.Audit.DisposeAsync();
        // The trail keeps its own feature's tables current, so the folder is put back as the code before versions left
        // it: the openings one row per commitment and the tree one row per node (audit version 1), and no version rows.
        AsBeforeSchemaVersions(city.Database);
        Assert.True(AuditVerifier.VerifyDatabase(city.Database.Path).Ok);
        Assert.False(HasTable(city.Database, "schema_versions"));
        Assert.False(HasTable(city.Database, "audit_leaf_openings"));
        Assert.False(HasTable(city.Database, "audit_tiles"));

        city.Database.Migrate(city.Time);
        // Watchlists version 2: a list from before display colours shows in the default colour, without a tone.
        var older = city.Watchlists.GetByName("older");
        Assert.Equal((CityWatch.Matching.WatchlistColours.Default, false), (older.Colour, older.Sound));

        Assert.All(SchemaMigrations.Features, f => Assert.Equal(f.Latest, city.Database.SchemaVersions()[f.Feature]));
        Assert.Equal(cameras, cameras.Select(c => city.Cameras.Get(c.Id)));
        var verification = AuditVerifier.VerifyDatabase(city.Database.Path);
        Assert.True(verification.Ok, verification.Message);
        using var fresh = new TestCity();
        Assert.Equal(Columns(fresh.Database).Order(), Columns(city.Database).Order());

        await using var reopened = new AuditTrail(city.Database, city.Time);
        Assert.Equal(size, reopened.Size);
        // Audit version 2 carried every opening over: each act's committed actor still opens, from its own leaf's row.
        var acts = reopened.Read(0, (int)size).Where(a => a.Action == AuditActions.Analysis).ToList();
        Assert.Equal(40, acts.Count);
        Assert.All(acts, a => Assert.Equal("t", a.Actor));
        Assert.Equal([("Actor", "t")], reopened.Openings(acts[7].Index).Select(o => (o.Field, o.Value)));
        var after = await reopened.AppendAsync(new AuditRecord("t", AuditActions.Analysis, "after the upgrade"));
        Assert.Equal([("Actor", "t")], reopened.Openings(after).Select(o => (o.Field, o.Value)));
        Assert.True(AuditVerifier.VerifyDatabase(city.Database.Path).Ok);
    }

    [Fact]
    public void A_folder_whose_settings_tables_were_made_by_their_stores_upgrades_in_place_and_keeps_its_settings()
    {
        // As main made it: every other feature migrated, the settings tables created by the stores' own
        // CREATE TABLE IF NOT EXISTS when they were constructed, with no schema_versions row.
        using var city = new TestCity((database, time) =>
        {
            using var connection = database.Open();
            SchemaMigrations.Apply(connection, time, database.Path, SchemaMigrations.Features.Where(f => f.Feature != "settings").ToList());
            connection.Execute(SettingsSchema.Sql);
            connection.Execute(
                """
                INSERT INTO settings (key, value, changed_by, changed_at) VALUES ('vision.threshold.faceres', '0.6391', 'approver', '2026-11-01T08:00:00.0000000+00:00');
                INSERT INTO setting_proposals (key, value, reason, proposed_by, proposed_at, status, decided_by, decided_at)
                VALUES ('vision.threshold.faceres', '0.6391', 'calibrated', 'proposer', '2026-11-01T07:00:00.0000000+00:00', 'Approved', 'approver', '2026-11-01T08:00:00.0000000+00:00');
                """);
        });
        Assert.False(city.Database.SchemaVersions().ContainsKey("settings"));

        city.Database.Migrate(city.Time);

        Assert.Equal(1, city.Database.SchemaVersions()["settings"]);
        var settings = new CityWatch.Settings.SettingsStore(city.Database, city.Audit, city.Time);
        Assert.Equal(0.6391f, settings.OperatingThreshold("faceres"));
        Assert.Equal(new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero), Assert.Single(settings.List()).ChangedAt);
        var proposal = Assert.Single(new CityWatch.Settings.SettingProposals(city.Database, settings, city.Audit, city.Time).List());
        Assert.Equal((CityWatch.Settings.ProposalStatus.Approved, "approver"), (proposal.Status, proposal.DecidedBy));
        using var fresh = new TestCity();
        Assert.Equal(Columns(fresh.Database).Order(), Columns(city.Database).Order());
    }

    [Fact]
    public void A_folder_with_a_version_newer_than_the_code_knows_refuses_to_open_and_is_left_as_it_was()
    {
        using var city = new TestCity();
        using (var connection = city.Database.Open())
        {
            connection.Execute("UPDATE schema_versions SET version = 99 WHERE feature = 'audit'");
        }

        var schema = Schema(city.Database);
        var versions = VersionRows(city.Database);
        var refused = Assert.Throws<SchemaTooNewException>(() => city.Database.Migrate(city.Time));

        Assert.Contains("audit at schema version 99", refused.Message, StringComparison.Ordinal);
        Assert.Contains("newer CityWatch", refused.Message, StringComparison.Ordinal);
        Assert.Equal(schema, Schema(city.Database));
        Assert.Equal(versions, VersionRows(city.Database));
    }

    [Fact]
    public void A_folder_holding_a_feature_the_code_does_not_know_refuses_to_open()
    {
        using var city = new TestCity();
        using (var connection = city.Database.Open())
        {
            connection.Execute("INSERT INTO schema_versions (feature, version, applied_at) VALUES ('federation', 1, '2027-01-01T00:00:00Z')");
        }

        var refused = Assert.Throws<SchemaTooNewException>(() => city.Database.Migrate(city.Time));

        Assert.Contains("(federation, version 1)", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_migration_that_fails_leaves_neither_its_changes_nor_its_version_row()
    {
        using var city = new TestCity();
        var cameras = SchemaMigrations.Features.Single(f => f.Feature == "cameras").Latest;
        var failing = SchemaMigrations.Features
            .Select(f => f.Feature != "cameras" ? f : f with
            {
                Migrations = [.. f.Migrations, SchemaMigration.Sql(cameras + 1, "ALTER TABLE cameras ADD COLUMN half_done TEXT NULL; SELECT * FROM no_such_table;")],
            })
            .ToList();

        using (var connection = city.Database.Open())
        {
            Assert.Throws<SqliteException>(() => SchemaMigrations.Apply(connection, city.Time, city.Database.Path, failing));
        }

        Assert.Equal(cameras, city.Database.SchemaVersions()["cameras"]);
        Assert.DoesNotContain(("cameras", "half_done"), Columns(city.Database));
    }

    /// <summary>What <c>Migrate</c> did before schema versions: every feature's version-1 SQL and the added columns, one transaction, no record.</summary>
    private static void CreateAsBeforeSchemaVersions(CityWatchDatabase database, TimeProvider time)
    {
        using var connection = database.Open();
        using var transaction = connection.BeginTransaction();
        foreach (var feature in SchemaMigrations.Features)
        {
            feature.Migrations.Single(m => m.Version == 1).Apply(connection, transaction);
        }

        CameraSchema.AddCoordinates(connection, transaction);
        transaction.Commit();
    }

    private static void AsBeforeSchemaVersions(CityWatchDatabase database)
    {
        using var connection = database.Open();
        AuditLayouts.PutVersion1Back(connection, SqlDialect.Sqlite);
        connection.Execute("DROP TABLE schema_versions");
    }

    private static bool HasTable(CityWatchDatabase database, string table)
    {
        using var connection = database.Open();
        return connection.ExecuteScalar<long>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = @table", new { table }) == 1;
    }

    private static List<(string Table, string Column)> Columns(CityWatchDatabase database)
    {
        using var connection = database.Open();
        return connection.Query<(string, string)>(
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' ORDER BY m.name, c.cid").ToList();
    }

    private static List<string> Schema(CityWatchDatabase database)
    {
        using var connection = database.Open();
        return connection.Query<string>("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name").ToList();
    }

    private static List<(string Feature, long Version, string AppliedAt)> VersionRows(CityWatchDatabase database)
    {
        using var connection = database.Open();
        return connection.Query<(string, long, string)>("SELECT feature, version, applied_at FROM schema_versions ORDER BY feature").ToList();
    }
}
