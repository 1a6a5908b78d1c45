using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using CityWatch.Cli.Hosting;
using Spectre.Console;

namespace CityWatch.Cli.Bench;

/// <summary>
/// `citywatch bench match` and `bench audit`: measurements a city can rerun on its own hardware, each beside its baseline in the
/// same run; progress on stderr, the figures on stdout (one JSON object with --json).
/// </summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create() => new("bench", "Measure throughput on this machine, each figure beside its baseline") { Match(), Audit() };

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

    private static Command Audit()
    {
        var seconds = new Option<int>("--seconds") { Description = "How long each of the three measurements stages records", DefaultValueFactory = _ => 5 };
        var rate = new Option<int>("--rate") { Description = "Records per second offered in the commit-latency measurement", DefaultValueFactory = _ => 10_000 };
        var writers = new Option<int>("--writers") { Description = "Concurrent writers, each staging records in transactions of its own", DefaultValueFactory = _ => 8 };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var command = new Command("audit", "Audit trail on a temporary data folder: group commit against one leaf per transaction, and the commit latency at an offered rate")
        {
            seconds, rate, writers, json,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(() =>
        {
            var s = result.GetValue(seconds);
            var r = result.GetValue(rate);
            var w = result.GetValue(writers);
            if (s < 1 || r < 1 || w < 1)
            {
                throw new InvalidRequestException("--seconds, --rate and --writers must be at least 1");
            }

            var output = Json(WithSteps(step => AuditBench.Run(s, r, w, step)));
            if (result.GetValue(json))
            {
                Console.WriteLine(output.ToJsonString(Indented));
            }
            else
            {
                var table = new Table().AddColumns("figure", "value");
                foreach (var (key, value) in output)
                {
                    table.AddRow(Markup.Escape(key), Markup.Escape(value?.ToJsonString() ?? "null"));
                }

                AnsiConsole.Write(table);
            }

            return Task.FromResult(0);
        }));
        return command;
    }

    private static JsonObject Json(AuditFigures f) => new()
    {
        ["seconds"] = f.Seconds,
        ["writers"] = f.Writers,
        ["window"] = f.Window,
        ["cores"] = f.Cores,
        ["appended"] = f.Appended,
        ["appends_per_s"] = Round(f.AppendsPerSecond),
        ["one_per_transaction_appended"] = f.AppendedOnePerTransaction,
        ["one_per_transaction_per_s"] = Round(f.OnePerTransactionPerSecond),
        ["group_commit_speedup"] = Round(f.AppendsPerSecond / f.OnePerTransactionPerSecond),
        ["offered_per_s"] = Round(f.OfferedPerSecond),
        ["staged_per_s"] = Round(f.StagedPerSecond),
        ["timed"] = f.Timed,
        ["commit_p50_ms"] = Round(f.CommitP50Milliseconds),
        ["commit_p99_ms"] = Round(f.CommitP99Milliseconds),
        ["commit_max_ms"] = Round(f.CommitMaxMilliseconds),
    };

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
