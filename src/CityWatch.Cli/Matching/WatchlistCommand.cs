using System.CommandLine;
using System.Net.Http.Json;
using CityWatch.Cli.Hosting;
using CityWatch.Matching;

namespace CityWatch.Cli.Matching;

/// <summary>Watchlists through the server's API: the server applies the policy and logs every act.</summary>
internal static class WatchlistCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "The watchlist's name" };
        var description = new Option<string>("--description") { Description = "What the list is for", DefaultValueFactory = _ => "" };
        var create = new Command("create", "Create a watchlist") { name, description, CliCommon.Server, CliCommon.Token };
        create.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var response = await client.PostAsJsonAsync("api/watchlists", new WatchlistInput(result.GetValue(name)!, result.GetValue(description)!), CliCommon.JsonOptions, cancellationToken);
            var watchlist = await CliCommon.ReadAsync<Watchlist>(response, cancellationToken);
            Console.WriteLine($"created watchlist {watchlist.Id} '{watchlist.Name}'");
            return 0;
        }));

        var list = new Argument<string>("watchlist") { Description = "The watchlist's name" };
        var label = new Option<string>("--label") { Description = "Who is enrolled (shown to verifiers)", Required = true };
        var category = new Option<string>("--category") { Description = "Why they are on the list (e.g. missing person)", DefaultValueFactory = _ => "unspecified" };
        var source = new Option<string?>("--source") { Description = "Where the photos come from (default: the file names)" };
        var photos = new Argument<FileInfo[]>("photos") { Description = "One or more photos of the person", Arity = ArgumentArity.OneOrMore };
        var enroll = new Command("enroll", "Enrol a person from photos (largest face of each); needs a legal basis covering the watchlist")
        {
            list, photos, label, category, source, CliCommon.Server, CliCommon.Token,
        };
        enroll.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            var watchlist = await FindAsync(client, result.GetValue(list)!, cancellationToken);
            var files = result.GetValue(photos)!;
            using var form = new MultipartFormDataContent();
            form.Add(new StringContent(result.GetValue(label)!), "label");
            form.Add(new StringContent(result.GetValue(category)!), "category");
            form.Add(new StringContent(result.GetValue(source) ?? string.Join(", ", files.Select(f => f.Name))), "imageSource");
            foreach (var file in files)
            {
                if (!file.Exists)
                {
                    throw new FileNotFoundException($"no such file: {file.FullName}");
                }

                form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(file.FullName, cancellationToken)), "photo", file.Name);
            }

            using var response = await client.PostAsync($"api/watchlists/{watchlist.Id}/entries", form, cancellationToken);
            var entry = await CliCommon.ReadAsync<WatchlistEntry>(response, cancellationToken);
            Console.WriteLine($"enrolled '{entry.Label}' as entry {entry.Id} of '{watchlist.Name}' (template {entry.TemplateHash[..12]})");
            return 0;
        }));

        var show = new Command("list", "List watchlists") { CliCommon.Server, CliCommon.Token };
        show.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var response = await client.GetAsync("api/watchlists", cancellationToken);
            foreach (var w in await CliCommon.ReadAsync<List<Watchlist>>(response, cancellationToken))
            {
                Console.WriteLine($"{w.Id,4} {w.Name,-30} {w.Entries} entries");
            }

            return 0;
        }));

        var toApprove = new Argument<string>("watchlist") { Description = "The watchlist's name" };
        var approve = ApiCommand.Create("approve", "Approve a watchlist as it stands now (Investigator or Authority; a second person, not its last changer)", toApprove)
            .Sends<Watchlist>(
                async (r, client, ct) => await client.PostAsync($"api/watchlists/{(await FindAsync(client, r.GetValue(toApprove)!, ct)).Id}/approve", null, ct),
                approved => Console.WriteLine($"approved watchlist {approved.Id} '{approved.Name}' with {approved.Entries} entries (digest {approved.ApprovedDigest?[..12]})"));

        return new Command("watchlist", "Watchlists and enrolment") { create, enroll, show, approve };
    }

    private static async Task<Watchlist> FindAsync(HttpClient client, string name, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync("api/watchlists", cancellationToken);
        var all = await CliCommon.ReadAsync<List<Watchlist>>(response, cancellationToken);
        return all.FirstOrDefault(w => w.Name == name) ?? throw new InvalidOperationException($"no watchlist named '{name}'");
    }
}
