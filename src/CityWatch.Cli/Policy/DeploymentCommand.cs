using System.CommandLine;
using System.Globalization;
using CityWatch.Cli.Hosting;
using CityWatch.Policy;

namespace CityWatch.Cli.Policy;

/// <summary>Deployments through the API: an operator starts live identification on an in-force basis's cameras with approved watchlists; the operator, an authority or the DPO stops it.</summary>
internal static class DeploymentCommand
{
    public static Command Create()
    {
        var basis = new Option<long>("--basis") { Description = "The legal basis's id (in force, allowing live use)", Required = true };
        var cameras = new Option<long[]>("--cameras") { Description = "Camera ids, inside the basis's scope", Required = true, AllowMultipleArgumentsPerToken = true };
        var watchlists = new Option<long[]>("--watchlists") { Description = "Approved watchlist ids covered by the basis", Required = true, AllowMultipleArgumentsPerToken = true };
        var start = ApiCommand.Create("start", "Start a deployment (Operator)", basis, cameras, watchlists)
            .Sends<Deployment>(
                (r, client, ct) => client.PostAsync("api/deployments", ApiCommand.Body(new DeploymentInput(r.GetValue(basis), r.GetValue(cameras)!, r.GetValue(watchlists)!)), ct),
                d => Console.WriteLine($"started deployment {d.Id} of legal basis {d.LegalBasisId} on cameras {ApiCommand.Ids(d.CameraIds)}"));

        var id = new Argument<long>("id") { Description = "The deployment's id" };
        var reason = new Option<string?>("--reason") { Description = "Why it stops" };
        var stop = ApiCommand.Create("stop", "Stop a deployment at once (its operator, an Authority or the DPO)", id, reason)
            .Sends<Deployment>(
                (r, client, ct) => client.PostAsync($"api/deployments/{r.GetValue(id).ToString(CultureInfo.InvariantCulture)}/stop", ApiCommand.Body(new DeploymentStop(r.GetValue(reason))), ct),
                d => Console.WriteLine($"stopped deployment {d.Id} at {ApiCommand.Time(d.StoppedAt)}"));

        var list = ApiCommand.Create("list", "List deployments (staff)")
            .Sends<List<Deployment>>(
                (_, client, ct) => client.GetAsync("api/deployments", ct),
                all => ApiCommand.Table(
                    ["id", "basis", "cameras", "watchlists", "started", "by", "stopped", "reason"],
                    all.Select(d => new[]
                    {
                        d.Id.ToString(CultureInfo.InvariantCulture), d.LegalBasisId.ToString(CultureInfo.InvariantCulture), ApiCommand.Ids(d.CameraIds),
                        ApiCommand.Ids(d.Watchlists.Select(w => w.WatchlistId)), ApiCommand.Time(d.StartedAt), d.StartedBy,
                        d.Running ? "running" : $"{ApiCommand.Time(d.StoppedAt)} by {d.StoppedBy}", d.StopReason,
                    })));

        return new Command("deployment", "Deployments of live identification: start, stop, list") { start, stop, list };
    }
}
