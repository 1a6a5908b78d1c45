using CityWatch.Data;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The case register's SQL (<see cref="CaseStore"/>) on both engines: the row writes and the reads, each test on
/// an empty database migrated by <see cref="CityWatchDatabase.Migrate"/>. Opening and closing a case check the
/// basis and stage their records on SQLite only; <c>CaseTests</c> covers them there. The cases name legal bases
/// written straight into <c>legal_bases</c>, which both engines refer to.
/// </summary>
public abstract class CaseStoreEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync();

    /// <summary>After migrating: the legal bases 7 to 9 the cases name (both engines check the reference to <c>legal_bases</c>).</summary>
    private static void Prepare(CityWatchDatabase database)
    {
        using var connection = database.Connect();
        connection.Execute(
            """
            INSERT INTO legal_bases (id, title, instrument, authority, objective, objective_detail, purposes, camera_ids, watchlist_ids,
                valid_from, valid_until, max_retention_days, max_watchlist_entries, urgent, state, is_demonstration, created_by, created_at)
            VALUES (@id, 't', 'i', 'a', 'o', 'd', '[]', '[]', '[]', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', 1, 1, FALSE, 'Draft', TRUE, 't', '2026-01-01T00:00:00Z')
            """,
            new[] { new { id = 7 }, new { id = 8 }, new { id = 9 } });
    }

    private async Task<CityWatchDatabase> MigratedAsync()
    {
        var database = await NewDatabaseAsync();
        database.Migrate(Time);
        Prepare(database);
        return database;
    }

    private CaseInput Burglary(string number = "PD-2026-0042", long basis = 7) =>
        new(number, basis, "burglary", [3, 1], Time.GetUtcNow().AddDays(-2), Time.GetUtcNow().AddDays(-1), Time.GetUtcNow().AddDays(30));

    private static long? Insert(CityWatchDatabase database, CaseInput input, DateTimeOffset now)
    {
        using var connection = database.Connect();
        using var transaction = connection.BeginTransaction();
        var id = CaseStore.Insert(connection, transaction, input, [.. (input.CameraIds ?? []).Distinct().Order()], "investigator", now);
        transaction.Commit();
        return id;
    }

    [Fact]
    public async Task A_case_is_stored_and_read_back_exactly_and_a_second_with_its_number_writes_nothing()
    {
        var database = await MigratedAsync();
        var now = Time.GetUtcNow();

        var id = Insert(database, Burglary(), now);
        var duplicate = Insert(database, Burglary() with { Offence = "arson", LegalBasisId = 8 }, now.AddMinutes(1));

        Assert.NotNull(id);
        Assert.Null(duplicate);
        using var connection = database.Connect();
        var read = Assert.Single(CaseStore.ReadAll(connection, null, now));
        Assert.Equal(
            (id!.Value, "PD-2026-0042", 7L, "burglary", CaseStatus.Open, "investigator", now, now.AddDays(-2), now.AddDays(-1), now.AddDays(30)),
            (read.Id, read.Number, read.LegalBasisId, read.Offence, read.Status, read.OpenedBy, read.OpenedAt, read.From, read.Until, read.ExpiresAt));
        Assert.Equal([1L, 3L], read.CameraIds);
        Assert.Null(read.ClosedAt);
        Assert.Equal(CaseStatus.Expired, Assert.Single(CaseStore.ReadAll(connection, null, now.AddDays(30))).Status);
    }

    [Fact]
    public async Task A_case_is_closed_once_and_a_second_close_changes_nothing()
    {
        var database = await MigratedAsync();
        var now = Time.GetUtcNow();
        var id = Insert(database, Burglary(), now)!.Value;

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.True(CaseStore.TryClose(connection, transaction, id, "suspect charged", "investigator", now.AddHours(1)));
            Assert.False(CaseStore.TryClose(connection, transaction, id, "again", "other", now.AddHours(2)));
            Assert.False(CaseStore.TryClose(connection, transaction, id + 100, "none", "other", now.AddHours(2)));
            transaction.Commit();
        }

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(CaseStore.TryClose(connection, transaction, id, "late", "other", now.AddDays(1)));
            transaction.Commit();
        }

        using var reader = database.Connect();
        var closed = Assert.Single(CaseStore.ReadAll(reader, null, now));
        Assert.Equal((CaseStatus.Closed, "investigator", "suspect charged", now.AddHours(1)), (closed.Status, closed.ClosedBy, closed.CloseReason, closed.ClosedAt!.Value));
    }

    [Fact]
    public async Task A_rolled_back_open_leaves_no_case_and_counts_are_per_basis_and_month()
    {
        var database = await MigratedAsync();
        var now = Time.GetUtcNow();
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            CaseStore.Insert(connection, transaction, Burglary("PD-2026-0001"), [1], "investigator", now);
            transaction.Rollback();
        }

        var first = Insert(database, Burglary("PD-2026-0001"), now)!.Value;
        Insert(database, Burglary("PD-2026-0002"), now.AddDays(-5));
        Insert(database, Burglary("PD-2026-0003", basis: 9), now);
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            CaseStore.TryClose(connection, transaction, first, null, "investigator", now.AddDays(30));
            transaction.Commit();
        }

        using var reader = database.Connect();
        var all = CaseStore.ReadAll(reader, null, now);
        Assert.Equal(["PD-2026-0001", "PD-2026-0002", "PD-2026-0003"], all.Select(c => c.Number));
        Assert.Equal(
            [new CaseCount(7, "2026-11", 1, 0), new CaseCount(7, "2026-12", 1, 0), new CaseCount(7, "2027-01", 0, 1), new CaseCount(9, "2026-12", 1, 0)],
            CaseStore.Counts(all));
    }

    [Fact]
    public async Task Migrating_again_keeps_the_cases_at_version_2_and_their_rows()
    {
        var database = await MigratedAsync();
        Insert(database, Burglary(), Time.GetUtcNow());

        database.Migrate(Time);

        Assert.Equal(2, database.SchemaVersions()["cases"]);
        using var connection = database.Connect();
        Assert.Equal(1, connection.ExecuteScalar<int>("SELECT COUNT(*) FROM cases"));
    }
}

public sealed class CaseStoreOnSqliteTests : CaseStoreEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    public void Dispose() => _databases.Dispose();
}

public sealed class CaseStoreOnPostgresTests(PostgresFixture postgres) : CaseStoreEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync() => _databases.NewAsync();

    public void Dispose() => _databases.Dispose();
}
