using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Matching;
using CityWatch.Policy;

namespace CityWatch.Server.OperatorConsole;

/// <summary>What every console page knows of its viewer: who, which pages their roles open, and the antiforgery token its forms carry.</summary>
public sealed record ConsoleViewer(string Name, IReadOnlyList<string> Roles, bool SeesAlerts, bool SeesWatchlists, string TokenField, string Token, bool SeesCases = false, bool SeesJobs = false);

public sealed record SignInPageModel(string TokenField, string Token, string? Username, string? Error);

/// <summary>One line of the queue: an alert as its viewer may see it (blind for a verifier), its camera and how its watchlist shows.</summary>
public sealed record QueueAlert(Alert Alert, string Camera, QueueWatchlist Watchlist);

/// <summary>The watchlist of an alert as the queue marks it: its name (always shown as text), its palette colour and whether it plays a tone.</summary>
public sealed record QueueWatchlist(string Name, string Colour, bool Sound);

/// <summary>Alerts of one track (one person followed across frames), newest first; an untracked alert is a group of one.</summary>
public sealed record QueueGroup(string Track, IReadOnlyList<QueueAlert> Alerts);

public sealed record AlertsPageModel(ConsoleViewer Viewer, IReadOnlyList<QueueGroup> Groups);

/// <summary>The candidate view: <paramref name="ShowsCrop"/> for the roles that see faces (probe and enrolment photo), the latter when the entry still holds one.</summary>
public sealed record CandidatePageModel(ConsoleViewer Viewer, QueueAlert Candidate, bool ShowsCrop, bool HasEnrolmentPhoto, bool CanDecide, bool DecidedByViewer, long? NextCandidate);

public sealed record ConsoleDeployment(Deployment Deployment, string Basis, IReadOnlyList<string> Cameras);

public sealed record DeploymentsPageModel(ConsoleViewer Viewer, IReadOnlyList<ConsoleDeployment> Deployments, bool CanStop);

public sealed record MessagePageModel(ConsoleViewer Viewer, string Title, string Message, string BackHref, string BackText);

/// <summary>
/// The legal bases, newest first, which lifecycle actions the viewer's roles allow (authorise and refuse; revoke),
/// and for operators and investigators the form that registers a draft.
/// </summary>
public sealed record BasesPageModel(ConsoleViewer Viewer, IReadOnlyList<LegalBasis> Bases, bool CanDecide, bool CanRevoke, BasisForm? Register = null);

/// <summary>
/// The registration form: the cameras and watchlists it offers (id and name), and after a refused post the problem's
/// message and the fields as they were posted.
/// </summary>
public sealed record BasisForm(IReadOnlyList<CaseCamera> Cameras, IReadOnlyList<CaseCamera> Watchlists, string? Error, Microsoft.AspNetCore.Http.IFormCollection? Posted)
{
    public string Value(string field) => Posted?[field].ToString() ?? "";

    public bool Has(string field, string value) => Posted?[field].Contains(value) == true;
}

/// <summary>A watchlist with the legal bases that name it.</summary>
public sealed record ConsoleWatchlist(Watchlist Watchlist, IReadOnlyList<LegalBasis> Bases);

/// <summary>The watchlists, and whether the viewer's roles allow approving one (as <c>POST /api/watchlists/{id}/approve</c>).</summary>
public sealed record WatchlistsPageModel(ConsoleViewer Viewer, IReadOnlyList<ConsoleWatchlist> Watchlists, bool CanApprove);

/// <summary>One watchlist and its entries (never a template or a photo: who was enrolled, when, by whom).</summary>
public sealed record WatchlistPageModel(ConsoleViewer Viewer, ConsoleWatchlist Watchlist, IReadOnlyList<WatchlistEntry> Entries, bool CanApprove);

/// <summary>
/// One page of the audit log, newest first, as its signed leaves state it (<see cref="CityWatch.Audit.AuditTrail.ReadSigned"/>),
/// with the log's verifier key for the in-browser inclusion check.
/// </summary>
public sealed record AuditLogPageModel(ConsoleViewer Viewer, IReadOnlyList<LoggedAct> Entries, long Size, int Page, int Pages, string VerifierKey);

