namespace CityWatch.Server.Portal;

// What the public pages show: built from the register, the policy stores and the log, with nothing
// personal in them (no account names, no stop reasons, no stream URLs).

/// <summary>A camera as the public register lists it; <paramref name="UpShare"/> is the share (0 to 1) of its observed minutes in the last 30 UTC days it was up, null with no data.</summary>
public sealed record RegisterCamera(
    string Code,
    string Name,
    string Place,
    double Latitude,
    double Longitude,
    string Owner,
    string Purpose,
    bool FaceRecognitionPossible,
    bool InLiveUseNow,
    int RetentionDays,
    string Health,
    double? UpShare);

public sealed record RegisterPageModel(
    IReadOnlyList<RegisterCamera> Cameras,
    int Total,
    int Matching,
    int PageNumber,
    int Pages,
    string? Query,
    string? Face,
    string? TileUrl,
    string? TileAttribution,
    int MostlyDown);

/// <summary>A deployment as the public sees it: its basis, where, with how many watchlist entries, when.</summary>
public sealed record PublicDeployment(
    long Id,
    string BasisTitle,
    string Instrument,
    string Authority,
    bool Demonstration,
    IReadOnlyList<string> Cameras,
    long WatchlistEntries,
    DateTimeOffset ValidFrom,
    DateTimeOffset ValidUntil,
    DateTimeOffset StartedAt,
    DateTimeOffset? StoppedAt);

/// <summary>An authorised basis for live use whose window has not begun: announced before it can be used.</summary>
public sealed record AnnouncedBasis(
    string Title,
    string Instrument,
    string Authority,
    bool Demonstration,
    IReadOnlyList<string> Cameras,
    DateTimeOffset ValidFrom,
    DateTimeOffset ValidUntil);

/// <summary>A legal basis in force now, by title (the home page's list).</summary>
public sealed record BasisInForce(string Title, string Authority, DateTimeOffset ValidUntil);

public sealed record HomePageModel(IReadOnlyList<BasisInForce> InForce, IReadOnlyList<PublicDeployment> Current, int Cameras, int FaceRecognitionCameras);

public sealed record DeploymentsPageModel(IReadOnlyList<PublicDeployment> Current, IReadOnlyList<PublicDeployment> Past, IReadOnlyList<AnnouncedBasis> Announced);

/// <summary>One signature on the checkpoint: the log's own, or a witness's cosignature.</summary>
public sealed record CheckpointSignature(string Name, string KeyId, bool IsLog);

public sealed record LogPageModel(string Origin, long Size, string RootHash, IReadOnlyList<CheckpointSignature> Signatures, string Note, string VerifierKey, string ServerUrl);

/// <summary>The in-browser verification page: what the script needs besides the public log API.</summary>
public sealed record VerifyPageModel(long Size, string VerifierKey, string ServerUrl);

/// <summary>One deployment's figures on the statistics page: the annual report's figures over its whole run.</summary>
public sealed record DeploymentStatistics(long Id, string BasisTitle, bool IsDemonstration, DateTimeOffset StartedAt, DateTimeOffset? StoppedAt, CityWatch.Transparency.DeploymentFigures Figures);

/// <summary>A model card's public summary.</summary>
public sealed record PublicModelCard(string Name, string Role, string Licence, string TrainingData, bool InUse);

public sealed record StatisticsPageModel(
    int Year,
    IReadOnlyList<DeploymentStatistics> Deployments,
    IReadOnlyList<PublicModelCard> Models,
    IReadOnlyDictionary<string, int> AccountsByRole,
    IReadOnlyList<CityWatch.Identity.RoleChange> AccountChanges,
    IReadOnlyList<YearStatistics> Years);

/// <summary>
/// One UTC year of the stored statistics, every camera and basis together (live and retrospective): faces analysed,
/// alerts raised, alerts a verifier confirmed and rejected (false alerts). Aggregate counts only.
/// </summary>
public sealed record YearStatistics(int Year, long Faces, long Alerts, long Confirmed, long FalseAlerts)
{
    public double? FalseAlertRateAgainstFaces => Faces == 0 ? null : (double)FalseAlerts / Faces;

    public double? FalseAlertRateAgainstAlerts => Alerts == 0 ? null : (double)FalseAlerts / Alerts;

    /// <summary>The year as <see cref="CityWatch.Alerts.AlertStatistics.Years"/> sums it.</summary>
    public static YearStatistics Of(CityWatch.Alerts.YearlyAlertStatistics year) =>
        new(year.Year, year.Faces, year.Raised, year.Confirmed, year.Rejected);
}
