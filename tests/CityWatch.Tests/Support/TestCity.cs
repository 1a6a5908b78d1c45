using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Policy;
using Microsoft.Extensions.Time.Testing;

namespace CityWatch.Tests.Support;

/// <summary>
/// A fresh SQLite file with the schema, the audit trail and the policy engine, for one test. Grants come
/// from the real engine under a real (test) legal basis: there is no back door for tests either.
/// </summary>
public sealed class TestCity : IDisposable
{
    public TestCity()
    {
        Directory = TestPaths.NewScratchDirectory();
        Database = new CityWatchDatabase(Path.Combine(Directory, "citywatch.db"));
        Database.Migrate();
        Audit = new AuditTrail(Database, Time);
        LegalBases = new LegalBasisStore(Database, Audit, Time);
        Cameras = new CameraStore(Database);
        Policy = new PolicyEngine(LegalBases, Cameras, Audit, Time);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));

    public string Directory { get; }

    public CityWatchDatabase Database { get; }

    public AuditTrail Audit { get; }

    public LegalBasisStore LegalBases { get; }

    public CameraStore Cameras { get; }

    public PolicyEngine Policy { get; }

    /// <summary>A camera in the register (its site created on first use) with face recognition allowed or not.</summary>
    public Camera AddCamera(string code, bool faceRecognitionAllowed = true, string? streamUrl = null)
    {
        if (Cameras.ListSites(0, 1).Total == 0)
        {
            Cameras.CreateSite(new SiteInput("S1", "Test square", 44.8, 20.4, "Test city"));
        }

        return Cameras.Create(new CameraInput(code, "S1", $"Camera {code}", "Test city", "test", streamUrl, faceRecognitionAllowed));
    }

    /// <summary>Registers and activates a basis covering the given cameras and watchlists for a day.</summary>
    public async Task<LegalBasis> ActiveBasisAsync(long[] cameras, long[] watchlists, params ProcessingPurpose[] purposes)
    {
        var now = Time.GetUtcNow();
        var draft = new LegalBasisDraft(
            "Test basis",
            "Test Act s.1",
            "Test court",
            "T-1",
            "test",
            purposes.Length == 0 ? [ProcessingPurpose.Live, ProcessingPurpose.Retrospective, ProcessingPurpose.Enrolment] : purposes,
            cameras,
            watchlists,
            now.AddMinutes(-1),
            now.AddDays(1));
        var basis = await LegalBases.RegisterAsync(draft, "test");
        return await LegalBases.ActivateAsync(basis.Id, "test");
    }

    /// <summary>A live grant on a (new) camera for watchlist 1, from the real engine.</summary>
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
        }
        catch (IOException)
        {
            // A scratch folder left behind in /tmp does no harm.
        }
    }
}
