using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Evidence;
using CityWatch.Keys;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>
/// The alert store (<see cref="AlertStore"/>: its reads, storing an alert with its sealed crop, improving it, the guarded
/// row writes, deleting alerts with their keys), the counters of <see cref="AlertStatistics"/> and two-person
/// verification (<see cref="AlertVerification"/>: the blind reads, the decisions with their records, the export) on
/// both engines, each test on an empty database opened with a KEK (the audit trail signs with a wrapped key, the vault
/// wraps its keys) and migrated by <see cref="CityWatchDatabase.Migrate"/>, its crops in a scratch evidence folder.
/// The read tests write rows as <c>Add</c> leaves them, with no crop.
/// </summary>
public abstract class AlertStoreEngineTests : IDisposable
{
    private readonly string _evidence = TestPaths.NewScratchDirectory();

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

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Removes the evidence folder; an engine's class disposes its databases too.</summary>
    protected virtual void Dispose(bool disposing) => Directory.Delete(_evidence, recursive: true);

    private static readonly byte[] FirstCrop = [0xFF, 0xD8, .. "the first face"u8, 0xFF, 0xD9];

    private static readonly byte[] BetterCrop = [0xFF, 0xD8, .. "a better face"u8, 0xFF, 0xD9];

    private NewAlert Raised(long camera, byte[] crop, string? sourceKey = null) => new(
        camera, 2, 5, "P-1", 7, Guid.NewGuid(), Time.GetUtcNow(), 0.8125f, 0.61f, new FaceBox(10.5f, 20, 30, 40), crop, Guid.NewGuid(), 3, 0.25f,
        [new CityWatch.Matching.MatchCandidate(2, 5, "P-1", 0.8125f)])
    {
        FusedFrames = 2,
        SourceKey = sourceKey,
    };

    private byte[] SealedFile(AlertStore store, long id) => File.ReadAllBytes(Path.Combine(_evidence, store.CropLocation(id).File));

