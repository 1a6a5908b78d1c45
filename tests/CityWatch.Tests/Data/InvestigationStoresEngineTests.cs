using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Investigations;
using CityWatch.Keys;
using CityWatch.SubjectAccess;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Time.Testing;

namespace CityWatch.Tests.Data;

/// <summary>
/// The investigation stores on both engines: <see cref="AnalysisJobStore"/> (queued, started, reported, cancelled and
/// ended once, with their records) and <see cref="SubjectAccessRequests"/> (registered, searched once through its row
/// write, approved once by another account, with their records), each test on an empty database opened with a KEK
/// (the audit trail signs with a wrapped key) and migrated by <see cref="CityWatchDatabase.Migrate"/>; the search's act
/// (its answer sealed through the evidence vault with its record) and reading the released answer too. The face search
/// that finds the answer (the pipeline and its models) is <c>SubjectAccessTests</c>'.
/// </summary>
public abstract class InvestigationStoresEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 7, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    private async Task<Stores> StoresAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return new Stores(database, Time);
    }

    private static readonly NewAnalysisJob Upload = new("PD-2026-0042", 9, "harbour.mp4", "/var/citywatch/uploads/harbour.mp4", true, 2.5, 1280, new string('a', 64));

    private static readonly AnalysisProgress Halfway = new(120, 240, 30, 2, 1);

    [Fact]
    public async Task A_job_is_queued_with_its_record_and_read_back_exactly()
    {
        await using var stores = await StoresAsync();
        var now = Time.GetUtcNow();

        var job = await stores.Jobs.CreateAsync(Upload, 7, "investigator");

        Assert.Equal(
            new AnalysisJob(job.Id, "PD-2026-0042", 9, "harbour.mp4", 2.5, 1280, AnalysisJobState.Queued, 0, null, 0, 0, 0, null, "investigator", now, null, null),
            job);
        Assert.Equal(job, stores.Jobs.Get(job.Id));
        Assert.Equal([job], stores.Jobs.List());
        Assert.Equal([job], stores.Jobs.Unfinished());
        Assert.Equal(("/var/citywatch/uploads/harbour.mp4", true), stores.Jobs.MediaOf(job.Id));
        Assert.False(stores.Jobs.CancelRequested(job.Id));
        var queued = Assert.Single(stores.Audit.Read(0, 100, AnalysisJobActions.Queued));
        Assert.Equal(("investigator", "queued", 7L, "PD-2026-0042"), (queued.Actor, queued.Outcome, queued.LegalBasisId!.Value, queued.CaseId));
        Assert.Throws<NotFoundException>(() => stores.Jobs.Get(job.Id + 100));
    }

    [Fact]
    public async Task A_job_starts_once_reports_while_running_and_ends_once_with_one_record()
    {
        await using var stores = await StoresAsync();
        var job = await stores.Jobs.CreateAsync(Upload with { OwnsMedia = false }, 7, "investigator");
        Time.Advance(TimeSpan.FromSeconds(5));
        var started = Time.GetUtcNow();

        Assert.True(stores.Jobs.Start(job.Id));
        Assert.False(stores.Jobs.Start(job.Id));
        stores.Jobs.Report(job.Id, Halfway);
        var running = stores.Jobs.Get(job.Id);
        Assert.Equal((AnalysisJobState.Running, started, 120L, (long?)240, 30L, 2L, 1L), (running.State, running.StartedAt!.Value, running.FramesDone, running.FramesTotal, running.Faces, running.Matches, running.Candidates));
        Assert.Equal(50, running.Percent);

        Time.Advance(TimeSpan.FromMinutes(1));
        var done = await stores.Jobs.FinishAsync(job.Id, AnalysisJobState.Done, null, Halfway with { FramesDone = 230 }, 7, 0.42f);
        var again = await stores.Jobs.FinishAsync(job.Id, AnalysisJobState.Failed, "late", Halfway, 7, 0.42f);

        Assert.Equal((AnalysisJobState.Done, 230L, (long?)230, Time.GetUtcNow(), (string?)null), (done.State, done.FramesDone, done.FramesTotal, done.EndedAt!.Value, done.Reason));
        Assert.Equal(done, again);
        stores.Jobs.Report(job.Id, Halfway);
        Assert.Equal(done, stores.Jobs.RequestCancel(job.Id));
        Assert.False(stores.Jobs.CancelRequested(job.Id));
        Assert.Empty(stores.Jobs.Unfinished());
        var ended = Assert.Single(stores.Audit.Read(0, 100, AuditActions.Analysis));
        Assert.Equal(("investigator", "completed", "PD-2026-0042"), (ended.Actor, ended.Outcome, ended.CaseId));
        using var connection = stores.Database.Connect();
        using var transaction = connection.BeginTransaction();
        Assert.False(AnalysisJobStore.TryFinish(connection, transaction, job.Id, AnalysisJobState.Cancelled, "again", Halfway, Time.GetUtcNow()));
        Assert.False(AnalysisJobStore.TryStart(connection, transaction, job.Id, Time.GetUtcNow()));
    }

    [Fact]
    public async Task A_job_asked_to_stop_before_it_starts_never_starts_and_is_cancelled_once()
    {
        await using var stores = await StoresAsync();
        var job = await stores.Jobs.CreateAsync(Upload, 7, "investigator");

        var asked = stores.Jobs.RequestCancel(job.Id);

        Assert.Equal(AnalysisJobState.Queued, asked.State);
        Assert.True(stores.Jobs.CancelRequested(job.Id));
        Assert.False(stores.Jobs.Start(job.Id));
        using (var connection = stores.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.True(AnalysisJobStore.TryFinish(connection, transaction, job.Id, AnalysisJobState.Cancelled, "stopped by investigator", Halfway, Time.GetUtcNow()));
            Assert.False(AnalysisJobStore.TryFinish(connection, transaction, job.Id, AnalysisJobState.Failed, "again", Halfway, Time.GetUtcNow()));
            transaction.Commit();
        }

        var cancelled = stores.Jobs.Get(job.Id);
        Assert.Equal((AnalysisJobState.Cancelled, "stopped by investigator", (long?)240, (DateTimeOffset?)null), (cancelled.State, cancelled.Reason, cancelled.FramesTotal, cancelled.StartedAt));
        Assert.Empty(stores.Audit.Read(0, 100, AuditActions.Analysis));
    }

    [Fact]
    public async Task A_subject_access_request_is_registered_searched_once_and_approved_once_by_another_account()
    {
        await using var stores = await StoresAsync();
        var now = Time.GetUtcNow();
        var received = now.AddDays(-3);

        var request = await stores.Requests.RegisterAsync(new SubjectAccessRequestInput("X1234567", IdentityVerification.DocumentInPerson, received), "dpo");

        Assert.Equal(
            new SubjectAccessRequest(request.Id, $"SAR-{request.Id}", IdentityVerification.DocumentInPerson, received, SubjectAccessState.Received, "dpo", now, null, null, null, null),
            request);
        Assert.Equal([request], stores.Requests.List());
        using (var connection = stores.Database.Connect())
        {
            var identity = connection.QuerySingle<(byte[] Salt, byte[] Hash)>("SELECT identity_salt, identity_hash FROM subject_access_requests WHERE id = @id", new { id = request.Id });
            Assert.Equal((16, 32), (identity.Salt.Length, identity.Hash.Length));
        }

        byte[] sealedAnswer = [0x43, 0x57, 0x45, 0x31, 0x00, 0xff, 0x10];
        Time.Advance(TimeSpan.FromHours(1));
        using (var connection = stores.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.True(SubjectAccessRequests.TrySeal(connection, transaction, request.Id, "sar-key-1", sealedAnswer, "dpo", Time.GetUtcNow()));
            Assert.False(SubjectAccessRequests.TrySeal(connection, transaction, request.Id, "sar-key-2", [1, 2], "dpo2", Time.GetUtcNow()));
            transaction.Commit();
        }

        var searched = stores.Requests.Get(request.Id);
        Assert.Equal((SubjectAccessState.Searched, "dpo", Time.GetUtcNow()), (searched.State, searched.SearchedBy, searched.SearchedAt!.Value));
        await Assert.ThrowsAsync<PolicyRefusedException>(() => stores.Requests.ApproveAsync(request.Id, "dpo"));
        Assert.Equal(SubjectAccessState.Searched, stores.Requests.Get(request.Id).State);

        Time.Advance(TimeSpan.FromDays(1));
        var released = await stores.Requests.ApproveAsync(request.Id, "dpo2");
        await Assert.ThrowsAsync<ConflictException>(() => stores.Requests.ApproveAsync(request.Id, "dpo3"));

        Assert.Equal((SubjectAccessState.Released, "dpo2", Time.GetUtcNow()), (released.State, released.ApprovedBy, released.ApprovedAt!.Value));
        Assert.Equal(released, stores.Requests.Get(request.Id));
        Assert.Equal(new SubjectAccessCounts(1, 1, Math.Round((Time.GetUtcNow() - received).TotalDays, 1)), stores.Requests.Counts());
        using (var connection = stores.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(SubjectAccessRequests.TryApprove(connection, transaction, request.Id, "dpo3", Time.GetUtcNow()));
            var stored = SubjectAccessRequests.SealedAnswer(connection, transaction, request.Id);
            Assert.Equal("sar-key-1", stored.KeyId);
            Assert.Equal(sealedAnswer, stored.Sealed);
        }

        var logged = stores.Audit.Read(0, 100).Select(a => (a.Action, a.Actor, a.Outcome)).ToList();
        Assert.Contains((SubjectAccessActions.Register, "dpo", "registered"), logged);
        Assert.Contains((SubjectAccessActions.Approve, "dpo2", "released"), logged);
        Assert.Equal(2, logged.Count(a => a.Action == SubjectAccessActions.Refusal)); // the searcher's approval, and one of a request already released
    }

    [Fact]
    public async Task A_searched_answer_is_sealed_once_with_its_record_and_read_only_after_another_account_approves()
    {
        await using var stores = await StoresAsync();
        var request = await stores.Requests.RegisterAsync(new SubjectAccessRequestInput("X1234567", IdentityVerification.DocumentInPerson, Time.GetUtcNow()), "dpo");
        var found = new SubjectRecord(4, 2, Time.GetUtcNow().AddDays(-2), Time.GetUtcNow().AddDays(-2).AddSeconds(5), "confirmed", 0.71f, [0xFF, 0xD8, .. "a redacted face"u8, 0xFF, 0xD9]);
        var answer = new SubjectAccessAnswer(request.Reference, 12, 0.5f, [found]);
        byte[] photo = [0xFF, 0xD8, .. "the requester"u8, 0xFF, 0xD9];
        var grant = Guid.NewGuid();
        Time.Advance(TimeSpan.FromHours(1));

        // What SearchAsync does once the face search has found its answer.
        var searched = await stores.Requests.SealAnswerAsync(request, answer, grant, photo, "dpo", CancellationToken.None);
        await Assert.ThrowsAsync<ConflictException>(() => stores.Requests.SealAnswerAsync(request, answer with { Records = [] }, grant, photo, "dpo", CancellationToken.None));

        Assert.Equal((SubjectAccessState.Searched, "dpo", Time.GetUtcNow()), (searched.State, searched.SearchedBy, searched.SearchedAt!.Value));
        using (var connection = stores.Database.Connect())
        {
            // One key: the refused second answer's rolled back with its row.
            Assert.Equal(1, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_keys"));
            var stored = SubjectAccessRequests.SealedAnswer(connection, null, request.Id);
            Assert.True(stores.Alerts.Vault.Exists(stored.KeyId));
            Assert.Equal(-1, stored.Sealed.AsSpan().IndexOf("a redacted face"u8));
        }

        await Assert.ThrowsAsync<PolicyRefusedException>(() => stores.Requests.AnswerAsync(request.Id, "dpo"));
        await stores.Requests.ApproveAsync(request.Id, "dpo2");
        var read = await stores.Requests.AnswerAsync(request.Id, "dpo2");

        Assert.Equal((request.Reference, 12, 0.5f), (read.Reference, read.Searched, read.Threshold));
        var record = Assert.Single(read.Records);
        Assert.Equal(found with { RedactedCropJpeg = record.RedactedCropJpeg }, record);
        Assert.Equal(found.RedactedCropJpeg, record.RedactedCropJpeg);
        var logged = stores.Audit.Read(0, 100);
        var search = Assert.Single(logged, a => a.Action == EvidenceActions.SubjectAccess);
        Assert.Equal(("dpo", "searched; sealed until a second approval", request.Reference), (search.Actor, search.Outcome, search.CaseId));
        Assert.Contains($"sha256:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(photo))}", search.Body, StringComparison.Ordinal);
        Assert.Contains(grant.ToString(), search.Body, StringComparison.Ordinal);
        Assert.Contains(logged, a => (a.Action, a.Actor, a.Outcome) == (SubjectAccessActions.Release, "dpo2", "answer read"));
        Assert.Equal(2, logged.Count(a => a.Action == SubjectAccessActions.Refusal)); // the second search, the read before approval
    }

    [Fact]
    public async Task A_request_not_searched_is_not_approved_and_a_bad_registration_writes_nothing()
    {
        await using var stores = await StoresAsync();
        var request = await stores.Requests.RegisterAsync(new SubjectAccessRequestInput("X1234567", IdentityVerification.CertifiedCopy, Time.GetUtcNow()), "dpo");

        await Assert.ThrowsAsync<ConflictException>(() => stores.Requests.ApproveAsync(request.Id, "dpo2"));
        await Assert.ThrowsAsync<InvalidRequestException>(() => stores.Requests.RegisterAsync(new SubjectAccessRequestInput("", IdentityVerification.CertifiedCopy, Time.GetUtcNow()), "dpo"));
        using (var connection = stores.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(SubjectAccessRequests.TryApprove(connection, transaction, request.Id, "dpo2", Time.GetUtcNow()));
        }

        Assert.Equal([request], stores.Requests.List());
        Assert.Equal(new SubjectAccessCounts(1, 0, null), stores.Requests.Counts());
    }

    [Fact]
    public async Task Migrating_again_changes_nothing()
    {
        await using var stores = await StoresAsync();
        var job = await stores.Jobs.CreateAsync(Upload, 7, "investigator");
        var request = await stores.Requests.RegisterAsync(new SubjectAccessRequestInput("X1234567", IdentityVerification.ElectronicIdentification, Time.GetUtcNow()), "dpo");
        var versions = stores.Database.SchemaVersions();

        stores.Database.Migrate(Time);

        Assert.Equal(versions, stores.Database.SchemaVersions());
        Assert.Equal((1, 1), (versions["analysis_jobs"], versions["subject_access"]));
        Assert.Equal(job, stores.Jobs.Get(job.Id));
        Assert.Equal(request, stores.Requests.Get(request.Id));
    }

    /// <summary>The two stores over one database and its audit trail.</summary>
    private sealed class Stores : IAsyncDisposable
    {
        // The alert store's vault seals the answers; no crop is stored.
        private readonly string _evidence = TestPaths.NewScratchDirectory();

        public Stores(CityWatchDatabase database, TimeProvider time)
        {
            Database = database;
            Audit = new AuditTrail(database, time);
            Jobs = new AnalysisJobStore(database, Audit, time);

            // The face search itself (the pipeline over the alerts' crops) is not a database act: these tests seal an
            // answer through SealAnswerAsync (the search's act) or write its row through TrySeal, and use no service.
            Alerts = new AlertStore(database, _evidence);
            Requests = new SubjectAccessRequests(database, service: null!, Alerts, Audit, time);
        }

        public AlertStore Alerts { get; }

        public CityWatchDatabase Database { get; }

        public AuditTrail Audit { get; }

        public AnalysisJobStore Jobs { get; }

        public SubjectAccessRequests Requests { get; }

        public async ValueTask DisposeAsync()
        {
            await Audit.DisposeAsync();
            Directory.Delete(_evidence, recursive: true);
        }
    }
}

