using System.CommandLine;
using System.Globalization;
using CityWatch.Cli.Hosting;
using CityWatch.Ingest;
using CityWatch.Matching;
using CityWatch.Recognition;
using CityWatch.Server;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace CityWatch.Cli.Analysis;

/// <summary>
/// `citywatch analyze FILE --watchlist NAME --case ID`: faces and matches in an image or a video, on this
/// machine's CityWatch data, through the same policy engine as the server: no retrospective legal basis
/// for the watchlist, no analysis (and the refusal is logged).
/// </summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "An image (jpg, png, ...) or a video (mp4, mkv, ...)" };
        var watchlist = new Option<string>("--watchlist") { Description = "The watchlist to match against", Required = true };
        var caseId = new Option<string?>("--case") { Description = "The case this analysis is for (required by policy)" };
        var fps = new Option<double>("--fps") { Description = "Frames per second analysed in a video", DefaultValueFactory = _ => 2 };
        var width = new Option<int>("--width") { Description = "Width a video is scaled to before detection", DefaultValueFactory = _ => 640 };
        var command = new Command("analyze", "Find faces in an image or video and match them against a watchlist") { file, watchlist, caseId, fps, width, CliCommon.Data, CliCommon.Models };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var path = result.GetValue(file)!;
            if (!path.Exists)
            {
                throw new FileNotFoundException($"no such file: {path.FullName}");
            }

            var options = new ServerOptions
            {
                DataDirectory = Path.GetFullPath(result.GetValue(CliCommon.Data)!),
                ModelsDirectory = Path.GetFullPath(result.GetValue(CliCommon.Models)!),
            };
            var services = new ServiceCollection().AddCityWatchCore(options);
            services.AddSingleton(new RecognitionOptions());
            services.AddSingleton<MediaAnalyzer>();
            await using var provider = services.BuildServiceProvider();
            var list = provider.GetRequiredService<WatchlistStore>().GetByName(result.GetValue(watchlist)!);
            var analyzer = provider.GetRequiredService<MediaAnalyzer>();
            var ingest = new IngestOptions { AnalysisFps = result.GetValue(fps), Width = result.GetValue(width) }.Validate();
            var actor = $"cli:{Environment.UserName}";

            MediaReport report;
            if (MediaAnalyzer.IsVideo(path.FullName))
            {
                report = await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ElapsedTimeColumn(), new SpinnerColumn()).StartAsync(async context =>
                {
                    var task = context.AddTask($"analysing {path.Name}");
                    task.IsIndeterminate = true;
                    var progress = new Progress<TimeSpan>(p => task.Description = $"analysing {path.Name} at {p:mm\\:ss}");
                    return await analyzer.AnalyzeAsync(path.FullName, list.Id, result.GetValue(caseId), actor, ingest, progress, cancellationToken);
                });
            }
            else
            {
                report = await analyzer.AnalyzeAsync(path.FullName, list.Id, result.GetValue(caseId), actor, ingest, null, cancellationToken);
            }

            Console.WriteLine($"{report.File}: {report.Frames} frame(s), {report.Faces.Count} face(s), {report.Matches} matched '{list.Name}'");
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
