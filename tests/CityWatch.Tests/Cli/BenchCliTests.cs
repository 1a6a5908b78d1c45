using System.Text.Json.Nodes;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Cli;

/// <summary>`citywatch bench` as a user runs it: the figures, not their values (a loaded test box times nothing).</summary>
public sealed class BenchCliTests
{
    private static readonly string[] MatchKeys =
    [
        "exact_qps", "bandwidth_fraction", "batched_qps", "ann_qps", "ann_recall_at_1", "usearch_qps", "usearch_recall_at_1", "float_baseline_qps",
    ];

    [Fact]
    public async Task Bench_match_prints_one_json_object_with_every_figure()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "match", "--entries", "2000", "--queries", "16", "--json");

        Assert.True(exit == 0, string.Join('\n', errors));
        var figures = Assert.IsType<JsonObject>(JsonNode.Parse(output));
        Assert.Equal(2000, figures["entries"]!.GetValue<int>());
        foreach (var key in MatchKeys)
        {
            Assert.True(figures.ContainsKey(key), $"missing {key}");
        }

        foreach (var key in MatchKeys.Where(k => figures[k] is not null))
        {
            Assert.True(figures[key]!.GetValue<double>() > 0, $"{key} is {figures[key]}");
        }

        // Exact int8 search finds what the float scan finds on probes near enrolled rows.
        Assert.Equal(1.0, figures["exact_recall_at_1"]!.GetValue<double>());
    }

    [Fact]
    public async Task Bench_match_with_no_entries_prints_one_line_and_exits_non_zero()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "match", "--entries", "0", "--json");

        Assert.NotEqual(0, exit);
        Assert.Equal("", output.Trim());
        Assert.StartsWith("error: --entries", Assert.Single(errors));
    }
}
