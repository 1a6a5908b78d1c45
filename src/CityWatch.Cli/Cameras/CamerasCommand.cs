using System.CommandLine;
using System.Net.Http.Headers;
using CityWatch.Cameras;
using CityWatch.Cli.Hosting;

namespace CityWatch.Cli.Cameras;

internal static class CamerasCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "A camera inventory: .csv or .geojson" };
        var import = new Command("import", "Import a city's camera inventory through the server's API (all rows or none)") { file, CliCommon.Server, CliCommon.Token };
        import.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var path = result.GetValue(file)!;
            if (!path.Exists)
            {
                throw new FileNotFoundException($"no such file: {path.FullName}");
            }

            var format = CameraImport.FormatOf(path.Name);
            // Parse here too, so a bad file is reported before anything is sent.
            var content = await File.ReadAllTextAsync(path.FullName, cancellationToken);
            var inventory = CameraImport.Parse(content, format);
            using var client = CliCommon.Client(result);
            using var body = new StringContent(content);
            body.Headers.ContentType = new MediaTypeHeaderValue(format == "csv" ? "text/csv" : "application/geo+json");
            using var response = await client.PostAsync($"api/cameras/import?format={format}", body, cancellationToken);
            var imported = await CliCommon.ReadAsync<ImportResult>(response, cancellationToken);
            Console.WriteLine($"imported {inventory.Sites.Count} sites and {imported.Cameras} cameras ({imported.CamerasAdded} new, {imported.CamerasUpdated} updated)");
            return 0;
        }));

        var list = new Command("list", "List cameras with their health") { CliCommon.Server, CliCommon.Token };
        list.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var response = await client.GetAsync("api/cameras?limit=500", cancellationToken);
            var page = await CliCommon.ReadAsync<Page<Camera>>(response, cancellationToken);
            Console.WriteLine($"{page.Total} cameras; first {page.Items.Count}:");
            foreach (var camera in page.Items)
            {
                Console.WriteLine($"{camera.Id,6} {camera.Code,-16} {camera.Name,-40} fr={(camera.FaceRecognitionAllowed ? "yes" : "no")} {camera.StreamUrl}");
            }

            return 0;
        }));

        return new Command("cameras", "The camera register") { import, list };
    }
}
