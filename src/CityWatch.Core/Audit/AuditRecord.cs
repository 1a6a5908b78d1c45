namespace CityWatch.Audit;

/// <summary>
/// One act on biometric data or on governance, as it is logged: who, what, under which legal basis and
/// case, with which parameters and how many results. Personal data never appears in clear: only as
/// salted commitments (<see cref="Commitments"/>) whose openings the data-protection authority can be given.
/// </summary>
public sealed record AuditRecord(
    string Actor,
    string Action,
    string Outcome,
    long? LegalBasisId = null,
    string? CaseId = null,
    IReadOnlyDictionary<string, string>? Parameters = null,
    int? ResultCount = null,
    IReadOnlyList<string>? Commitments = null);

/// <summary>The actions the log knows; one place, so that reports and the public page can name them.</summary>
public static class AuditActions
{
    public const string PolicyGrant = "policy.grant";
    public const string PolicyRefusal = "policy.refusal";
    public const string LegalBasisChange = "legal_basis.change";
    public const string WatchlistCreate = "watchlist.create";
    public const string Enrolment = "watchlist.enrol";
    public const string EnrolmentRejected = "watchlist.enrol_rejected";
    public const string EnrolmentRemoval = "watchlist.remove";
    public const string Match = "match";
    public const string Alert = "alert";
    public const string AlertView = "alert.view";
    public const string Analysis = "analysis";
    public const string CameraChange = "camera.change";
    public const string SettingChange = "setting.change";
    public const string KeyUnwrap = Keys.KeyRing.UnwrapAction;
    public const string KeyMigrate = Keys.KeyRing.MigrateAction;
}
