using System.CommandLine;
using System.Net.Http.Headers;
using CityWatch.Recognition;
using CityWatch.Cameras;
using CityWatch.Cli.Hosting;

namespace CityWatch.Cli.Cameras;

internal static class CamerasCommand
{
    public static Command Create() => new("cameras", "The camera register") { Import(), List() };

    private static Command Import()
    {
        var file = new Argument<FileInfo?>("file") { Description = "A camera inventory: .csv (comma or semicolon) or .geojson; columns in docs/cameras.md", Arity = ArgumentArity.ZeroOrOne };
        var template = new Option<FileInfo?>("--template") { Description = "Write a CSV template with every column explained to this file, and import nothing" };
        var check = new Option<bool>("--check") { Description = "Check the file against the register and say what would change, storing nothing" };
        var import = new Command("import", "Import a city's camera inventory through the server's API: all rows or none, every problem reported at once (needs the Administrator role)")
        {
            file, template, check, CliCommon.Server, CliCommon.Token,
        };
        import.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            if (result.GetValue(template) is { } target)
            {
                if (target.Exists)
                {
                    throw new IOException($"{target.FullName} exists: give a new file for the template");
                }

                await File.WriteAllTextAsync(target.FullName, CameraImport.Template(), cancellationToken);
                Console.WriteLine($"wrote {target.FullName}: fill in one row per camera, then `citywatch cameras import {target.Name} --check`");
                return 0;
            }

            var path = result.GetValue(file) ?? throw new ArgumentException("give the inventory FILE to import (or --template FILE to start one)");
            if (!path.Exists)
            {
                throw new FileNotFoundException($"no such file: {path.FullName}");
            }

            var format = CameraImport.FormatOf(path.Name);
            // Parse here too, so every problem of a bad file is reported before anything is sent.
            var content = await File.ReadAllTextAsync(path.FullName, cancellationToken);
            var inventory = CameraImport.Parse(content, format);
            var dryRun = result.GetValue(check);
            using var client = CliCommon.Client(result);
            using var body = new StringContent(content);
            body.Headers.ContentType = new MediaTypeHeaderValue(format == "csv" ? "text/csv" : "application/geo+json");
            using var response = await client.PostAsync($"api/cameras/import?format={format}{(dryRun ? "&check=true" : "")}", body, cancellationToken);
            var imported = await CliCommon.ReadAsync<ImportResult>(response, cancellationToken);
            Console.WriteLine(dryRun
                ? $"check passed, nothing stored: {inventory.Sites.Count} sites and {imported.Cameras} cameras would be imported ({imported.CamerasAdded} new, {imported.CamerasUpdated} updated)"
                : $"imported {inventory.Sites.Count} sites and {imported.Cameras} cameras ({imported.CamerasAdded} new, {imported.CamerasUpdated} updated)");
            return 0;
        }));
        return import;
    }

    private static Command List()
    {
        var page = new Option<int>("--page") { Description = "The page to show, from 1", DefaultValueFactory = _ => 1 };
        var pageSize = new Option<int>("--page-size") { Description = $"Cameras per page, 1 to {CameraStore.MaxPageSize}", DefaultValueFactory = _ => 50 };
        var site = new Option<long?>("--site") { Description = "Only the cameras of this site (its id)" };
        var json = new Option<bool>("--json") { Description = "Print the page as JSON (items, total, offset, limit)" };
        var list = new Command("list", "List the cameras in the register with their health, a page at a time") { page, pageSize, site, json, CliCommon.Server, CliCommon.Token };
        list.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var number = result.GetValue(page);
            var size = result.GetValue(pageSize);
            if (number < 1)
            {
                throw new ArgumentException("--page starts at 1");
            }

            if (size is < 1 or > CameraStore.MaxPageSize)
            {
                throw new ArgumentException($"--page-size must be between 1 and {CameraStore.MaxPageSize}");
            }

            using var client = CliCommon.Client(result);
            var query = FormattableString.Invariant($"api/cameras?offset={(long)(number - 1) * size}&limit={size}");
            if (result.GetValue(site) is { } siteId)
            {
                query += FormattableString.Invariant($"&siteId={siteId}");
            }

            using var response = await client.GetAsync(query, cancellationToken);
            if (result.GetValue(json))
            {
                await CliCommon.EnsureAsync(response, cancellationToken);
                Console.WriteLine(await response.Content.ReadAsStringAsync(cancellationToken));
                return 0;
            }

            var cameras = await CliCommon.ReadAsync<Page<ListedCamera>>(response, cancellationToken);
            var pages = Math.Max(1, (cameras.Total + size - 1) / size);
            Console.WriteLine($"{cameras.Total} cameras; page {number} of {pages} ({cameras.Items.Count} shown)");
            Console.WriteLine($"{"id",6} {"code",-16} {"name",-32} {"fr",-3} {"health",-24} stream");
            foreach (var camera in cameras.Items)
            {
                Console.WriteLine($"{camera.Id,6} {camera.Code,-16} {Cut(camera.Name, 32),-32} {(camera.FaceRecognitionAllowed ? "yes" : "no"),-3} {Health(camera),-24} {camera.StreamUrl ?? "-"}");
            }

            if (number < pages)
            {
                Console.WriteLine($"next: --page {number + 1}");
            }

            return 0;
        }));
        return list;
    }

    private static string Health(ListedCamera camera) => camera switch
    {
        { Enabled: false } => "disabled",
        { StreamUrl: null } => "no stream",
        { Health: null } => "not monitored",
        { Health: { } health } => Describe(health),
    };

    private static string Describe(CameraHealthView health) =>
        health.LastFrameAt is { } at ? FormattableString.Invariant($"{health.State} {at.UtcDateTime:HH:mm:ss}Z") : health.State;

    private static string Cut(string text, int width) => text.Length <= width ? text : string.Concat(text.AsSpan(0, width - 1), "…");

    private sealed record ListedCamera(long Id, string Code, string Name, bool FaceRecognitionAllowed, string? StreamUrl, bool Enabled, CameraHealthView? Health);
}
