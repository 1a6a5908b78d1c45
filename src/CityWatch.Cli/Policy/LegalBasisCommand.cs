using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using CityWatch.Cli.Hosting;
using CityWatch.Grants;
using CityWatch.Policy;

namespace CityWatch.Cli.Policy;

/// <summary>
/// The legal-basis lifecycle through the API: register a draft (from a JSON or YAML file, flags, or both:
/// flags win), record its prerequisites, then an authority (not the registrant) authorises or refuses it;
/// an authority or the DPO revokes it, which stops its deployments.
/// </summary>
internal static class LegalBasisCommand
{
    public static Command Create()
    {
        var id = new Argument<long>("id") { Description = "The legal basis's id" };
        var authoriseReference = Reference();
        var refuseReference = Reference();
        var reason = new Option<string>("--reason") { Description = "Why it is refused", Required = true };
        return new Command("legal-basis", "Legal bases: register, prerequisites, authorise, refuse, revoke, list, show")
        {
            Register(),
            Prerequisites(id),
            ApiCommand.Create("authorise", "Authorise a basis with the decision's reference (Authority; neither its registrant nor who recorded its prerequisites)", id, authoriseReference)
                .Sends<LegalBasis>((r, client, ct) => client.PostAsync(Path(r, id, "authorise"), ApiCommand.Body(new AuthorityDecision(r.GetValue(authoriseReference)!)), ct), Show),
            ApiCommand.Create("refuse", "Refuse a basis with the decision's reference and the reason (Authority)", id, refuseReference, reason)
                .Sends<LegalBasis>((r, client, ct) => client.PostAsync(Path(r, id, "refuse"), ApiCommand.Body(new AuthorityDecision(r.GetValue(refuseReference)!, r.GetValue(reason))), ct), Show),
            ApiCommand.Create("revoke", "Revoke a basis: it stops granting at once and its deployments stop (Authority or DPO)", id)
                .Sends<LegalBasis>((r, client, ct) => client.PostAsync(Path(r, id, "revoke"), null, ct), Show),
            ApiCommand.Create("list", "List legal bases with their status (staff)")
                .Sends<List<LegalBasis>>((_, client, ct) => client.GetAsync("api/legal-bases", ct), List),
            ApiCommand.Create("show", "One legal basis in full (staff)", id)
                .Sends<LegalBasis>((r, client, ct) => client.GetAsync(Path(r, id, null), ct), Show),
        };
    }

