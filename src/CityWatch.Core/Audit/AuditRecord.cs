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
    public const string WatchlistDisplay = "watchlist.display";
    public const string Enrolment = "watchlist.enrol";
    public const string EnrolmentRejected = "watchlist.enrol_rejected";
    public const string EnrolmentRemoval = "watchlist.remove";
    public const string Match = "match";
    public const string Alert = "alert";
    public const string AlertView = "alert.view";
    public const string Analysis = "analysis";
    public const string CameraChange = "camera.change";
    public const string SettingChange = "setting.change";
    public const string KeyUnwrap = Data.KeyRing.UnwrapAction;
    public const string Opening = "audit.opening";
    public const string KeyMigrate = Data.KeyRing.MigrateAction;
}

/// <summary>
/// The sizes a record's fields may have, checked before anything is written: an act whose record the log
/// would refuse must not happen at all, and one over-long record must never fail a batch of others.
/// </summary>
public static class AuditRecordLimits
{
    public const int Actor = 128;
    public const int Action = 64;
    public const int Outcome = 1024;
    public const int CaseId = 128;
    public const int ParameterKey = 64;
    public const int ParameterValue = 4096;
    public const int Parameters = 64;
    public const int Commitment = 128;
    public const int Commitments = 256;

    /// <summary>Throws <see cref="InvalidRequestException"/> naming the first field that is too long, or the whole entry.</summary>
    public static void Check(AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        Field("actor", record.Actor, Actor, required: true);
        Field("action", record.Action, Action, required: true);
        Field("outcome", record.Outcome, Outcome, required: true);
        Field("case id", record.CaseId, CaseId, required: false);
        var parameters = record.Parameters ?? new Dictionary<string, string>();
        if (parameters.Count > Parameters)
        {
            throw new InvalidRequestException($"An audit record has at most {Parameters} parameters; this one has {parameters.Count}.");
        }

        foreach (var (key, value) in parameters)
        {
            Field("parameter name", key, ParameterKey, required: true);
            Field($"parameter '{Truncate(key)}'", value, ParameterValue, required: false);
        }

        var commitments = record.Commitments ?? [];
        if (commitments.Count > Commitments)
        {
            throw new InvalidRequestException($"An audit record has at most {Commitments} commitments; this one has {commitments.Count}.");
        }

        foreach (var commitment in commitments)
        {
            Field("commitment", commitment, Commitment, required: true);
        }

        // The longest index and time the entry can carry, so the check holds whatever the sequencer assigns.
        var longest = AuditEntry.LongestLength(record);
        if (longest > CityWatch.AuditLog.EntryBundle.MaxEntryLength)
        {
            throw new InvalidRequestException($"An audit record of {longest} bytes is longer than the {CityWatch.AuditLog.EntryBundle.MaxEntryLength} a log entry may be.");
        }
    }

    private static void Field(string name, string? value, int max, bool required)
    {
        if (value is null)
        {
            if (required)
            {
                throw new InvalidRequestException($"An audit record needs its {name}.");
            }

            return;
        }

        if (value.Length > max)
        {
            throw new InvalidRequestException($"The {name} of an audit record is {value.Length} characters; at most {max} are allowed.");
        }
    }

    private static string Truncate(string key) => key.Length <= 32 ? key : key[..32] + "…";
}
