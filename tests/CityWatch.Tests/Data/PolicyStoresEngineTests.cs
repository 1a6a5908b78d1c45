using System.Data.Common;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Dapper;
using Microsoft.Extensions.Time.Testing;

namespace CityWatch.Tests.Data;

/// <summary>
/// The policy feature's stores on both engines: <see cref="LegalBasisStore"/> (registration, the lifecycle's
/// compare-and-set transitions, in-force reads), <see cref="CameraScope"/>, <see cref="DeploymentStore"/>
/// (started and stopped once), <see cref="UrgentRequestRegister"/> and what <see cref="UrgencyGuard"/> reads and
/// marks and its destruction (alerts with their evidence keys and crops, enrolments, one record), each test on an
/// empty database opened with a KEK (the audit trail signs with a wrapped key) and migrated by
/// <see cref="CityWatchDatabase.Migrate"/>.
/// </summary>
public abstract class PolicyStoresEngineTests
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));

    /// <summary>An empty database on this class's engine, opened with <paramref name="kek"/>, not yet migrated.</summary>
    protected abstract Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek);

    private static readonly GeoPoint[] Harbour = [new(51.0, 4.0), new(51.0, 4.2), new(51.2, 4.2), new(51.2, 4.0)];

    private async Task<Policy> PolicyAsync()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);
        return new Policy(database, Time);
    }

    private LegalBasisDraft Draft(IReadOnlyList<long> cameras, IReadOnlyList<long> watchlists, IReadOnlyList<GeoPoint>? area = null, bool urgent = false) => new(
        "Missing child, harbour",
        "Order 2026/118",
        "court:antwerp",
        LegalObjective.VictimOrMissingPersonSearch,
        "a child reported missing at the harbour",
        [ProcessingPurpose.Live, ProcessingPurpose.Retrospective],
        cameras,
        watchlists,
        Time.GetUtcNow(),
        Time.GetUtcNow().AddDays(10),
        MaxRetentionDays: 14,
        MaxWatchlistEntries: 20,
        Area: area,
        Urgent: urgent,
        IsDemonstration: true);

    private static async Task<LegalBasis> AuthorisedAsync(Policy policy, LegalBasisDraft draft)
    {
        var basis = await policy.LegalBases.RegisterAsync(draft, "registrar");
        await policy.LegalBases.RecordPrerequisitesAsync(basis.Id, TestCity.SamplePrerequisites, "registrar");
        return await policy.LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision("ruling 7"), "judge");
    }

    [Fact]
    public async Task A_legal_basis_is_registered_and_read_back_exactly_through_its_lifecycle()
    {
        await using var policy = await PolicyAsync();
        var now = Time.GetUtcNow();

        var draft = await policy.LegalBases.RegisterAsync(Draft([3, 1], [9], Harbour), "registrar");

        Same(draft, policy.LegalBases.Get(draft.Id));
        Assert.Equal(
            ("Missing child, harbour", LegalObjective.VictimOrMissingPersonSearch, LegalBasisStatus.Draft, "registrar", now, now, now.AddDays(10), 14, 20),
            (draft.Title, draft.Objective, draft.Status, draft.CreatedBy, draft.CreatedAt, draft.ValidFrom, draft.ValidUntil, draft.MaxRetentionDays, draft.MaxWatchlistEntries));
        Assert.Equal([ProcessingPurpose.Live, ProcessingPurpose.Retrospective], draft.Purposes);
        Assert.Equal([3L, 1L], draft.CameraIds);
        Assert.Equal([9L], draft.WatchlistIds);
        Assert.Equal(Harbour, draft.Area);
        Assert.Equal((false, true, (DateTimeOffset?)null), (draft.Urgent, draft.IsDemonstration, draft.UrgencyDeadline));

        var recorded = await policy.LegalBases.RecordPrerequisitesAsync(draft.Id, TestCity.SamplePrerequisites, "registrar");
        var authorised = await policy.LegalBases.AuthoriseAsync(draft.Id, new AuthorityDecision("ruling 7"), "judge");

        Assert.Equal(LegalBasisStatus.PrerequisitesRecorded, recorded.Status);
        Assert.Equal(TestCity.SamplePrerequisites, recorded.Prerequisites);
        Assert.Equal((LegalBasisStatus.Active, "ruling 7", "judge", now), (authorised.Status, authorised.DecisionReference, authorised.DecidedBy, authorised.DecidedAt!.Value));
        Same(new[] { authorised }, policy.LegalBases.List());
        await Assert.ThrowsAsync<PolicyRefusedException>(() => policy.LegalBases.AuthoriseAsync(draft.Id, new AuthorityDecision("again"), "judge"));
    }

    [Fact]
    public async Task A_transition_happens_only_from_the_states_it_names()
    {
        await using var policy = await PolicyAsync();
        var basis = await policy.LegalBases.RegisterAsync(Draft([1], [9]), "registrar");

        bool Revoke(DateTimeOffset at)
        {
            using var connection = policy.Database.Connect();
            using var transaction = connection.BeginTransaction();
            var done = LegalBasisStore.TryTransition(
                connection, transaction, basis.Id, ["Draft", "PrerequisitesRecorded", "Authorised"], "state = 'Revoked', revoked_by = @actor, revoked_at = @now", null, "dpo", at);
            transaction.Commit();
            return done;
        }

        Assert.True(Revoke(Time.GetUtcNow()));
        Assert.False(Revoke(Time.GetUtcNow().AddHours(1)));
        var revoked = policy.LegalBases.Get(basis.Id);
        Assert.Equal((LegalBasisStatus.Revoked, "dpo", Time.GetUtcNow()), (revoked.Status, revoked.RevokedBy, revoked.RevokedAt!.Value));
        await Assert.ThrowsAsync<ConflictException>(() => policy.LegalBases.RevokeAsync(basis.Id, "dpo"));
    }

    [Fact]
    public async Task Bases_in_force_are_found_by_time_and_cover_cameras_by_list_or_by_their_site_in_the_area()
    {
        await using var policy = await PolicyAsync();
        var cameras = new CameraStore(policy.Database);
        cameras.CreateSite(new SiteInput("harbour", "Harbour", 51.1, 4.1, "city"));
        cameras.CreateSite(new SiteInput("station", "Station", 51.5, 4.5, "rail"));
        var quay = cameras.Create(new CameraInput("quay-1", "harbour", "Quay", "city", "traffic"));
        var platform = cameras.Create(new CameraInput("platform-1", "station", "Platform", "rail", "safety"));
        var listed = await AuthorisedAsync(policy, Draft([platform.Id], [9]));
        Time.Advance(TimeSpan.FromDays(5));
        var byArea = await AuthorisedAsync(policy, Draft([], [10], Harbour));
        var draftOnly = await policy.LegalBases.RegisterAsync(Draft([quay.Id], [9]), "registrar");
        var now = Time.GetUtcNow();

        Assert.Equal([listed.Id, byArea.Id], policy.LegalBases.InForce(now).Select(b => b.Id));
        Assert.Equal([byArea.Id], policy.LegalBases.InForce(now.AddDays(6)).Select(b => b.Id));
        Assert.Empty(policy.LegalBases.InForce(now.AddDays(10)));
        Assert.DoesNotContain(draftOnly.Id, policy.LegalBases.InForce(now).Select(b => b.Id));
        Assert.Equal([byArea.Id], policy.LegalBases.InForce(now).Where(b => b.WatchlistIds.Contains(10)).Select(b => b.Id));
        Assert.Equal([listed.Id], policy.LegalBases.InForce(now).Where(b => b.InForceUntil(now, ProcessingPurpose.Live) == listed.ValidUntil).Select(b => b.Id));

        Assert.True(policy.Scope.Covers(listed, platform.Id));
        Assert.False(policy.Scope.Covers(listed, quay.Id));
        Assert.True(policy.Scope.Covers(byArea, quay.Id));
        Assert.False(policy.Scope.Covers(byArea, platform.Id));
        Assert.False(policy.Scope.Covers(byArea, platform.Id + 100));
    }

    [Fact]
    public async Task A_deployment_is_started_on_its_basis_and_stopped_once()
    {
        await using var policy = await PolicyAsync();
        var list = policy.Watchlists.Create(new WatchlistInput("missing", "missing persons"), "curator");
        Approve(policy.Database, list);
        var basis = await AuthorisedAsync(policy, Draft([1, 2], [list.Id]));

        var started = await policy.Deployments.StartAsync(new DeploymentInput(basis.Id, [2, 1, 2], [list.Id]), "officer");

        Same(started, policy.Deployments.Get(started.Id));
        Assert.Equal((basis.Id, "officer", Time.GetUtcNow(), true), (started.LegalBasisId, started.StartedBy, started.StartedAt, started.Running));
        Assert.Equal([2L, 1L], started.CameraIds);
        Assert.Equal([new DeploymentWatchlist(list.Id, list.CurrentDigest)], started.Watchlists);
        Same(new[] { started }, policy.Deployments.Running());
        using (var connection = policy.Database.Connect())
        {
            Same(new[] { started }, DeploymentStore.RunningOn(connection, null, 1));
            Assert.Empty(DeploymentStore.RunningOn(connection, null, 3));
        }

        Time.Advance(TimeSpan.FromMinutes(5));
        var stopped = await policy.Deployments.StopAsync(started.Id, "officer", isOverseer: false, "found");

        Assert.Equal((false, "officer", "found", Time.GetUtcNow()), (stopped.Running, stopped.StoppedBy, stopped.StopReason, stopped.StoppedAt!.Value));
        await Assert.ThrowsAsync<ConflictException>(() => policy.Deployments.StopAsync(started.Id, "dpo", isOverseer: true, "again"));
        using (var connection = policy.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.False(DeploymentStore.TryStop(connection, transaction, started.Id, "dpo", "again", Time.GetUtcNow()));
            Assert.Empty(DeploymentStore.RunningOn(connection, transaction, 1));
        }

        Same(stopped, policy.Deployments.Get(started.Id));
        Assert.Empty(policy.Deployments.Running());
    }

    [Fact]
    public async Task A_deployment_row_is_written_only_while_its_basis_is_as_checked_and_a_camera_change_stops_those_on_it()
    {
        await using var policy = await PolicyAsync();
        var basis = await AuthorisedAsync(policy, Draft([1, 2], [9]));
        DeploymentWatchlist[] lists = [new(9, "digest")];
        long first;
        using (var connection = policy.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            first = DeploymentStore.TryInsert(connection, transaction, basis, [1], lists, "officer", Time.GetUtcNow())!.Value;
            DeploymentStore.TryInsert(connection, transaction, basis, [2], lists, "officer", Time.GetUtcNow());
            var urgent = basis with { Status = LegalBasisStatus.UrgentActive };
            Assert.Null(DeploymentStore.TryInsert(connection, transaction, urgent, [1], lists, "officer", Time.GetUtcNow()));
            transaction.Commit();
        }

        IReadOnlyList<StagedRecord> staged;
        using (var connection = policy.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            staged = policy.Deployments.StopOnCamera(connection, transaction, 1, "admin");
            transaction.Commit();
        }

        Assert.Single(staged);
        await policy.Audit.CommittedAsync(staged[0]);
        Assert.Equal("stopped: camera 1 changed", policy.Deployments.Get(first).StopReason);
        Assert.Equal([2L], Assert.Single(policy.Deployments.Running()).CameraIds);
        Assert.Equal(2, policy.Deployments.List().Count);
    }

    [Fact]
    public async Task A_camera_moved_out_of_the_area_while_a_deployment_is_being_started_leaves_nothing_started()
    {
        await using var policy = await PolicyAsync();
        var cameras = new CameraStore(policy.Database);
        cameras.CreateSite(new SiteInput("harbour", "Harbour", 51.1, 4.1, "city"));
        var station = cameras.CreateSite(new SiteInput("station", "Station", 51.5, 4.5, "rail"));
        var quay = cameras.Create(new CameraInput("quay-1", "harbour", "Quay", "city", "traffic"));
        var list = policy.Watchlists.Create(new WatchlistInput("missing", "missing persons"), "curator");
        Approve(policy.Database, list);
        var basis = await AuthorisedAsync(policy, Draft([], [list.Id], Harbour));
        Assert.True(policy.Scope.Covers(basis, quay.Id));

        // A register act moving the camera to a site outside the area, holding its tables as the register does, while
        // the start runs: the start's checks read the register as it was, then its transaction waits for the move.
        Task<Deployment> start;
        using (var connection = policy.Database.Connect())
        using (var transaction = policy.Database.Dialect.BeginWrite(connection, "cameras", "deployments"))
        {
            connection.Execute("UPDATE cameras SET site_id = @station WHERE id = @quay", new { station = station.Id, quay = quay.Id }, transaction);
            start = Task.Run(() => policy.Deployments.StartAsync(new DeploymentInput(basis.Id, [quay.Id], [list.Id]), "officer"));
            await WaitUntilWaitingForALockAsync(policy.Database, start);
            transaction.Commit();
        }

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => start);
        Assert.True(refused is ConflictException or PolicyRefusedException, refused.ToString());
        Assert.Contains($"camera {quay.Id}", refused.Message, StringComparison.Ordinal);
        Assert.Empty(policy.Deployments.List());
        Assert.False(policy.Scope.Covers(basis, quay.Id));
    }

    /// <summary>Returns once <paramref name="act"/> waits for a lock another transaction holds, or has ended; on SQLite, which cannot say, after a pause.</summary>
    protected virtual Task WaitUntilWaitingForALockAsync(CityWatchDatabase database, Task act) => Task.WhenAny(act, Task.Delay(TimeSpan.FromSeconds(1)));

    [Fact]
    public async Task Urgent_requests_are_filed_answered_and_counted_and_the_urgency_guard_finds_and_marks_what_to_settle()
    {
        await using var policy = await PolicyAsync();
        var lapsing = await policy.LegalBases.RegisterAsync(Draft([1], [9], urgent: true), "registrar");
        var authorised = await AuthorisedAsync(policy, Draft([2], [10], urgent: true));
        var refused = await policy.LegalBases.RegisterAsync(Draft([3], [11], urgent: true), "registrar");
        await policy.LegalBases.RefuseAsync(refused.Id, new AuthorityDecision("ruling 8", "no grounds"), "judge");

        Assert.Equal(
            [(lapsing.Id, UrgentRequestOutcome.Pending), (authorised.Id, UrgentRequestOutcome.Authorised), (refused.Id, UrgentRequestOutcome.Refused)],
            policy.Requests.List().Select(r => (r.LegalBasisId, r.Outcome)));
        Assert.Equal(new UrgentRequestCounts(3, 2, 1, 1, 0, 0, 1), policy.Requests.Counts());
        Assert.Equal([refused.Id], policy.LegalBases.UrgentToSettle().Select(b => b.Id));

        Time.Advance(LegalBasis.LiveUrgency);
        Assert.Equal(new UrgentRequestCounts(3, 2, 1, 1, 1, 0, 0), policy.Requests.Counts());
        var toSettle = policy.LegalBases.UrgentToSettle();
        Assert.Equal([lapsing.Id, refused.Id], toSettle.Select(b => b.Id));
        Assert.True(await policy.LegalBases.MarkLapsedAsync(toSettle[0], UrgencyGuard.SystemActor, CancellationToken.None));
        Assert.False(await policy.LegalBases.MarkLapsedAsync(toSettle[0], UrgencyGuard.SystemActor, CancellationToken.None));
        var lapsed = policy.Requests.List()[0];
        Assert.Equal((UrgentRequestOutcome.Lapsed, UrgencyGuard.SystemActor, Time.GetUtcNow()), (lapsed.Outcome, lapsed.AnsweredBy, lapsed.AnsweredAt!.Value));
        using (var connection = policy.Database.Connect())
        using (var transaction = connection.BeginTransaction())
        {
            Assert.True(policy.LegalBases.MarkDestroyed(connection, transaction, refused.Id));
            Assert.False(policy.LegalBases.MarkDestroyed(connection, transaction, refused.Id));
            Assert.False(UrgentRequestRegister.Answer(connection, transaction, refused.Id, UrgentRequestOutcome.Withdrawn, "dpo", Time.GetUtcNow()));
            transaction.Commit();
        }

        Assert.Equal([lapsing.Id], policy.LegalBases.UrgentToSettle().Select(b => b.Id));
        // Urgent use that ended unauthorised does not restart as urgent on the same camera and watchlist; nothing is registered.
        await Assert.ThrowsAsync<PolicyRefusedException>(() => policy.LegalBases.RegisterAsync(Draft([3], [11], urgent: true), "registrar"));
        Assert.Equal(3, policy.LegalBases.List().Count);
        Assert.Equal(3, policy.Requests.List().Count);
    }

    /// <summary>
    /// An urgent use the authority refuses: its alerts (rows, keys, crop files) and its enrolments are destroyed in one
    /// act with one record; what another basis made stays; a second sweep destroys nothing.
    /// </summary>
    [Fact]
    public async Task An_urgent_use_refused_is_destroyed_alerts_keys_crops_and_enrolments_once_with_one_record()
    {
        await using var policy = await PolicyAsync();
        var list = policy.Watchlists.Create(new WatchlistInput("missing", "missing persons"), "curator");
        var urgent = await policy.LegalBases.RegisterAsync(Draft([1], [list.Id], urgent: true), "registrar");
        var other = await AuthorisedAsync(policy, Draft([2], [list.Id]));
        var entry = InsertEntry(policy.Database, list.Id, urgent.Id);
        var keptEntry = InsertEntry(policy.Database, list.Id, other.Id);
        var alert = policy.Alerts.Add(Alert(urgent.Id, 1));
        var kept = policy.Alerts.Add(Alert(other.Id, 2));
        var (file, key) = policy.Alerts.CropLocation(alert.Id);
        var sealedCrop = File.ReadAllBytes(Path.Combine(policy.Alerts.EvidenceDirectory, file));

        var refused = await policy.Urgency.RefuseAsync(urgent.Id, new AuthorityDecision("ruling 9", "not necessary"), "judge");

        Assert.Equal(LegalBasisStatus.Refused, refused.Status);
        Assert.Throws<CityWatch.Evidence.EvidenceDestroyedException>(() => policy.Alerts.Vault.Open(key, sealedCrop));
        Assert.False(File.Exists(Path.Combine(policy.Alerts.EvidenceDirectory, file)));
        Assert.Equal([kept.Id], policy.Alerts.All().Select(a => a.Id));
        Assert.Equal([0xFF, 0xD8, 0xFF, 0xD9], policy.Alerts.Crop(kept.Id));
        Assert.Equal([keptEntry], policy.Watchlists.Entries(list.Id).Select(e => e.Id));
        var destruction = Assert.Single(policy.Audit.Read(0, 1000, GovernanceActions.UrgencyDestruction));
        Assert.Equal(("destroyed: urgency use refused", urgent.Id), (destruction.Outcome, destruction.LegalBasisId!.Value));
        Assert.Contains($"\"alertIds\":\"{alert.Id}\"", destruction.Body, StringComparison.Ordinal);
        Assert.Contains($"\"entryIds\":\"{list.Id}/{entry}\"", destruction.Body, StringComparison.Ordinal);
        Assert.Empty(policy.LegalBases.UrgentToSettle());
        Assert.Equal(0, await policy.Urgency.EnforceAsync());
        Assert.Single(policy.Audit.Read(0, 1000, GovernanceActions.UrgencyDestruction));
    }

    private NewAlert Alert(long basis, long camera) =>
        new(camera, 1, 1, "sought", basis, Guid.NewGuid(), Time.GetUtcNow(), 0.9f, 0.5f, new FaceBox(1, 1, 10, 10), [0xFF, 0xD8, 0xFF, 0xD9]);

    private static readonly byte[] Template = [1, 2, 3, 4];

    // An entry as an enrolment leaves it, written directly (WatchlistStore's enrolment is SQLite's).
    private static long InsertEntry(CityWatchDatabase database, long watchlistId, long basis)
    {
        using var connection = database.Connect();
        return connection.ExecuteScalar<long>(
            """
            INSERT INTO watchlist_entries (watchlist_id, label, category, image_source, legal_basis_id, enrolled_by, enrolled_at, model, template, template_hash, label_salt)
            VALUES (@watchlistId, 'P-1', 'missing person', 'family photo', @basis, 'enroller', '2026-12-04T09:00:00.0000000+00:00', 'faceres', @template, @hash, @salt)
            RETURNING id
            """,
            new { watchlistId, basis, template = Template, hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Template)), salt = new byte[] { 0, 1, 2, 255 } });
    }

    [Fact]
    public async Task A_case_is_opened_under_a_basis_in_force_and_closed_once_with_their_records()
    {
        await using var policy = await PolicyAsync();
        var basis = await AuthorisedAsync(policy, Draft([1], [9]));
        var cases = new CaseStore(policy.Database, policy.LegalBases, policy.Scope, policy.Audit, Time);
        Time.Advance(TimeSpan.FromDays(1));
        var now = Time.GetUtcNow();
        CaseInput Missing(string number, long camera) => new(number, basis.Id, "abduction", [camera], basis.ValidFrom, now, now.AddDays(5));

        var opened = await cases.OpenAsync(Missing("PD-2026-0042", 1), "investigator");
        await Assert.ThrowsAsync<PolicyRefusedException>(() => cases.OpenAsync(Missing("PD-2026-0043", 2), "investigator"));
        await Assert.ThrowsAsync<ConflictException>(() => cases.OpenAsync(Missing("PD-2026-0042", 1), "investigator"));
        var closed = await cases.CloseAsync(opened.Id, "found", "investigator");
        await Assert.ThrowsAsync<ConflictException>(() => cases.CloseAsync(opened.Id, "again", "investigator"));

        Assert.Equal((CaseStatus.Open, basis.Id, "investigator"), (opened.Status, opened.LegalBasisId, opened.OpenedBy));
        Assert.Equal((CaseStatus.Closed, "found", now), (closed.Status, closed.CloseReason, closed.ClosedAt!.Value));
        Assert.Equal(["PD-2026-0042"], cases.List().Select(c => c.Number));
        var logged = policy.Audit.Read(0, 100).Select(a => (a.Action, a.Outcome)).ToList();
        Assert.Contains((CaseActions.Open, "opened"), logged);
        Assert.Contains((CaseActions.Close, "closed"), logged);
    }

    [Fact]
    public async Task A_case_must_name_a_legal_basis_that_exists()
    {
        await using var policy = await PolicyAsync();
        var basis = await policy.LegalBases.RegisterAsync(Draft([1], [9]), "registrar");
        var now = Time.GetUtcNow();

        long? Open(long legalBasisId, string number)
        {
            using var connection = policy.Database.Connect();
            using var transaction = connection.BeginTransaction();
            var id = CaseStore.Insert(connection, transaction, new CaseInput(number, legalBasisId, "abduction", [1], now.AddDays(-1), now, now.AddDays(5)), [1], "investigator", now);
            transaction.Commit();
            return id;
        }

        Assert.NotNull(Open(basis.Id, "PD-2026-0001"));
        Assert.ThrowsAny<DbException>(() => Open(basis.Id + 100, "PD-2026-0002"));
        using var connection = policy.Database.Connect();
        Assert.Equal(1, connection.ExecuteScalar<int>("SELECT COUNT(*) FROM cases"));
    }

    [Fact]
    public async Task Migrating_again_changes_nothing()
    {
        await using var policy = await PolicyAsync();
        var basis = await AuthorisedAsync(policy, Draft([1], [9], urgent: true));
        var versions = policy.Database.SchemaVersions();

        policy.Database.Migrate(Time);

        Assert.Equal(versions, policy.Database.SchemaVersions());
        Assert.Equal((1, 2), (versions["policy"], versions["cases"]));
        Same(basis, policy.LegalBases.Get(basis.Id));
        Assert.Single(policy.Requests.List());
    }

    // The records hold lists, which record equality compares by reference: compared by every value instead.
    private static void Same<T>(T expected, T actual) => Assert.Equal(JsonSerializer.Serialize(expected), JsonSerializer.Serialize(actual));

    private static void Approve(CityWatchDatabase database, Watchlist list)
    {
        // The approval (a second account, its record) is SQLite's WatchlistStore.Approve; here only its effect on the row.
        using var connection = database.Connect();
        connection.Execute("UPDATE watchlists SET approved_digest = @digest, approved_by = 'approver' WHERE id = @id", new { digest = list.CurrentDigest, id = list.Id });
    }

    /// <summary>The policy feature's stores over one database and its audit trail.</summary>
    private sealed class Policy : IAsyncDisposable
    {
        private readonly string _evidence = TestPaths.NewScratchDirectory();

        public Policy(CityWatchDatabase database, TimeProvider time)
        {
            Database = database;
            Audit = new AuditTrail(database, time);
            LegalBases = new LegalBasisStore(database, Audit, time);
            Scope = new CameraScope(database);
            Watchlists = new WatchlistStore(database, time);
            Deployments = new DeploymentStore(database, LegalBases, Watchlists, Scope, Audit, time);
            Requests = new UrgentRequestRegister(database, time);
            Alerts = new AlertStore(database, _evidence);
            Urgency = new UrgencyGuard(database, LegalBases, Deployments, Watchlists, Alerts, Audit);
        }

        public CityWatchDatabase Database { get; }

        public AuditTrail Audit { get; }

        public LegalBasisStore LegalBases { get; }

        public CameraScope Scope { get; }

        public WatchlistStore Watchlists { get; }

        public DeploymentStore Deployments { get; }

        public UrgentRequestRegister Requests { get; }

        public AlertStore Alerts { get; }

        public UrgencyGuard Urgency { get; }

        public async ValueTask DisposeAsync()
        {
            await Audit.DisposeAsync();
            Directory.Delete(_evidence, recursive: true);
        }
    }
}