    private static Command Register()
    {
        var file = new Option<FileInfo?>("--file") { Description = "A JSON (.json) or YAML file with the draft's fields (docs/policy.md); flags override it" };
        var title = new Option<string?>("--title") { Description = "What the basis is called" };
        var instrument = new Option<string?>("--instrument") { Description = "The legal instrument that allows the processing" };
        var authority = new Option<string?>("--authority") { Description = "The judicial or independent administrative authority that decides" };
        var objective = new Option<string?>("--objective") { Description = "What it is for (AI Act 5(1)(h))" };
        objective.AcceptOnlyFromAmong(Enum.GetNames<LegalObjective>());
        var objectiveDetail = new Option<string?>("--objective-detail") { Description = "The specific search, threat or suspect the basis is for (required)" };
        var offence = new Option<string?>("--offence") { Description = "The listed offence code, for SeriousOffenceSuspect" };
        var purposes = new Option<string[]>("--purposes") { Description = "What processing it allows", AllowMultipleArgumentsPerToken = true };
        purposes.AcceptOnlyFromAmong(Enum.GetNames<ProcessingPurpose>());
        var cameras = new Option<long[]>("--cameras") { Description = "The camera ids it covers", AllowMultipleArgumentsPerToken = true };
        var watchlists = new Option<long[]>("--watchlists") { Description = "The watchlist ids it covers", AllowMultipleArgumentsPerToken = true };
        var from = new Option<DateTimeOffset?>("--from") { Description = "Start of its window (ISO 8601)" };
        var until = new Option<DateTimeOffset?>("--until") { Description = "End of its window (ISO 8601)" };
        var retention = new Option<int?>("--max-retention-days") { Description = "How long its evidence may be kept (default 30)" };
        var maxEntries = new Option<int?>("--max-watchlist-entries") { Description = "The cap on watchlist entries (default 100)" };
        var urgent = new Option<bool>("--urgent") { Description = "Urgent use before authorisation (AI Act 5(3)): 24 h live, 48 h retrospective" };
        return ApiCommand.Create(
                "register",
                "Register a draft basis (Operator or Investigator)",
                file, title, instrument, authority, objective, objectiveDetail, offence, purposes, cameras, watchlists, from, until, retention, maxEntries, urgent)
            .Sends<LegalBasis>(
                (r, client, ct) =>
                {
                    var draft = RequestFile.Read(r.GetValue(file));
                    Set(draft, "title", r.GetValue(title));
                    Set(draft, "instrument", r.GetValue(instrument));
                    Set(draft, "authority", r.GetValue(authority));
                    Set(draft, "objective", r.GetValue(objective));
                    Set(draft, "objectiveDetail", r.GetValue(objectiveDetail));
                    Set(draft, "offence", r.GetValue(offence));
                    SetList(draft, "purposes", r.GetValue(purposes), p => JsonValue.Create(p));
                    SetList(draft, "cameraIds", r.GetValue(cameras), c => JsonValue.Create(c));
                    SetList(draft, "watchlistIds", r.GetValue(watchlists), w => JsonValue.Create(w));
                    Set(draft, "validFrom", r.GetValue(from)?.ToString("O", CultureInfo.InvariantCulture));
                    Set(draft, "validUntil", r.GetValue(until)?.ToString("O", CultureInfo.InvariantCulture));
                    if (r.GetValue(retention) is { } days)
                    {
                        draft["maxRetentionDays"] = days;
                    }

                    if (r.GetValue(maxEntries) is { } entries)
                    {
                        draft["maxWatchlistEntries"] = entries;
                    }

                    if (r.GetValue(urgent))
                    {
                        draft["urgent"] = true;
                    }

                    return client.PostAsync("api/legal-bases", ApiCommand.Body(draft), ct);
                },
                basis =>
                {
                    Console.WriteLine($"registered legal basis {basis.Id} '{basis.Title}' ({basis.Status}); next: `citywatch legal-basis prerequisites {basis.Id}`");
                });
    }

    private static Command Prerequisites(Argument<long> id)
    {
        var file = new Option<FileInfo?>("--file") { Description = "A JSON or YAML file with dpiaReference, fria{...}, registrationId, regulatorOpinionReference; flags override it" };
        var dpia = new Option<string?>("--dpia") { Description = "The DPIA's reference" };
        var registration = new Option<string?>("--registration") { Description = "The EU database registration id" };
        var opinion = new Option<string?>("--regulator-opinion") { Description = "The reference of the regulator's opinion" };
        (string Field, Option<string?> Option)[] fria =
        [
            ("processes", new Option<string?>("--fria-processes") { Description = "FRIA 27(1)(a): the processes the system is used in" }),
            ("periodAndFrequency", new Option<string?>("--fria-period") { Description = "FRIA 27(1)(b): the period and frequency of use" }),
            ("affectedGroups", new Option<string?>("--fria-affected") { Description = "FRIA 27(1)(c): the people and groups likely affected" }),
            ("risks", new Option<string?>("--fria-risks") { Description = "FRIA 27(1)(d): the risks of harm to them" }),
            ("humanOversight", new Option<string?>("--fria-oversight") { Description = "FRIA 27(1)(e): the human oversight measures" }),
            ("mitigationAndComplaints", new Option<string?>("--fria-mitigation") { Description = "FRIA 27(1)(f): mitigation, governance and complaints" }),
        ];
        Symbol[] symbols = [id, file, dpia, registration, opinion, .. fria.Select(f => f.Option)];
        return ApiCommand.Create("prerequisites", "Record a basis's DPIA, FRIA, registration and regulator opinion (Operator or Investigator)", symbols)
            .Sends<LegalBasis>(
                (r, client, ct) =>
                {
                    var body = RequestFile.Read(r.GetValue(file));
                    Set(body, "dpiaReference", r.GetValue(dpia));
                    Set(body, "registrationId", r.GetValue(registration));
                    Set(body, "regulatorOpinionReference", r.GetValue(opinion));
                    if (body["fria"] is not JsonObject && fria.Any(f => r.GetValue(f.Option) is not null))
                    {
                        body["fria"] = new JsonObject();
                    }

                    if (body["fria"] is JsonObject assessment)
                    {
                        foreach (var (field, option) in fria)
                        {
                            Set(assessment, field, r.GetValue(option));
                        }
                    }
                    return client.PostAsync(Path(r, id, "prerequisites"), ApiCommand.Body(body), ct);
                },
                basis => Console.WriteLine($"legal basis {basis.Id}: prerequisites recorded ({basis.Status}); an authority runs `citywatch legal-basis authorise {basis.Id} --reference REF`"));
    }

