using System.CommandLine;
using CityWatch.Cli.Hosting;
using CityWatch.Keys;

namespace CityWatch.Cli.Identity;

/// <summary>
/// <c>citywatch keys kek create|split</c>: makes the key-encryption key that wraps every key of a data
/// folder, as a file kept outside it, or as k-of-n custodian shares for people who hold one each.
/// </summary>
internal static class KekCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Where to write the new key file (never overwritten; keep it outside the data folder)", Required = true };
        var create = new Command("create", "Create a new random key-encryption key in a file readable by its owner only") { output, CliCommon.Data };
        create.SetAction(result => CliCommon.Guard(() =>
        {
            var data = Path.GetFullPath(result.GetValue(CliCommon.Data)!);
            // Refuse a place inside the data folder before writing anything there.
            var path = KeyEncryptionKey.RefuseInside(result.GetValue(output)!, data, "key-encryption key file");
            var kek = KeyEncryptionKey.Generate();
            kek.WriteTo(path);
            KeyEncryptionKey.FromFile(path, data);
            Console.Error.WriteLine($"key-encryption key {kek.Id} written to {path}; serve with --kek-file {path}");
            return Task.FromResult(0);
        }));

        var k = new Option<int>("--k") { Description = "How many shares recover the key", Required = true };
        var n = new Option<int>("--n") { Description = "How many shares to make (one per custodian)", Required = true };
        var split = new Command("split", "Split the key-encryption key (from --kek-file, --kek-shares-from or CITYWATCH_KEK) into k-of-n custodian shares, one per line")
        {
            k, n, CliCommon.Data, CliCommon.KekFile, CliCommon.KekShares,
        };
        split.SetAction(result => CliCommon.Guard(() =>
        {
            var kek = CliCommon.Kek(result, Path.GetFullPath(result.GetValue(CliCommon.Data)!));
            var shares = kek.Split(result.GetValue(k), result.GetValue(n));
            Console.Error.WriteLine($"{shares.Count} shares of key-encryption key {kek.Id}; any {result.GetValue(k)} recover it. Give each custodian one line, and keep none together:");
            foreach (var share in shares)
            {
                Console.WriteLine(share);
            }

            return Task.FromResult(0);
        }));

        return new Command("kek", "The key-encryption key that wraps the data folder's keys") { create, split };
    }
}
