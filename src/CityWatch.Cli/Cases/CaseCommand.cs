using System.CommandLine;
using System.Globalization;
using CityWatch.Cli.Hosting;
using CityWatch.Policy;

namespace CityWatch.Cli.Cases;

/// <summary>The case register through the API: an investigator opens a case under a basis in force for retrospective use; investigators, the authority and the DPO list and close cases.</summary>
internal static class CaseCommand
{
    public static Command Create()
    {
        var number = new Option<string>("--number") { Description = "The case number, e.g. PD-2026-0042", Required = true };
        var basis = new Option<long>("--basis") { Description = "The legal basis's id (in force for retrospective use)", Required = true };
        var offence = new Option<string?>("--offence") { Description = "The listed offence code for a suspect search, else what the case is about (default: the basis's offence)" };
        var cameras = new Option<long[]>("--cameras") { Description = "Camera ids it may search (none: supplied media only)", AllowMultipleArgumentsPerToken = true };
        var from = new Option<DateTimeOffset?>("--from") { Description = "Start of the time range it may search (default: the basis's start)" };
        var until = new Option<DateTimeOffset?>("--until") { Description = "End of the time range it may search (default: the basis's end)" };
        var expires = new Option<DateTimeOffset?>("--expires") { Description = "When the case expires, at the latest the basis's end (default: the basis's end)" };
        var open = ApiCommand.Create("open", "Open a case (Investigator)", number, basis, offence, cameras, from, until, expires)
            .Sends<Case>(
                async (r, client, ct) =>
                {
                    LegalBasis? under = null;
                    if (r.GetValue(offence) is null || r.GetValue(from) is null || r.GetValue(until) is null || r.GetValue(expires) is null)
                    {
                        using var response = await client.GetAsync($"api/legal-bases/{r.GetValue(basis).ToString(CultureInfo.InvariantCulture)}", ct);
                        under = await CliCommon.ReadAsync<LegalBasis>(response, ct);
                    }

                    var input = new CaseInput(
                        r.GetValue(number)!,
                        r.GetValue(basis),
                        r.GetValue(offence) ?? under!.Offence ?? under.ObjectiveDetail,
                        r.GetValue(cameras) ?? [],
                        r.GetValue(from) ?? under!.ValidFrom,
                        r.GetValue(until) ?? under!.ValidUntil,
                        r.GetValue(expires) ?? under!.ValidUntil);
                    return await client.PostAsync("api/cases", ApiCommand.Body(input), ct);
                },
                c => Console.WriteLine($"opened case {c.Id} '{c.Number}' under legal basis {c.LegalBasisId}, until {ApiCommand.Time(c.ExpiresAt)}"));

        var list = ApiCommand.Create("list", "List the case register (Investigator, Authority or DPO)")
            .Sends<List<Case>>(
                (_, client, ct) => client.GetAsync("api/cases", ct),
                all => ApiCommand.Table(
                    ["id", "number", "basis", "offence", "cameras", "from", "until", "status", "opened by"],
                    all.Select(c => new[]
                    {
                        c.Id.ToString(CultureInfo.InvariantCulture), c.Number, c.LegalBasisId.ToString(CultureInfo.InvariantCulture), c.Offence, ApiCommand.Ids(c.CameraIds),
                        ApiCommand.Time(c.From), ApiCommand.Time(c.Until), c.Status.ToString(), c.OpenedBy,
                    })));

        var id = new Argument<long>("id") { Description = "The case's id" };
        var reason = new Option<string?>("--reason") { Description = "Why it is closed" };
        var close = ApiCommand.Create("close", "Close a case (Investigator, Authority or DPO)", id, reason)
            .Sends<Case>(
                (r, client, ct) => client.PostAsync($"api/cases/{r.GetValue(id).ToString(CultureInfo.InvariantCulture)}/close", ApiCommand.Body(new CaseClosure(r.GetValue(reason))), ct),
                c => Console.WriteLine($"closed case {c.Id} '{c.Number}'"));

        return new Command("case", "The case register: open, list, close") { open, list, close };
    }
}