    private static Option<string> Reference() => new("--reference") { Description = "The decision's reference", Required = true };

    private static string Path(ParseResult result, Argument<long> id, string? action)
    {
        var path = $"api/legal-bases/{result.GetValue(id).ToString(CultureInfo.InvariantCulture)}";
        return action is null ? path : $"{path}/{action}";
    }

    private static void Set(JsonObject body, string field, string? value)
    {
        if (value is not null)
        {
            body[field] = value;
        }
    }

    private static void SetList<T>(JsonObject body, string field, T[]? values, Func<T, JsonNode?> node)
    {
        if (values is { Length: > 0 })
        {
            body[field] = new JsonArray(values.Select(node).ToArray());
        }
    }

    private static void List(List<LegalBasis> bases) => ApiCommand.Table(
        ["id", "title", "objective", "status", "from", "until", "cameras", "watchlists"],
        bases.Select(b => new[] { b.Id.ToString(CultureInfo.InvariantCulture), b.Title, b.Objective.ToString(), b.Status.ToString(), ApiCommand.Time(b.ValidFrom), ApiCommand.Time(b.ValidUntil), ApiCommand.Ids(b.CameraIds), ApiCommand.Ids(b.WatchlistIds) }));

    private static void Show(LegalBasis b) => ApiCommand.Fields(
        ("id", b.Id.ToString(CultureInfo.InvariantCulture)),
        ("title", b.Title),
        ("status", b.Status.ToString()),
        ("instrument", b.Instrument),
        ("authority", b.Authority),
        ("objective", b.Objective.ToString()),
        ("objective detail", b.ObjectiveDetail),
        ("offence", b.Offence),
        ("purposes", string.Join(",", b.Purposes)),
        ("cameras", ApiCommand.Ids(b.CameraIds)),
        ("watchlists", ApiCommand.Ids(b.WatchlistIds)),
        ("valid", $"{ApiCommand.Time(b.ValidFrom)} to {ApiCommand.Time(b.ValidUntil)}"),
        ("urgent", b.Urgent ? $"yes, deadline {ApiCommand.Time(b.UrgencyDeadline)}" : null),
        ("max retention", $"{b.MaxRetentionDays} days"),
        ("max entries", b.MaxWatchlistEntries.ToString(CultureInfo.InvariantCulture)),
        ("registered", $"{ApiCommand.Time(b.CreatedAt)} by {b.CreatedBy}"),
        ("prerequisites", b.PrerequisitesRecordedBy is { } by ? $"DPIA {b.Prerequisites?.DpiaReference}, registration {b.Prerequisites?.RegistrationId}, recorded by {by}" : null),
        ("decision", b.DecidedBy is { } decider ? $"{b.DecisionReference} by {decider} at {ApiCommand.Time(b.DecidedAt)}" : null),
        ("refused because", b.RefusalReason),
        ("revoked", b.RevokedBy is { } revoker ? $"{ApiCommand.Time(b.RevokedAt)} by {revoker}" : null));
}