public sealed class InvestigationStoresOnSqliteTests : InvestigationStoresEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class InvestigationStoresOnPostgresTests(PostgresFixture postgres) : InvestigationStoresEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    [Fact]
    public async Task The_investigation_tables_have_identity_ids_boolean_flags_64_bit_counts_and_bytea_secrets()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);

        using var connection = database.Connect();
        var types = connection.Query<(string Table, string Column, string Type, string? Identity)>(
            """
            SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns
            WHERE table_name IN ('analysis_jobs', 'subject_access_requests')
                AND column_name IN ('id', 'watchlist_id', 'owns_media', 'fps', 'width', 'frames_total', 'candidates', 'cancel_requested', 'identity_salt', 'identity_hash', 'result')
            ORDER BY table_name, column_name
            """);
        Assert.Equal(
            [
                ("analysis_jobs", "cancel_requested", "boolean", "NO"), ("analysis_jobs", "candidates", "bigint", "NO"), ("analysis_jobs", "fps", "double precision", "NO"),
                ("analysis_jobs", "frames_total", "bigint", "NO"), ("analysis_jobs", "id", "bigint", "YES"), ("analysis_jobs", "owns_media", "boolean", "NO"),
                ("analysis_jobs", "watchlist_id", "bigint", "NO"), ("analysis_jobs", "width", "integer", "NO"),
                ("subject_access_requests", "id", "bigint", "YES"), ("subject_access_requests", "identity_hash", "bytea", "NO"),
                ("subject_access_requests", "identity_salt", "bytea", "NO"), ("subject_access_requests", "result", "bytea", "NO"),
            ],
            types);
        Assert.Equal(["analysis_jobs_state"], connection.Query<string>("SELECT indexname FROM pg_catalog.pg_indexes WHERE tablename = 'analysis_jobs' AND indexname NOT LIKE '%pkey'"));
    }

    public void Dispose() => _databases.Dispose();
}
