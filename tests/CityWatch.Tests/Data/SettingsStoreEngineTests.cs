using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.Policy;
using CityWatch.Settings;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The settings feature (<see cref="SettingsStore"/>, <see cref="SettingProposals"/>) on both engines: the reads,
/// the row writes and the audited acts with their records (setting a value, proposing, approving by a second
/// person only, rejecting once), each test on an empty database opened with a KEK (the audit trail signs with a
/// wrapped key) and migrated by <see cref="CityWatchDatabase.Migrate"/>. The API and console around them:
/// <c>SettingsStoreTests</c> and <c>SettingsGovernanceTests</c>, on SQLite.
/// </summary>
public abstract class SettingsStoreEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    private async Task<CityWatchDatabase> MigratedAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return database;
    }

    [Fact]
    public async Task A_set_setting_commits_with_its_record_naming_the_value_it_replaced()
    {
        await using var feature = new Feature(await MigratedAsync(), Time);

        var first = await feature.Settings.SetOperatingThresholdAsync("faceres", 0.6391f, "cli:eval", "calibrated");
        Time.Advance(TimeSpan.FromMinutes(5));
        var second = await feature.Settings.SetAsync(SettingsStore.ThresholdKey("faceres"), "0.65", "approver", "recalibrated");

        Assert.Equal(new Setting(SettingsStore.ThresholdKey("faceres"), "0.6391", "cli:eval", first.ChangedAt), first);
        Assert.Equal(second, feature.Settings.Find(SettingsStore.ThresholdKey("faceres")));
        Assert.Equal(0.65f, feature.Settings.OperatingThreshold("faceres"));
        Assert.Equal([second], feature.Settings.List());
        var changes = feature.Audit.Read(0, 100, AuditActions.SettingChange);
        Assert.Equal([("cli:eval", "changed"), ("approver", "changed")], changes.Select(c => (c.Actor, c.Outcome)));
        Assert.Contains("recalibrated", changes[1].Body, StringComparison.Ordinal);
        Assert.Contains("0.6391", changes[1].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_proposal_is_approved_by_a_second_person_only_and_applied_with_both_records()
    {
        await using var feature = new Feature(await MigratedAsync(), Time);

        var proposed = await feature.Proposals.ProposeAsync(Threshold(), "proposer");
        await Assert.ThrowsAsync<ForbiddenException>(() => feature.Proposals.ApproveAsync(proposed.Id, "PROPOSER"));
        Assert.Equal(ProposalStatus.Pending, feature.Proposals.Get(proposed.Id).Status);
        Assert.Null(feature.Settings.Find(Threshold().Key));

        Time.Advance(TimeSpan.FromHours(1));
        var approved = await feature.Proposals.ApproveAsync(proposed.Id, "approver");
        await Assert.ThrowsAsync<ConflictException>(() => feature.Proposals.ApproveAsync(proposed.Id, "second-approver"));

        Assert.Equal((ProposalStatus.Pending, "proposer"), (proposed.Status, proposed.ProposedBy));
        Assert.Equal((ProposalStatus.Approved, "approver", Time.GetUtcNow()), (approved.Status, approved.DecidedBy, approved.DecidedAt!.Value));
        Assert.Equal(new Setting(Threshold().Key, "0.7", "approver", Time.GetUtcNow()), feature.Settings.Find(Threshold().Key));
        var logged = feature.Audit.Read(0, 100).Select(a => (a.Actor, a.Action, a.Outcome)).ToList();
        Assert.Equal(
            [
                ("proposer", SettingProposals.Proposed, "pending"),
                ("approver", SettingProposals.Decided, "approved"),
                ("approver", AuditActions.SettingChange, "changed"),
            ],
            logged.Where(a => a.Action != GovernanceActions.Refusal));
        Assert.Equal(["second-approver"], logged.Where(a => a.Action == GovernanceActions.Refusal).Select(a => a.Actor));
    }

    [Fact]
    public async Task A_proposal_is_rejected_once_and_changes_no_setting()
    {
        await using var feature = new Feature(await MigratedAsync(), Time);

        var proposed = await feature.Proposals.ProposeAsync(Threshold("0.5"), "proposer");
        var rejected = await feature.Proposals.RejectAsync(proposed.Id, "approver");
        await Assert.ThrowsAsync<ConflictException>(() => feature.Proposals.RejectAsync(proposed.Id, "second-approver"));
        await Assert.ThrowsAsync<ConflictException>(() => feature.Proposals.ApproveAsync(proposed.Id, "second-approver"));

        Assert.NotNull(proposed.Warning);
        Assert.Equal((ProposalStatus.Rejected, "approver"), (rejected.Status, rejected.DecidedBy));
        Assert.Equal([rejected], feature.Proposals.List());
        Assert.Empty(feature.Settings.List());
        Assert.Empty(feature.Audit.Read(0, 100, AuditActions.SettingChange));
        Assert.Equal(["rejected"], feature.Audit.Read(0, 100, SettingProposals.Decided).Select(a => a.Outcome));
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

    /// <summary>The settings feature over one database and its audit trail.</summary>
    private sealed class Feature : IAsyncDisposable
    {
        public Feature(CityWatchDatabase database, TimeProvider time)
        {
            Audit = new AuditTrail(database, time);
            Settings = new SettingsStore(database, Audit, time);
            Proposals = new SettingProposals(database, Settings, Audit, time);
        }

        public AuditTrail Audit { get; }

        public SettingsStore Settings { get; }

        public SettingProposals Proposals { get; }

        public ValueTask DisposeAsync() => Audit.DisposeAsync();
    }
}

public sealed class SettingsStoreOnSqliteTests : SettingsStoreEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class SettingsStoreOnPostgresTests(PostgresFixture postgres) : SettingsStoreEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}