/// <summary>A governed setting: its key, the value in force (the approved one, or what applies without one) and its last approved change.</summary>
public sealed record GovernedSetting(string Key, string Value, CityWatch.Settings.Setting? Stored);

/// <summary>
/// The governed settings, the open proposals, the latest decisions, and whether the viewer's roles allow proposing
/// (as <c>POST /api/settings/proposals</c>) and deciding (as <c>/approve</c> and <c>/reject</c>).
/// </summary>
public sealed record SettingsPageModel(
    ConsoleViewer Viewer, IReadOnlyList<GovernedSetting> Settings, IReadOnlyList<CityWatch.Settings.SettingProposal> Open,
    IReadOnlyList<CityWatch.Settings.SettingProposal> Decided, bool CanPropose, bool CanDecide);

/// <summary>A case with its basis as shown and the analysis jobs that name it (those the viewer may see).</summary>
public sealed record ConsoleCase(CityWatch.Policy.Case Case, string Basis, IReadOnlyList<CityWatch.Investigations.AnalysisJob> Jobs);

/// <summary>A camera a case may name, as the form offers it.</summary>
public sealed record CaseCamera(long Id, string Name);

/// <summary>
/// The case register, newest first; for an investigator the form that opens a case (the bases with retrospective
/// use, the cameras) and the jobs of each case.
/// </summary>
public sealed record CasesPageModel(
    ConsoleViewer Viewer, IReadOnlyList<ConsoleCase> Cases, bool CanOpen, IReadOnlyList<LegalBasis> Bases, IReadOnlyList<CaseCamera> Cameras, bool ShowsJobs);

/// <summary>One case: its facts, its cameras by name, its jobs (for an investigator) and the close form while it is open.</summary>
public sealed record CasePageModel(ConsoleViewer Viewer, ConsoleCase Case, IReadOnlyList<string> Cameras, bool ShowsJobs);

/// <summary>The analysis jobs the viewer may see (as <c>GET /api/analyses</c> lists them), newest first.</summary>
public sealed record JobsPageModel(ConsoleViewer Viewer, IReadOnlyList<CityWatch.Investigations.AnalysisJob> Jobs);

/// <summary>One analysis job, its watchlist by name, and the case page it belongs to (null when the case is no longer registered).</summary>
public sealed record JobPageModel(ConsoleViewer Viewer, CityWatch.Investigations.AnalysisJob Job, string Watchlist, long? CaseId);

/// <summary>A camera as the console lists it: the register entry, its site's name and its health in words (the portal's words).</summary>
public sealed record ConsoleCamera(CityWatch.Cameras.Camera Camera, string Site, string Health);

/// <summary>The camera list: one page of the cameras matching the filters, the filters as given, and the health words to filter by.</summary>
public sealed record CamerasPageModel(
    ConsoleViewer Viewer, IReadOnlyList<ConsoleCamera> Cameras, int Total, int Matching, int Page, int Pages,
    string? Query, string? Health, string? Face, IReadOnlyList<string> HealthStates, string? TileUrl, string? TileAttribution);

/// <summary>
/// One camera: its register entry (the stream URL without its credentials), its health (the last error scrubbed of them),
/// the legal bases that name it and the deployments that cover it.
/// </summary>
public sealed record CameraPageModel(
    ConsoleViewer Viewer, ConsoleCamera Camera, string? StreamUrl, bool HasCredentials, CityWatch.Recognition.CameraHealthView? Health,
    IReadOnlyList<LegalBasis> Bases, IReadOnlyList<ConsoleDeployment> Deployments);

/// <summary>The reports the viewer may read: the annual reports of the years with deployments (every staff member), and for the authority and the DPO each legal basis's notification of use.</summary>
public sealed record ReportsPageModel(ConsoleViewer Viewer, IReadOnlyList<int> Years, IReadOnlyList<LegalBasis>? Bases);

/// <summary>One report framed by the console: its title, its body as HTML (Markdig, raw HTML disabled) and where the API serves it for download.</summary>
public sealed record ReportPageModel(ConsoleViewer Viewer, string Title, string Body, string Download);
