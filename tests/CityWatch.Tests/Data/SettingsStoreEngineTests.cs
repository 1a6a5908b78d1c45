using CityWatch.Data;
using CityWatch.Settings;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The settings feature's SQL (<see cref="SettingsStore"/>, <see cref="SettingProposals"/>) on both engines: the
/// reads and the row writes, each test on an empty database migrated by <see cref="CityWatchDatabase.Migrate"/>.
/// The audited writes stage through <c>AuditTrail</c>, which is SQLite only: they are covered on SQLite by
/// <c>SettingsStoreTests</c> and <c>SettingsGovernanceTests</c>.
/// </summary>
public abstract class SettingsStoreEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync();

    private async Task<CityWatchDatabase> MigratedAsync()
    {
        var database = await NewDatabaseAsync();
        database.Migrate(Time);
        return database;
    }

    private static ProposalInput Threshold(string value = "0.7") => new(SettingsStore.ThresholdKey("faceres"), value, "calibrated on our footage");

    [Fact]
    public async Task A_setting_is_written_read_back_exactly_and_replaced_in_its_one_row()
    {
        var database = await MigratedAsync();
        var first = Time.GetUtcNow();

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.Null(SettingsStore.Upsert(connection, transaction, "vision.threshold.faceres", "0.6391", "cli:eval", first));
            Assert.Equal("0.6391", SettingsStore.Upsert(connection, transaction, "vision.threshold.faceres", "0.65", "approver", first.AddMinutes(5)));
            SettingsStore.Upsert(connection, transaction, "vision.embedder", "faceres", "approver", first);
            transaction.Commit();
        }

        using var reader = database.Connect();
        Assert.Equal(new Setting("vision.threshold.faceres", "0.65", "approver", first.AddMinutes(5)), SettingsStore.Read(reader, null, "vision.threshold.faceres"));
        Assert.Null(SettingsStore.Read(reader, null, "vision.threshold.arcface"));
        Assert.Equal(["vision.embedder", "vision.threshold.faceres"], SettingsStore.ReadAll(reader).Select(s => s.Key));
        Assert.Equal(2, reader.ExecuteScalar<int>("SELECT COUNT(*) FROM settings"));
    }

    [Fact]
    public async Task A_write_rolled_back_leaves_the_setting_as_it_was()
    {
        var database = await MigratedAsync();
        var at = Time.GetUtcNow();
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            SettingsStore.Upsert(connection, transaction, "vision.embedder", "faceres", "approver", at);
            transaction.Commit();
        }

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            SettingsStore.Upsert(connection, transaction, "vision.embedder", "arcface-r100", "other", at.AddDays(1));
            SettingsStore.Upsert(connection, transaction, "vision.detector", "yunet", "other", at.AddDays(1));
            Assert.Equal("arcface-r100", SettingsStore.Read(connection, transaction, "vision.embedder")!.Value);
            transaction.Rollback();
        }

        using var reader = database.Connect();
        Assert.Equal([new Setting("vision.embedder", "faceres", "approver", at)], SettingsStore.ReadAll(reader));
    }

    [Fact]
    public async Task A_proposal_is_stored_pending_and_decided_once_the_second_decision_changing_nothing()
    {
        var database = await MigratedAsync();
        var proposedAt = Time.GetUtcNow();
        long id;
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            id = SettingProposals.Insert(connection, transaction, Threshold(), "proposer", proposedAt, warning: null);
            Assert.NotEqual(id, SettingProposals.Insert(connection, transaction, Threshold("0.5"), "proposer", proposedAt, "below the validated operating point"));
            transaction.Commit();
        }

        using (var connection = database.Connect())
        {
            Assert.Equal(
                new SettingProposal(id, Threshold().Key, "0.7", Threshold().Reason, "proposer", proposedAt, ProposalStatus.Pending, null, null, null),
                SettingProposals.Read(connection, null, id));
        }

        var decidedAt = proposedAt.AddHours(1);
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.True(SettingProposals.TryDecide(connection, transaction, id, ProposalStatus.Approved, "approver", decidedAt));
            Assert.False(SettingProposals.TryDecide(connection, transaction, id, ProposalStatus.Rejected, "second-approver", decidedAt.AddMinutes(1)));
            Assert.False(SettingProposals.TryDecide(connection, transaction, id + 100, ProposalStatus.Approved, "approver", decidedAt));
            transaction.Commit();
        }

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(SettingProposals.TryDecide(connection, transaction, id, ProposalStatus.Rejected, "late", decidedAt.AddDays(1)));
            transaction.Commit();
        }

        using var reader = database.Connect();
        var decided = SettingProposals.Read(reader, null, id)!;
        Assert.Equal((ProposalStatus.Approved, "approver", decidedAt), (decided.Status, decided.DecidedBy, decided.DecidedAt!.Value));
        Assert.Equal(ProposalStatus.Pending, SettingProposals.Read(reader, null, id + 1)!.Status);
        Assert.Equal("below the validated operating point", SettingProposals.Read(reader, null, id + 1)!.Warning);
    }

    [Fact]
    public async Task Migrating_again_keeps_the_settings_at_version_1_and_their_rows()
    {
        var database = await MigratedAsync();
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            SettingsStore.Upsert(connection, transaction, "vision.embedder", "faceres", "approver", Time.GetUtcNow());
            SettingProposals.Insert(connection, transaction, Threshold(), "proposer", Time.GetUtcNow(), null);
            transaction.Commit();
        }

        database.Migrate(Time);

        Assert.Equal(1, database.SchemaVersions()["settings"]);
        using var reader = database.Connect();
        Assert.Single(SettingsStore.ReadAll(reader));
        Assert.Equal(1, reader.ExecuteScalar<int>("SELECT COUNT(*) FROM setting_proposals"));
    }
}

public sealed class SettingsStoreOnSqliteTests : SettingsStoreEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    public void Dispose() => _databases.Dispose();
}

public sealed class SettingsStoreOnPostgresTests(PostgresFixture postgres) : SettingsStoreEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    public void Dispose() => _databases.Dispose();
}
