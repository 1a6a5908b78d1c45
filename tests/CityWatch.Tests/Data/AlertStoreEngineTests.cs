using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The alert store's reads and guarded row writes (<see cref="AlertStore"/>), the counters of
/// <see cref="AlertStatistics"/> and two-person verification (<see cref="AlertVerification"/>: the blind reads and
/// the decisions with their records) on both engines, each test on an empty database opened with a KEK (the audit
/// trail signs with a wrapped key) and migrated by <see cref="CityWatchDatabase.Migrate"/>. Storing an alert seals
/// its crop with the evidence vault (the key ring), deleting one destroys its key and an export reads the crop: SQLite
/// only, and covered there by the alert and verification tests; here the rows are written as <c>Add</c> leaves them.
/// </summary>
public abstract class AlertStoreEngineTests
{
    // Never created: these tests store no crop.
    private readonly string _evidence = Path.Combine(Path.GetTempPath(), $"citywatch-unused-evidence-{Guid.NewGuid():N}");

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    private async Task<(CityWatchDatabase Database, AlertStore Store)> StoreAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return (database, new AlertStore(database, _evidence));
    }

    // An alert row as Add leaves it (its crop sealed elsewhere: here only the file name and key id).
    private long Insert(CityWatchDatabase database, long? camera, DateTimeOffset at, long? job = null)
    {
        using var connection = database.Connect();
        return connection.ExecuteScalar<long>(
            """
            INSERT INTO alerts (camera_id, watchlist_id, entry_id, label, legal_basis_id, grant_id, at, score, threshold, box, crop_path, status, track_id, last_seen, frames, quality, top_candidates, crop_key,
                source, analysis_job_id, media_from_ms, media_until_ms)
            VALUES (@camera, 2, 5, 'P-1', 7, 'grant-1', @at, @score, 0.61, @box, 'alert-x.jpg.sealed', 'candidate', 'track-1', @at, 3, 0.25, @top, 'key-1',
                @source, @job, @fromMs, @untilMs) RETURNING id
            """,
            new
            {
                camera,
                at = Timestamps.Format(at),
                score = 0.8125,
                box = JsonSerializer.Serialize(new FaceBox(10.5f, 20, 30, 40)),
                top = JsonSerializer.Serialize(new[] { new CityWatch.Matching.MatchCandidate(2, 5, "P-1", 0.8125f) }),
                source = job is null ? AlertStore.Live : AlertStore.Retrospective,
                job,
                fromMs = job is null ? (long?)null : 1500,
                untilMs = job is null ? (long?)null : 2500,
            });
    }

    [Fact]
    public async Task An_alert_row_reads_back_exactly_through_every_read()
    {
        var (database, store) = await StoreAsync();
        var at = Time.GetUtcNow();
        var id = Insert(database, camera: 4, at);
        var retrospective = Insert(database, camera: null, at.AddMinutes(1), job: 9);

        var alert = store.Get(id);
        Assert.Equal(
            (4L, 2L, 5L, "P-1", 7L, "grant-1", at, 0.8125f, 0.61f, new FaceBox(10.5f, 20, 30, 40), AlertStore.Candidate, "track-1", at, 3, 0.25f, AlertStore.Live),
            (alert.CameraId!.Value, alert.WatchlistId, alert.EntryId, alert.Label, alert.LegalBasisId, alert.GrantId, alert.At, alert.Score, alert.Threshold, alert.Box, alert.Status, alert.TrackId, alert.LastSeen, alert.Frames, alert.Quality!.Value, alert.Source));
        Assert.Equal(new CityWatch.Matching.MatchCandidate(2, 5, "P-1", 0.8125f), Assert.Single(alert.TopCandidates));
        Assert.Null(alert.SettledAt);
        var fromJob = Assert.Single(store.ForJob(9));
        Assert.Equal((retrospective, (long?)null, AlertStore.Retrospective, TimeSpan.FromMilliseconds(1500), TimeSpan.FromMilliseconds(2500)), (fromJob.Id, fromJob.CameraId, fromJob.Source, fromJob.MediaFrom!.Value, fromJob.MediaUntil!.Value));
        Assert.Equal([id, retrospective], store.All().Select(a => a.Id));
        Assert.Equal(("alert-x.jpg.sealed", "key-1"), store.CropLocation(id));
        Assert.Throws<NotFoundException>(() => store.Get(retrospective + 1));
        using var connection = database.Connect();
        using var transaction = connection.BeginTransaction();
        Assert.Equal(id, AlertStore.Find(connection, transaction, id)!.Id);
        Assert.Null(AlertStore.Find(connection, transaction, retrospective + 1));
    }

    [Fact]
    public async Task A_page_is_filtered_by_camera_scope_and_status_newest_first()
    {
        var (database, store) = await StoreAsync();
        var at = Time.GetUtcNow();
        var a = Insert(database, 1, at);
        var b = Insert(database, 2, at);
        var c = Insert(database, 3, at);
        var media = Insert(database, null, at, job: 9);

        Assert.Equal([media, c, b, a], store.List(0, 10).Items.Select(x => x.Id));
        Assert.Equal(4, store.List(2, 1).Total);
        Assert.Equal([b], store.List(2, 1).Items.Select(x => x.Id));
        Assert.Equal([b], store.List(0, 10, cameraId: 2).Items.Select(x => x.Id));
        Assert.Equal([c, a], store.List(0, 10, scope: new HashSet<long> { 1, 3, 99 }).Items.Select(x => x.Id));
        Assert.Equal(2, store.List(0, 10, scope: new HashSet<long> { 1, 3, 99 }).Total);
        Assert.Empty(store.List(0, 10, scope: new HashSet<long>()).Items);
        Assert.Equal(0, store.List(0, 10, scope: new HashSet<long>()).Total);
        Assert.Equal(4, store.List(0, 10, status: AlertStore.Candidate).Total);
        Assert.Equal(0, store.List(0, 10, status: AlertStore.Confirmed).Total);
        Assert.Throws<InvalidRequestException>(() => store.List(-1, 10));
    }

    [Fact]
    public async Task Touching_moves_last_seen_and_frames_forward_only_and_a_missing_alert_is_not_found()
    {
        var (database, store) = await StoreAsync();
        var at = Time.GetUtcNow();
        var id = Insert(database, 1, at);

        store.Touch(id, at.AddSeconds(5), 7);
        store.Touch(id, at.AddSeconds(2), 4);
        Assert.Equal((at.AddSeconds(5), 7), (store.Get(id).LastSeen, store.Get(id).Frames));
        store.Touch(id, at.AddSeconds(9), 6);
        Assert.Equal((at.AddSeconds(9), 7), (store.Get(id).LastSeen, store.Get(id).Frames));
        Assert.Throws<NotFoundException>(() => store.Touch(id + 1, at, 1));
    }

    [Fact]
    public async Task A_candidate_is_settled_once_and_a_second_settling_changes_nothing()
    {
        var (database, store) = await StoreAsync();
        var at = Time.GetUtcNow();
        var id = Insert(database, 1, at);

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.True(AlertStore.Settle(connection, transaction, id, AlertStore.Confirmed, at.AddMinutes(2)));
            Assert.False(AlertStore.Settle(connection, transaction, id, AlertStore.Rejected, at.AddMinutes(3)));
            Assert.False(AlertStore.Settle(connection, transaction, id + 1, AlertStore.Rejected, at.AddMinutes(3)));
            transaction.Commit();
        }

        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(AlertStore.Settle(connection, transaction, id, AlertStore.Rejected, at.AddMinutes(4)));
            transaction.Commit();
        }

        var settled = store.Get(id);
        Assert.Equal((AlertStore.Confirmed, at.AddMinutes(2)), (settled.Status, settled.SettledAt!.Value));
        Assert.Equal([id], store.All(AlertStore.Confirmed).Select(a => a.Id));
        Assert.Empty(store.All(AlertStore.Candidate));
    }

    [Fact]
    public async Task The_statistics_count_by_day_camera_and_basis_and_sum_by_year()
    {
        var (database, _) = await StoreAsync();
        var statistics = new AlertStatistics(database);
        var day = Time.GetUtcNow();
        using (var connection = database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            AlertStatistics.Count(connection, transaction, AlertStatistics.Raised, day, 1, 7);
            AlertStatistics.Count(connection, transaction, AlertStatistics.Raised, day, 1, 7);
            AlertStatistics.Count(connection, transaction, AlertStatistics.Rejected, day, 1, 7);
            AlertStatistics.Count(connection, transaction, AlertStatistics.Confirmed, day.AddDays(-400), null, 8);
            transaction.Commit();
        }

        statistics.AddFaces(day, 1, 7, 40);
        statistics.AddFaces(day, 1, 7, 2);
        statistics.AddFaces(day, 2, 7, 0);

        var today = DateOnly.FromDateTime(day.UtcDateTime);
        Assert.Equal(
            [new DailyAlertStatistics(today.AddDays(-400), null, 8, 0, 1, 0), new DailyAlertStatistics(today, 1, 7, 2, 0, 1, 42)],
            statistics.Statistics(today.AddYears(-2), today));
        Assert.Empty(statistics.Statistics(today.AddDays(1), today.AddDays(2)));
        Assert.Throws<InvalidRequestException>(() => statistics.Statistics(today, today.AddDays(-1)));
        Assert.Equal([new YearlyAlertStatistics(2026, 2, 0, 1, 42), new YearlyAlertStatistics(2025, 0, 1, 0, 0)], statistics.Years(today));
        Assert.Equal([new YearlyAlertStatistics(2025, 0, 1, 0, 0)], statistics.Years(today.AddDays(-30)));
    }

    [Fact]
    public async Task Two_verifiers_confirm_one_rejects_nobody_decides_twice_and_a_verifier_sees_only_undecided_candidates()
    {
        var (database, store) = await StoreAsync();
        await using var audit = new AuditTrail(database, Time);
        var verification = new AlertVerification(database, store, new EvidenceAccess(store, audit), audit, Time);
        var at = Time.GetUtcNow();
        var a = Insert(database, 1, at);
        var b = Insert(database, 2, at);

        Assert.Equal([b, a], verification.Candidates("v1", null).Select(c => c.Id));
        Assert.Equal([a], verification.Candidates("v1", new HashSet<long> { 1, 99 }).Select(c => c.Id));
        Assert.Empty(verification.Candidates("v1", new HashSet<long>()));

        var first = await verification.DecideAsync(a, "v1", new DecisionInput(VerificationDecision.Confirm, "same scar"), CancellationToken.None);
        await Assert.ThrowsAsync<ConflictException>(() => verification.DecideAsync(a, "v1", new DecisionInput(VerificationDecision.Reject), CancellationToken.None));
        Assert.Equal([b], verification.Candidates("v1", null).Select(c => c.Id));
        Assert.Equal(new HashSet<long> { a, b }, verification.Undecided("v2", [a, b, 404]));
        Assert.True(verification.IsBlind("v2", store.Get(a)));
        Assert.False(verification.IsBlind("v1", store.Get(a)));

        var second = await verification.DecideAsync(a, "v2", new DecisionInput(VerificationDecision.Confirm), CancellationToken.None);
        var rejected = await verification.DecideAsync(b, "v1", new DecisionInput(VerificationDecision.Reject), CancellationToken.None);
        await Assert.ThrowsAsync<ConflictException>(() => verification.DecideAsync(a, "v3", new DecisionInput(VerificationDecision.Reject), CancellationToken.None));
        await Assert.ThrowsAsync<NotFoundException>(() => verification.DecideAsync(404, "v3", new DecisionInput(VerificationDecision.Reject), CancellationToken.None));

        Assert.Equal((AlertStore.Candidate, AlertStore.Confirmed, AlertStore.Rejected), (first.Status, second.Status, rejected.Status));
        Assert.Equal((AlertStore.Confirmed, AlertStore.Rejected), (store.Get(a).Status, store.Get(b).Status));
        Assert.Empty(verification.Undecided("v3", [a, b]));
        Assert.Equal(
            [("v1", VerificationDecision.Confirm, "same scar"), ("v2", VerificationDecision.Confirm, null)],
            verification.Decisions(a).Select(d => (d.Account, d.Decision, d.Note)));
        var decision = verification.Decisions(a)[0];
        Assert.Equal(AlertVerification.Commitment(decision.Salt, a, VerificationDecision.Confirm), audit.Read(0, 100, EvidenceActions.Decision)[0].Body.Split('"').Single(p => p.StartsWith("sha256:", StringComparison.Ordinal)));
        Assert.Equal(3, audit.Read(0, 100, EvidenceActions.Decision).Count);
        Assert.Equal(2, audit.Read(0, 100, EvidenceActions.DecisionRefused).Count);
        var today = DateOnly.FromDateTime(at.UtcDateTime);
        Assert.Equal(
            [new DailyAlertStatistics(today, 1, 7, 0, 1, 0), new DailyAlertStatistics(today, 2, 7, 0, 0, 1)],
            new AlertStatistics(database).Statistics(today, today));
    }

    [Fact]
    public async Task Migrating_again_keeps_the_alerts_at_their_version_and_their_rows()
    {
        var (database, store) = await StoreAsync();
        var id = Insert(database, 1, Time.GetUtcNow());

        database.Migrate(Time);

        Assert.Equal(5, database.SchemaVersions()["alerts"]);
        Assert.Equal(id, store.Get(id).Id);
    }
}

public sealed class AlertStoreOnSqliteTests : AlertStoreEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class AlertStoreOnPostgresTests(PostgresFixture postgres) : AlertStoreEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}