public sealed class PolicyStoresOnSqliteTests : PolicyStoresEngineTests, IDisposable
{
    private readonly SqliteDatabases _databases = new();

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    public void Dispose() => _databases.Dispose();
}

public sealed class PolicyStoresOnPostgresTests(PostgresFixture postgres) : PolicyStoresEngineTests, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresDatabases _databases = new(postgres);

    protected override Task<CityWatchDatabase> NewDatabaseAsync(KeyEncryptionKey kek) => _databases.NewAsync(kek);

    // The guard's act runs on PostgreSQL but hands WatchlistStore.RemoveUnderBasis its connection cast to SqliteConnection
    // until WatchlistStore is on the shared path: unskip with that cast gone.
    protected override async Task WaitUntilWaitingForALockAsync(CityWatchDatabase database, Task act)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!act.IsCompleted && waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            using (var connection = database.Connect())
            {
                if (connection.ExecuteScalar<long>("SELECT COUNT(*) FROM pg_catalog.pg_locks WHERE NOT granted") > 0)
                {
                    return;
                }
            }

            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task The_policy_tables_have_identity_ids_boolean_flags_and_cases_refer_to_legal_bases()
    {
        var database = await NewDatabaseAsync(KeyEncryptionKey.Generate());
        database.Migrate(Time);

        using var connection = database.Connect();
        var types = connection.Query<(string Table, string Column, string Type, string? Identity)>(
            """
            SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns
            WHERE table_name IN ('legal_bases', 'deployments', 'urgent_requests') AND column_name IN ('id', 'legal_basis_id', 'urgent', 'is_demonstration', 'max_retention_days')
            ORDER BY table_name, column_name
            """);
        Assert.Equal(
            [
                ("deployments", "id", "bigint", "YES"), ("deployments", "legal_basis_id", "bigint", "NO"),
                ("legal_bases", "id", "bigint", "YES"), ("legal_bases", "is_demonstration", "boolean", "NO"), ("legal_bases", "max_retention_days", "integer", "NO"),
                ("legal_bases", "urgent", "boolean", "NO"),
                ("urgent_requests", "id", "bigint", "YES"), ("urgent_requests", "legal_basis_id", "bigint", "NO"),
            ],
            types);
        var references = connection.Query<(string Table, string Referenced)>(
            """
            SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_catalog.pg_constraint c
            WHERE c.contype = 'f' AND c.confrelid = 'legal_bases'::regclass ORDER BY 1
            """);
        Assert.Equal([("cases", "legal_bases"), ("deployments", "legal_bases"), ("urgent_requests", "legal_bases")], references);
        Assert.Equal(["deployments_running"], connection.Query<string>("SELECT indexname FROM pg_catalog.pg_indexes WHERE tablename = 'deployments' AND indexname NOT LIKE '%pkey'"));
    }

    public void Dispose() => _databases.Dispose();
}
