using System.CommandLine;
using System.Net.Http.Json;
using CityWatch.Cli.Hosting;
using CityWatch.Identity;

namespace CityWatch.Cli.Identity;

/// <summary>Edge-device keys through the API: the secret is printed once, at creation, and never again.</summary>
internal static class KeysCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "What the device is" };
        var cameras = new Option<long[]>("--cameras") { Description = "The camera ids the device may report for", Required = true, AllowMultipleArgumentsPerToken = true };
        var create = new Command("create", "Create an edge key scoped to cameras; the secret is shown only now") { name, cameras, CliCommon.Server, CliCommon.Token };
        create.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var response = await client.PostAsJsonAsync("api/keys", new ApiKeyInput(result.GetValue(name)!, result.GetValue(cameras)!), CliCommon.JsonOptions, ct);
            var created = await CliCommon.ReadAsync<CreatedApiKey>(response, ct);
            Console.Error.WriteLine($"key {created.Key.Id} for cameras {string.Join(",", created.Key.CameraIds)}; store the secret now, it is not shown again:");
            Console.WriteLine(created.Secret);
            return 0;
        }));

        var id = new Argument<long>("id") { Description = "The key's id" };
        var revoke = new Command("revoke", "Revoke an edge key") { id, CliCommon.Server, CliCommon.Token };
        revoke.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var response = await client.PostAsync($"api/keys/{result.GetValue(id)}/revoke", null, ct);
            var key = await CliCommon.ReadAsync<ApiKey>(response, ct);
            Console.WriteLine($"revoked key {key.Id} ({key.Name})");
            return 0;
        }));

        return new Command("keys", "Edge-device API keys, and the key-encryption key (keys kek)") { create, revoke, KekCommand.Create() };
    }
}
