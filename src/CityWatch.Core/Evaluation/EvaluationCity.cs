using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.Policy;
using CityWatch.Settings;

namespace CityWatch.Evaluation;

/// <summary>
/// The governed context an evaluation runs in: a CityWatch data folder (a scratch one by default, deleted
/// afterwards), its audit trail, an active legal basis for <see cref="ProcessingPurpose.Evaluation"/> (no
/// watchlist) registered if none is in force, and grants from the real <see cref="PolicyEngine"/>, renewed
/// shortly before they expire. The pipeline never runs without one.
/// </summary>
internal sealed class EvaluationCity : IDisposable
{
    public const string Actor = "cli:eval";
    public const string BasisTitle = "evaluation on a labelled test set";
    private static readonly TimeSpan RenewMargin = TimeSpan.FromSeconds(2);

    private readonly bool scratch;
    private readonly TimeProvider time;
    private readonly PolicyEngine policy;
    private ProcessingGrant? grant;

    private EvaluationCity(string directory, bool scratch, TimeProvider time, KeyEncryptionKey kek)
    {
        Directory = directory;
        this.scratch = scratch;
        this.time = time;
        Database = new CityWatchDatabase(Path.Combine(directory, "citywatch.db"), kek);
        Database.Migrate();
        Audit = new AuditTrail(Database, time);
        LegalBases = new LegalBasisStore(Database, Audit, time);
        policy = PolicyServices.Standalone(Database, LegalBases, Audit, time, Path.Combine(directory, "evidence"));
        Settings = new SettingsStore(Database, Audit, time);
    }

    /// <summary>The data folder in use.</summary>
    public string Directory { get; }

    public CityWatchDatabase Database { get; }

    public AuditTrail Audit { get; }

    public LegalBasisStore LegalBases { get; }

    public SettingsStore Settings { get; }

    /// <summary>Whether the data folder is a scratch one that is deleted on dispose.</summary>
    public bool IsScratch => scratch;

    /// <summary>
    /// Opens <paramref name="dataDirectory"/> with its KEK (or a new scratch folder with a throw-away KEK, as
    /// the folder is deleted afterwards) and makes sure an evaluation basis is in force.
    /// </summary>
    public static async Task<EvaluationCity> OpenAsync(string? dataDirectory, TimeProvider time, KeyEncryptionKey? kek = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(time);
        var scratch = string.IsNullOrWhiteSpace(dataDirectory);
        var directory = scratch
            ? Path.Combine(Path.GetTempPath(), "citywatch-eval", Guid.NewGuid().ToString("N"))
            : Path.GetFullPath(dataDirectory!);
        System.IO.Directory.CreateDirectory(directory);
        if (!scratch && kek is null)
        {
            throw new KeyEncryptionKeyRequiredException($"the data folder {directory} opens only with its key-encryption key (--kek-file, --kek-shares-from or {KeyEncryptionKey.EnvironmentVariable})");
        }

        var city = new EvaluationCity(directory, scratch, time, kek ?? KeyEncryptionKey.Generate());
        try
        {
            await city.EnsureBasisAsync(cancellationToken);
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
        if (scratch)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // A scratch folder left in the temp directory does no harm.
            }
        }
    }

    private async Task EnsureBasisAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (LegalBases.InForce(now).Any(b => b.Purposes.Contains(ProcessingPurpose.Evaluation) && b.Title == BasisTitle))
        {
            return;
        }

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
