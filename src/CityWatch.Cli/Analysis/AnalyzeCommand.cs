using System.CommandLine;
using System.Globalization;
using CityWatch.Cli.Hosting;
using CityWatch.Recognition;
using Spectre.Console;

namespace CityWatch.Cli.Analysis;

/// <summary>
/// `citywatch analyze FILE --watchlist NAME --case NUMBER`: faces and matches in an image or a video. The
/// server does the work, through the same policy engine as every other path: no retrospective legal basis
/// for the watchlist, no analysis (and the refusal is logged). The upload is deleted after the analysis.
/// </summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "An image (jpg, png, ...) or a video (mp4, mkv, ...)" };
        var watchlist = new Option<string>("--watchlist") { Description = "The watchlist to match against", Required = true };
        var caseId = new Option<string?>("--case") { Description = "The number of the registered, open case this analysis is for (required by policy)" };
        var fps = new Option<double>("--fps") { Description = "Frames per second analysed in a video", DefaultValueFactory = _ => 2 };
        var width = new Option<int>("--width") { Description = "Width a video is scaled to before detection", DefaultValueFactory = _ => 640 };
        var command = new Command("analyze", "Find faces in an image or video and match them against a watchlist") { file, watchlist, caseId, fps, width, CliCommon.Server, CliCommon.Token };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var path = result.GetValue(file)!;
            if (!path.Exists)
            {
                throw new FileNotFoundException($"no such file: {path.FullName}");
            }

            using var client = CliCommon.Client(result);
            var query = string.Create(CultureInfo.InvariantCulture, $"api/analyze?watchlist={Uri.EscapeDataString(result.GetValue(watchlist)!)}&fps={result.GetValue(fps)}&width={result.GetValue(width)}");
            if (result.GetValue(caseId) is { } id)
            {
                query += $"&case={Uri.EscapeDataString(id)}";
            }

            var report = await AnsiConsole.Status().StartAsync($"analysing {path.Name}", async _ =>
            {
                await using var stream = path.OpenRead();
                using var form = new MultipartFormDataContent();
                form.Add(new StreamContent(stream), "file", path.Name);
                using var response = await client.PostAsync(query, form, cancellationToken);
                return await CliCommon.ReadAsync<MediaReport>(response, cancellationToken);
            });

            Console.WriteLine($"{report.File}: {report.Frames} frame(s), {report.Faces.Count} face(s), {report.Matches} matched '{result.GetValue(watchlist)}'");
            foreach (var face in report.Faces)
            {
                var where = report.IsVideo ? $"{face.Position:mm\\:ss\\.f} " : "";
                var box = string.Create(CultureInfo.InvariantCulture, $"[{face.Box.X:0},{face.Box.Y:0} {face.Box.Width:0}x{face.Box.Height:0}]");
                var match = face.Matches.Count == 0
                    ? "no match"
                    : string.Join(", ", face.Matches.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Label} {m.Score:0.000}")));
                Console.WriteLine($"  {where}face {box} detector {face.DetectorScore.ToString("0.00", CultureInfo.InvariantCulture)}: {match}");
            }

            return 0;
        }));
        return command;
    }
}
