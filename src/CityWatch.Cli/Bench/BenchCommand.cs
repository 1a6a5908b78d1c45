using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using CityWatch.Cli.Hosting;
using Spectre.Console;

namespace CityWatch.Cli.Bench;

/// <summary>
/// `citywatch bench match`: measurements a city can rerun on its own hardware, each beside its baseline in the
/// same run; progress on stderr, the figures on stdout (one JSON object with --json).
/// </summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create() => new("bench", "Measure throughput on this machine, each figure beside its baseline") { Match() };

    private static Command Match()
    {
        var entries = new Option<int>("--entries") { Description = "Gallery size (random unit vectors of 512 dimensions)", DefaultValueFactory = _ => 1_000_000 };
        var queries = new Option<int>("--queries") { Description = "Probes per measurement (each stops after 15 s)", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch") { Description = "Probes scored per pass over the gallery in the batched scan", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Seed of the gallery and the probes", DefaultValueFactory = _ => 13 };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var noAnn = new Option<bool>("--no-ann") { Description = "Skip the approximate index and USearch (their graphs take long to build on a small box); their figures print as null" };
        var command = new Command("match", "1:N search: int8 exact (one probe and batched) against today's float scan and the memory bandwidth; approximate against USearch")
        {
            entries, queries, batch, seed, json, noAnn,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(() =>
        {
            var n = result.GetValue(entries);
            var q = result.GetValue(queries);
            var b = result.GetValue(batch);
            if (n < 1 || q < 1 || b < 1)
            {
                throw new InvalidRequestException("--entries, --queries and --batch must be at least 1");
            }

            var figures = WithSteps(step => MatchBench.Run(n, q, b, result.GetValue(seed), !result.GetValue(noAnn), step));
            var output = Json(figures);
            if (result.GetValue(json))
            {
                Console.WriteLine(output.ToJsonString(Indented));
            }
            else
            {
                foreach (var (key, value) in output)
                {
                    Console.WriteLine($"{key,-28} {value?.ToJsonString()}");
                }
            }

            return Task.FromResult(0);
        }));
        return command;
    }

    private static JsonObject Json(MatchFigures f) => new()
    {
        ["entries"] = f.Entries,
        ["dimensions"] = f.Dimensions,
        ["queries"] = f.Queries,
        ["batch"] = f.Batch,
        ["cores"] = f.Cores,
        ["kernel"] = f.Kernel,
        ["bandwidth_gb_s"] = Round(f.BandwidthGbPerSecond),
        ["float_baseline_qps"] = Round(f.FloatBaselineQps),
        ["exact_qps"] = Round(f.ExactQps),
        ["bandwidth_fraction"] = Round(f.BandwidthFraction),
        ["batched_qps"] = Round(f.BatchedQps),
        ["batched_bandwidth_fraction"] = Round(f.BatchedBandwidthFraction),
        ["exact_recall_at_1"] = Round(f.ExactRecallAt1),
        ["ann_qps"] = f.AnnQps is { } annQps ? Round(annQps) : null,
        ["ann_recall_at_1"] = f.AnnRecallAt1 is { } annRecall ? Round(annRecall) : null,
        ["usearch_qps"] = f.UsearchQps is { } usearchQps ? Round(usearchQps) : null,
        ["usearch_recall_at_1"] = f.UsearchRecallAt1 is { } usearchRecall ? Round(usearchRecall) : null,
        ["ann_build_s"] = f.AnnBuildSeconds is { } annBuild ? Round(annBuild) : null,
        ["usearch_build_s"] = f.UsearchBuildSeconds is { } usearchBuild ? Round(usearchBuild) : null,
    };

    private static double Round(double value) => Math.Round(value, 4);

    /// <summary>Runs <paramref name="body"/> with a spinner on stderr naming the current step (plain lines when stderr is redirected).</summary>
    private static T WithSteps<T>(Func<Action<string>, T> body)
    {
        if (Console.IsErrorRedirected)
        {
            return body(what => Console.Error.WriteLine(what));
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Status().Start("starting", context => body(what => context.Status(what)));
    }
}
