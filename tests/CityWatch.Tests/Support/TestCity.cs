using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Policy;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CityWatch.Tests.Support;

/// <summary>
/// A fresh SQLite file with the schema, the audit trail and the policy engine, for one test. Grants come
/// from the real engine under a real (test) legal basis taken through its lifecycle (registered,
/// prerequisites recorded, authorised by another account) and, for live use, a real deployment of
/// approved watchlists: there is no back door for tests either.
/// </summary>
public sealed class TestCity : IDisposable
{
    public const string Registrar = "test-registrar";
    public const string AuthorityActor = "test-authority";
    public const string Approver = "test-approver";
    public const string OperatorActor = "test-operator";

    /// <summary>A fresh city; <paramref name="createSchema"/> (default: <see cref="CityWatchDatabase.Migrate"/>) makes its tables.</summary>
    public TestCity(Action<CityWatchDatabase, TimeProvider>? createSchema = null)
    {
        Directory = TestPaths.NewScratchDirectory();
        Kek = TestPaths.KekFor(Directory);
        Database = new CityWatchDatabase(Path.Combine(Directory, "citywatch.db"), Kek);
        (createSchema ?? ((database, time) => database.Migrate(time)))(Database, Time);
        Audit = new AuditTrail(Database, Time);
        LegalBases = new LegalBasisStore(Database, Audit, Time);
        Cameras = new CameraStore(Database);
        Watchlists = new WatchlistStore(Database, Time);
        Alerts = new AlertStore(Database, Path.Combine(Directory, "evidence"));
        Scope = new CameraScope(Database);
        Deployments = new DeploymentStore(Database, LegalBases, Watchlists, Scope, Audit, Time);
        CameraRegister = new CameraRegister(Database, Deployments, Audit);
        Urgency = new UrgencyGuard(Database, LegalBases, Deployments, Watchlists, Alerts, Audit);
        Cases = new CaseStore(Database, LegalBases, Scope, Audit, Time);
        Policy = new PolicyEngine(LegalBases, Cameras, Deployments, Watchlists, Scope, Urgency, Cases, Audit, Database, Time);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));

    public string Directory { get; }

    /// <summary>This city's key-encryption key: random, kept in a scratch folder beside <see cref="Directory"/>, never in it.</summary>
    public KeyEncryptionKey Kek { get; }

    public CityWatchDatabase Database { get; }

    public AuditTrail Audit { get; }

    public LegalBasisStore LegalBases { get; }

    public CameraStore Cameras { get; }

    public WatchlistStore Watchlists { get; }

    public AlertStore Alerts { get; }

    public CameraScope Scope { get; }

    public DeploymentStore Deployments { get; }

    /// <summary>The governed camera writes (update, delete, import: recorded, stopping deployments on a changed camera).</summary>
    public CameraRegister CameraRegister { get; }

    public UrgencyGuard Urgency { get; }

    public CaseStore Cases { get; }

    public PolicyEngine Policy { get; }

    /// <summary>Prerequisites with every field filled, as a test city records them.</summary>
    public static Prerequisites SamplePrerequisites { get; } = new(
        "DPIA-1",
        new FriaAssessment("live identification", "one day", "passers-by", "misidentification", "two verifiers", "stop button; DPO"),
        "EU-DB-1",
        "REG-OPINION-1");

    /// <summary>The background sweep on this city's clock.</summary>
    public GovernanceJob NewGovernanceJob() => new(Urgency, Watchlists, Audit, Time, NullLogger<GovernanceJob>.Instance);

    /// <summary>A camera in the register (its site created on first use) with face recognition allowed or not.</summary>
    public Camera AddCamera(string code, bool faceRecognitionAllowed = true, string? streamUrl = null)
    {
        if (Cameras.ListSites(0, 1).Total == 0)
        {
            Cameras.CreateSite(new SiteInput("S1", "Test square", 44.8, 20.4, "Test city"));
        }

        return Cameras.Create(new CameraInput(code, "S1", $"Camera {code}", "Test city", "test", streamUrl, faceRecognitionAllowed));
    }

    /// <summary>A draft covering the given cameras and watchlists from a minute ago for a day.</summary>
    public LegalBasisDraft Draft(long[] cameras, long[] watchlists, params ProcessingPurpose[] purposes)
    {
        var now = Time.GetUtcNow();
        return new LegalBasisDraft(
            "Test basis",
            "Test Act s.1",
            "Test court",
            purposes.Contains(ProcessingPurpose.Evaluation) ? LegalObjective.AccuracyEvaluation : LegalObjective.VictimOrMissingPersonSearch,
            "test",
            purposes.Length == 0 ? [ProcessingPurpose.Live, ProcessingPurpose.Retrospective, ProcessingPurpose.Enrolment] : purposes,
            cameras,
            watchlists,
            now.AddMinutes(-1),
            now.AddDays(1));
    }

    /// <summary>Registers a draft and records its prerequisites (as <see cref="Registrar"/>).</summary>
    public async Task<LegalBasis> PreparedBasisAsync(LegalBasisDraft draft)
    {
        var basis = await LegalBases.RegisterAsync(draft, Registrar);
        return await LegalBases.RecordPrerequisitesAsync(basis.Id, SamplePrerequisites, Registrar);
    }

    /// <summary>
    /// Takes a basis covering the given cameras and watchlists for a day through its lifecycle; for live use
    /// on cameras it also approves the watchlists (creating any missing ids) and starts a deployment.
    /// </summary>
    public async Task<LegalBasis> ActiveBasisAsync(long[] cameras, long[] watchlists, params ProcessingPurpose[] purposes)
    {
        var draft = Draft(cameras, watchlists, purposes);
        var basis = await PreparedBasisAsync(draft);
        basis = await LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision("T-1"), AuthorityActor);
        if (draft.Purposes.Contains(ProcessingPurpose.Live) && cameras.Length > 0)
        {
            await DeployAsync(basis.Id, cameras, watchlists);
        }

        return basis;
    }

    /// <summary>Approves the watchlists as they stand (creating missing ids) and starts a deployment of them.</summary>
    public async Task<Deployment> DeployAsync(long basisId, long[] cameras, long[] watchlists)
    {
        EnsureWatchlists(watchlists);
        foreach (var id in watchlists)
        {
            if (!Watchlists.Get(id).Approved)
            {
                Assert.Null(Watchlists.Approve(id, Approver).Refusal);
            }
        }

        return await Deployments.StartAsync(new DeploymentInput(basisId, cameras, watchlists), OperatorActor);
    }

    /// <summary>Creates watchlists until every id in <paramref name="ids"/> exists.</summary>
    public void EnsureWatchlists(IEnumerable<long> ids)
    {
        var wanted = ids.DefaultIfEmpty(0).Max();
        while (Watchlists.List().Select(w => w.Id).DefaultIfEmpty(0).Max() < wanted)
        {
            Watchlists.Create(new WatchlistInput($"list-{Guid.NewGuid():N}", "test"), Registrar);
        }
    }

    /// <summary>A case under <paramref name="basis"/> over its whole window on the given cameras, expiring with it.</summary>
    public Task<Case> OpenCaseAsync(LegalBasis basis, string number, params long[] cameras) =>
        Cases.OpenAsync(new CaseInput(number, basis.Id, basis.Offence ?? "test offence", cameras, basis.ValidFrom, basis.ValidUntil, basis.ValidUntil), "test-investigator");

    /// <summary>A live grant on a (new) camera for a watchlist (created if missing), from the real engine.</summary>
    public async Task<ProcessingGrant> LiveGrantAsync(long watchlist = 1)
    {
        var camera = AddCamera($"C{Guid.NewGuid():N}").Id;
        await ActiveBasisAsync([camera], [watchlist]);
        return await Policy.RequireAsync(new PolicyRequest("test", ProcessingPurpose.Live, camera, [watchlist]));
    }

    public void Dispose()
    {
        Audit.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
            TestPaths.DeleteKekOf(Directory);
        }
        catch (IOException)
        {
            // A scratch folder left behind in /tmp does no harm.
        }
    }
}
