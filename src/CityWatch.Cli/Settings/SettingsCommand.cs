using System.CommandLine;
using System.Globalization;
using CityWatch.Cli.Hosting;
using CityWatch.Settings;

namespace CityWatch.Cli.Settings;

/// <summary>Governed settings through the API: a change is a proposal (Administrator or Investigator) that a second person (DPO or Authority) approves.</summary>
internal static class SettingsCommand
{
    public static Command Create()
    {
        var key = new Argument<string>("key") { Description = "The setting, e.g. a threshold or model key (`citywatch settings list`)" };
        var value = new Argument<string>("value") { Description = "The new value" };
        var reason = new Option<string>("--reason") { Description = "Why it should change (shown to the approver)", Required = true };
        var propose = ApiCommand.Create("propose", "Propose a change of a governed setting (Administrator or Investigator)", key, value, reason)
            .Sends<SettingProposal>(
                (r, client, ct) => client.PostAsync("api/settings/proposals", ApiCommand.Body(new ProposalInput(r.GetValue(key)!, r.GetValue(value)!, r.GetValue(reason)!)), ct),
                p => Console.WriteLine($"proposal {p.Id}: {p.Key} = {p.Value} waits for a second person (`citywatch settings approve {p.Id}`){(p.Warning is { } w ? $"; warning: {w}" : "")}"));

        var id = new Argument<long>("id") { Description = "The proposal's id" };
        var approve = ApiCommand.Create("approve", "Approve a pending proposal (DPO or Authority; not the proposer)", id)
            .Sends<SettingProposal>(
                (r, client, ct) => client.PostAsync($"api/settings/proposals/{r.GetValue(id).ToString(CultureInfo.InvariantCulture)}/approve", null, ct),
                p => Console.WriteLine($"proposal {p.Id} {p.Status.ToString().ToLowerInvariant()}: {p.Key} = {p.Value}"));

        var list = ApiCommand.Create("list", "The governed settings in force (staff)")
            .Sends<List<Setting>>(
                (_, client, ct) => client.GetAsync("api/settings", ct),
                all => ApiCommand.Table(["key", "value", "changed by", "at"], all.Select(s => new[] { s.Key, s.Value, s.ChangedBy, ApiCommand.Time(s.ChangedAt) })));

        var proposals = ApiCommand.Create("proposals", "Proposals and what became of them (staff)")
            .Sends<List<SettingProposal>>(
                (_, client, ct) => client.GetAsync("api/settings/proposals", ct),
                all => ApiCommand.Table(
                    ["id", "key", "value", "status", "proposed by", "decided by", "warning"],
                    all.Select(p => new[] { p.Id.ToString(CultureInfo.InvariantCulture), p.Key, p.Value, p.Status.ToString(), p.ProposedBy, p.DecidedBy, p.Warning })));

        return new Command("settings", "Governed settings: propose, approve, list, proposals") { propose, approve, list, proposals };
    }
}