    [Fact]
    public async Task An_alert_is_stored_with_its_sealed_crop_and_record_and_the_crop_opens_again()
    {
        var (database, store) = await StoreAsync();
        await using var audit = new AuditTrail(database, Time);
        var changed = store.NextChange;

        var (alert, staged) = store.Add(Raised(4, FirstCrop, "worker-key-1"), audit, id => new AuditRecord("camera-pipeline", AuditActions.Alert, "candidate", 7, Parameters: new Dictionary<string, string> { ["alert"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        await audit.CommittedAsync(staged!);

        Assert.True(changed.IsCompleted);
        Assert.Equal((4L, 2L, 5L, "P-1", 0.8125f, AlertStore.Candidate, 3, 2), (alert.CameraId!.Value, alert.WatchlistId, alert.EntryId, alert.Label, alert.Score, alert.Status, alert.Frames, alert.FusedFrames!.Value));
        Assert.Equal(FirstCrop, store.Crop(alert.Id));
        var (file, keyId) = store.CropLocation(alert.Id);
        Assert.Equal($"alert-{alert.Id}.jpg.sealed", file);
        Assert.True(store.Vault.Exists(keyId));
        // On disk only sealed, and nothing else left in the evidence folder (no temporary file).
        Assert.Equal([Path.Combine(_evidence, file)], Directory.GetFiles(_evidence));
        Assert.Equal(-1, SealedFile(store, alert.Id).AsSpan().IndexOf("the first face"u8));
        var logged = Assert.Single(audit.Read(0, 100, AuditActions.Alert));
        Assert.Contains($"\"alert\":\"{alert.Id}\"", logged.Body, StringComparison.Ordinal);
        using var connection = database.Connect();
        Assert.Equal("worker-key-1", connection.ExecuteScalar<string>("SELECT source_key FROM alerts WHERE id = @Id", new { alert.Id }));
        var day = DateOnly.FromDateTime(Time.GetUtcNow().UtcDateTime);
        Assert.Equal(1, Assert.Single(new AlertStatistics(database).Statistics(day, day)).Raised);
    }

    [Fact]
    public async Task An_improvement_replaces_crop_and_key_until_a_verifier_decides_then_the_evidence_is_frozen()
    {
        var (database, store) = await StoreAsync();
        await using var audit = new AuditTrail(database, Time);
        var alert = store.Add(Raised(4, FirstCrop));
        var (firstFile, firstKey) = store.CropLocation(alert.Id);
        var at = Time.GetUtcNow();

        var improved = store.Improve(alert.Id, new AlertImprovement(0.9f, new FaceBox(1, 2, 3, 4), BetterCrop, at.AddSeconds(5), 8, 0.5f, FusedFrames: 4));

        Assert.Equal((0.9f, new FaceBox(1, 2, 3, 4), 8, at.AddSeconds(5), 0.5f, 4), (improved.Score, improved.Box, improved.Frames, improved.LastSeen, improved.Quality!.Value, improved.FusedFrames!.Value));
        Assert.Equal(BetterCrop, store.Crop(alert.Id));
        var (betterFile, betterKey) = store.CropLocation(alert.Id);
        Assert.Equal($"alert-{alert.Id}-1.jpg.sealed", betterFile);
        Assert.False(store.Vault.Exists(firstKey));
        Assert.False(File.Exists(Path.Combine(_evidence, firstFile)));

        var verification = new AlertVerification(database, store, new EvidenceAccess(store, audit), audit, Time);
        await verification.DecideAsync(alert.Id, "v1", new DecisionInput(VerificationDecision.Confirm), CancellationToken.None);
        var frozen = store.Improve(alert.Id, new AlertImprovement(0.99f, new FaceBox(5, 5, 5, 5), FirstCrop, at.AddSeconds(9), 11));

        Assert.Equal((0.9f, 11, at.AddSeconds(9)), (frozen.Score, frozen.Frames, frozen.LastSeen));
        Assert.Equal((betterFile, betterKey), store.CropLocation(alert.Id));
        Assert.Equal(BetterCrop, store.Crop(alert.Id));
        // The key sealed for nothing is gone again, the frozen crop's stays: one key, one file.
        using var connection = database.Connect();
        Assert.Equal(1, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_keys"));
        Assert.Equal([Path.Combine(_evidence, betterFile)], Directory.GetFiles(_evidence));
        Assert.Throws<NotFoundException>(() => store.Improve(alert.Id + 1, new AlertImprovement(0.9f, new FaceBox(1, 2, 3, 4), BetterCrop, at, 1)));
    }

    [Fact]
    public async Task Deleting_alerts_destroys_their_keys_decisions_rows_and_files_with_one_record()
    {
        var (database, store) = await StoreAsync();
        await using var audit = new AuditTrail(database, Time);
        var kept = store.Add(Raised(1, FirstCrop));
        var a = store.Add(Raised(2, FirstCrop));
        var b = store.Add(Raised(3, BetterCrop));
        var verification = new AlertVerification(database, store, new EvidenceAccess(store, audit), audit, Time);
        await verification.DecideAsync(a.Id, "v1", new DecisionInput(VerificationDecision.Confirm), CancellationToken.None);
        var sealedA = SealedFile(store, a.Id);
        var sealedB = SealedFile(store, b.Id);
        var keyA = store.CropLocation(a.Id).KeyId;
        var keyB = store.CropLocation(b.Id).KeyId;
        var changed = store.NextChange;

        var deleted = await store.DeleteAsync(
            [a.Id, b.Id, 404], audit, ids => new AuditRecord("retention", EvidenceActions.RetentionDeletion, "deleted", Parameters: new Dictionary<string, string> { ["alerts"] = string.Join(",", ids) }));

        Assert.Equal([a.Id, b.Id], deleted);
        Assert.True(changed.IsCompleted);
        Assert.Throws<EvidenceDestroyedException>(() => store.Vault.Open(keyA, sealedA));
        Assert.Throws<EvidenceDestroyedException>(() => store.Vault.Open(keyB, sealedB));
        Assert.Throws<NotFoundException>(() => store.Get(a.Id));
        Assert.Equal([kept.Id], store.All().Select(x => x.Id));
        Assert.Equal(FirstCrop, store.Crop(kept.Id));
        Assert.Equal([Path.Combine(_evidence, store.CropLocation(kept.Id).File)], Directory.GetFiles(_evidence));
        using (var connection = database.Connect())
        {
            Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM alert_decisions"));
        }

        var record = Assert.Single(audit.Read(0, 100, EvidenceActions.RetentionDeletion));
        Assert.Contains($"\"alerts\":\"{a.Id},{b.Id}\"", record.Body, StringComparison.Ordinal);
        Assert.Empty(await store.DeleteAsync([a.Id], audit, _ => new AuditRecord("retention", EvidenceActions.RetentionDeletion, "deleted")));
    }

    [Fact]
    public async Task A_confirmed_alert_is_exported_with_its_crop_and_an_unconfirmed_one_is_refused()
    {
        var (database, store) = await StoreAsync();
        await using var audit = new AuditTrail(database, Time);
        var verification = new AlertVerification(database, store, new EvidenceAccess(store, audit), audit, Time);
        var alert = store.Add(Raised(1, FirstCrop));
        await Assert.ThrowsAsync<ConflictException>(() => verification.ExportAsync(alert.Id, "v1", "court", "prosecutor", CancellationToken.None));
        await verification.DecideAsync(alert.Id, "v1", new DecisionInput(VerificationDecision.Confirm), CancellationToken.None);
        await verification.DecideAsync(alert.Id, "v2", new DecisionInput(VerificationDecision.Confirm), CancellationToken.None);

        var bundle = await verification.ExportAsync(alert.Id, "v1", "court", "prosecutor", CancellationToken.None);

        using var zip = new System.IO.Compression.ZipArchive(new MemoryStream(bundle.Zip));
        using var crop = new MemoryStream();
        using (var stream = zip.GetEntry("crop.jpg")!.Open())
        {
            await stream.CopyToAsync(crop);
        }

        Assert.Equal(FirstCrop, crop.ToArray());
        Assert.Contains($"sha256:{bundle.ManifestSha256}", Assert.Single(audit.Read(0, 100, EvidenceActions.Export)).Body, StringComparison.Ordinal);
        Assert.Single(audit.Read(0, 100, EvidenceActions.ExportRefused));
        Assert.Contains(audit.Read(0, 100, EvidenceActions.KeyRelease), r => r.Actor == "v1");
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

public sealed class AlertStoreOnSqliteTests : AlertStoreEngineTests
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    protected override void Dispose(bool disposing)
    {
        _databases.Dispose();
        base.Dispose(disposing);
    }
}

public sealed class AlertStoreOnPostgresTests(PostgresFixture postgres) : AlertStoreEngineTests, IClassFixture<PostgresFixture>
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    protected override void Dispose(bool disposing)
    {
        _databases.Dispose();
        base.Dispose(disposing);
    }
}
