using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CityWatch.Cli.Hosting;

namespace CityWatch.Cli.Transparency;

/// <summary>
/// The reports through the API: the notification of a basis's use (Authority or DPO) and the public
/// annual report, as Markdown (default) or HTML, printed or written to a file. The API answers text, not
/// JSON: --json prints it as {"format", "report"}.
/// </summary>
internal static class ReportsCommand
{
    public static Command Create()
    {
        var basis = new Argument<long>("legal-basis") { Description = "The legal basis's id" };
        var use = Report("use", "The notification of a legal basis's use to the authorities (Authority or DPO)", basis, r => $"api/reports/uses/{r.GetValue(basis).ToString(CultureInfo.InvariantCulture)}");
        var year = new Argument<int>("year") { Description = "The year reported on" };
        var annual = Report("annual", "The public annual report: uses, deployments, statistics, assessments", year, r => $"api/reports/annual/{r.GetValue(year).ToString(CultureInfo.InvariantCulture)}");
        return new Command("reports", "Reports for the regulator and the public: use, annual") { use, annual };
    }

    private static Command Report(string name, string description, Argument argument, Func<ParseResult, string> path)
    {
        var format = new Option<string>("--format") { Description = "md or html", DefaultValueFactory = _ => "md" };
        format.AcceptOnlyFromAmong("md", "html");
        var output = new Option<FileInfo?>("--out") { Description = "Write the report to this file instead of printing it" };
        var command = ApiCommand.Create(name, description, argument, format, output);
        command.SetAction((r, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(r);
            using var response = await client.GetAsync($"{path(r)}?format={r.GetValue(format)}", ct);
            await CliCommon.EnsureAsync(response, ct);
            var report = await response.Content.ReadAsStringAsync(ct);
            if (r.GetValue(output) is { } file)
            {
                await File.WriteAllTextAsync(file.FullName, report, ct);
                Console.WriteLine(r.GetValue(ApiCommand.Json)
                    ? JsonSerializer.Serialize(new { format = r.GetValue(format), file = file.FullName }, CliCommon.JsonOptions)
                    : $"wrote {file.FullName}");
            }
            else
            {
                Console.WriteLine(r.GetValue(ApiCommand.Json) ? JsonSerializer.Serialize(new { format = r.GetValue(format), report }, CliCommon.JsonOptions) : report);
            }

            return 0;
        }));
        return command;
    }
}
