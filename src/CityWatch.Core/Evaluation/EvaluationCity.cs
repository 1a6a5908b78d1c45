using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Keys;
using CityWatch.Policy;
using CityWatch.Settings;

namespace CityWatch.Evaluation;

/// <summary>
/// The governed context an evaluation runs in: a scratch CityWatch data folder of its own, created for the run
/// and deleted afterwards, its audit trail, an active legal basis for <see cref="ProcessingPurpose.Evaluation"/>
/// (no watchlist) registered in that scratch register, and grants from the real <see cref="PolicyEngine"/>,
/// renewed shortly before they expire. The pipeline never runs without one. It never opens a folder it did
/// not create: the basis it registers is "authorised" by <see cref="Actor"/>, which is no account, and that
/// must never reach a city's register (an evaluation that changes a city's settings proposes them through
/// the server, signed in as a person).
/// </summary>
public sealed class EvaluationCity : IDisposable
{
    public const string Actor = "cli:eval";
    public const string BasisTitle = "evaluation on a labelled test set";
    // Half a grant's 10 s life: on a loaded box a renewal (an audited act, one fsync) can take over a second,
    // and a caller that asks once a second must still get a fresh grant before the old one lapses.
    private static readonly TimeSpan RenewMargin = TimeSpan.FromSeconds(5);

    private readonly TimeProvider time;
    private readonly PolicyEngine policy;
    private ProcessingGrant? grant;

    private EvaluationCity(string directory, TimeProvider time, KeyEncryptionKey kek)
    {
        Directory = directory;
        this.time = time;
        Database = new CityWatchDatabase(Path.Combine(directory, "citywatch.db"), kek);
        Database.Migrate(time);
        Audit = new AuditTrail(Database, time);
        LegalBases = new LegalBasisStore(Database, Audit, time);
        policy = PolicyServices.Standalone(Database, LegalBases, Audit, time, Path.Combine(directory, "evidence"));
        Settings = new SettingsStore(Database, Audit, time);
    }

    /// <summary>The scratch data folder in use (deleted on dispose).</summary>
    public string Directory { get; }

    public CityWatchDatabase Database { get; }

    public AuditTrail Audit { get; }

    public LegalBasisStore LegalBases { get; }

    public SettingsStore Settings { get; }

    /// <summary>Creates a new scratch folder and registers and authorises the evaluation basis in it.</summary>
    public static async Task<EvaluationCity> OpenAsync(TimeProvider time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(time);
        var directory = Path.Combine(Path.GetTempPath(), "citywatch-eval", Guid.NewGuid().ToString("N"));
        if (System.IO.Directory.Exists(directory))
        {
            throw new InvalidOperationException($"The evaluation's scratch folder {directory} already exists.");
        }

        System.IO.Directory.CreateDirectory(directory);
        // The scratch folder is deleted afterwards, so it gets a throw-away KEK.
        var city = new EvaluationCity(directory, time, KeyEncryptionKey.Generate());
        try
        {
            await city.RegisterBasisAsync(cancellationToken);
            return city;
        }
        catch
        {
            city.Dispose();
            throw;
        }
    }

    /// <summary>A valid evaluation grant: the one held, or a new one when it has under two seconds left.</summary>
    public async Task<ProcessingGrant> GrantAsync(CancellationToken cancellationToken = default)
    {
        if (grant is null || grant.ExpiresAt - time.GetUtcNow() < RenewMargin)
        {
            grant = await policy.RequireAsync(new PolicyRequest(Actor, ProcessingPurpose.Evaluation, null, []), cancellationToken);
        }

        return grant;
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
            // A scratch folder left in the temp directory does no harm.
        }
    }

    private async Task RegisterBasisAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        // Evaluation of a labelled test set still goes through the lifecycle, with the evaluation clause of
        // the DPIA as its prerequisite and the data-protection officer's sign-off as its authorisation.
        var draft = new LegalBasisDraft(
            BasisTitle,
            "CityWatch accuracy evaluation (no watchlist, no camera)",
            "local operator",
            LegalObjective.AccuracyEvaluation,
            "measure detection and recognition accuracy on a labelled test set before any live use",
            [ProcessingPurpose.Evaluation],
            [],
            [],
            now.AddMinutes(-1),
            now.AddDays(1));
        var basis = await LegalBases.RegisterAsync(draft, Actor, cancellationToken);
        await LegalBases.RecordPrerequisitesAsync(
            basis.Id,
            new Prerequisites(
                "DPIA evaluation clause",
                new FriaAssessment("accuracy measurement on labelled photos", "once per evaluation run", "people in the labelled test set", "none beyond the test set", "run by an engineer, results reviewed", "scratch data, deleted after the run"),
                "not registered: offline evaluation",
                "not required: no personal data of the city"),
            Actor,
            cancellationToken);
        await LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision($"eval-{now:yyyyMMdd'T'HHmmss'Z'}"), $"{Actor}:dpo", cancellationToken);
    }
}
