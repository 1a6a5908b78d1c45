using System.Text.Json.Nodes;
using CityWatch.Cli.Bench;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Cli;

/// <summary>`citywatch bench` as a user runs it: the figures, not their values (a loaded test box times nothing).</summary>
public sealed class BenchCliTests
{
    private static readonly string[] MatchKeys =
    [
        "exact_qps", "bandwidth_fraction", "batched_qps", "ann_qps", "ann_recall_at_1", "usearch_qps", "usearch_recall_at_1", "float_baseline_qps",
        "ann_candidates", "usearch_candidates", "ann_over_usearch_qps", "bandwidth_before_gb_s", "bandwidth_after_gb_s",
    ];

    [Fact]
    public async Task Bench_match_prints_one_json_object_with_every_figure()
    {
        var chart = Path.Combine(Path.GetTempPath(), $"citywatch-match-{Guid.NewGuid():N}.png");
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "match", "--entries", "2000", "--queries", "16", "--json", "--chart", chart);

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

        // Both graphs searched at every candidate count; each figure is its sweep's operating point.
        foreach (var (graph, sweepKey) in new[] { ("ann", "ann_sweep"), ("usearch", "usearch_sweep") })
        {
            var sweep = Assert.IsType<JsonArray>(figures[sweepKey]);
            Assert.Equal(MatchBench.Sweep, sweep.Select(p => p!["candidates"]!.GetValue<int>()));
            var operating = Assert.Single(sweep, p => p!["candidates"]!.GetValue<int>() == figures[$"{graph}_candidates"]!.GetValue<int>())!;
            Assert.Equal(operating["qps"]!.GetValue<double>(), figures[$"{graph}_qps"]!.GetValue<double>());
            Assert.Equal(operating["recall_at_1"]!.GetValue<double>(), figures[$"{graph}_recall_at_1"]!.GetValue<double>());
        }

        Assert.Equal(figures["ann_qps"]!.GetValue<double>() / figures["usearch_qps"]!.GetValue<double>(), figures["ann_over_usearch_qps"]!.GetValue<double>(), 0.01);

        try
        {
            Assert.Equal(Path.GetFullPath(chart), figures["chart"]!.GetValue<string>());
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(chart)[..4]); // the PNG signature
        }
        finally
        {
            File.Delete(chart);
        }
    }

    [Fact]
    public void The_operating_point_is_the_fastest_at_the_recall_goal_or_else_the_best_recall()
    {
        RecallPoint[] sweep = [new(16, 900, 0.95), new(64, 500, 0.991), new(256, 200, 0.999), new(1024, 50, 1.0)];
        Assert.Equal(64, RecallPoint.Operating(sweep)!.Candidates);

        RecallPoint[] belowGoal = [new(16, 900, 0.80), new(64, 500, 0.93), new(256, 200, 0.93)];
        Assert.Equal(64, RecallPoint.Operating(belowGoal)!.Candidates);
        Assert.Null(RecallPoint.Operating([]));
    }

    [Fact]
    public async Task Bench_match_refuses_a_chart_without_the_graphs_before_it_measures_anything()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "match", "--entries", "100", "--no-ann", "--chart", Path.Combine(Path.GetTempPath(), "never.png"), "--json");

        Assert.NotEqual(0, exit);
        Assert.Equal("", output.Trim());
        Assert.StartsWith("error: --chart", Assert.Single(errors));
    }

    private static readonly string[] AuditKeys =
    [
        "appends_per_s", "staged_one_per_transaction_per_s", "staged_one_per_transaction_appended", "one_per_transaction_per_s", "commit_p50_ms", "commit_p99_ms", "appended", "one_per_transaction_appended", "staged_per_s", "timed",
    ];

    [Fact]
    public async Task Bench_audit_prints_one_json_object_with_positive_figures()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "audit", "--seconds", "1", "--rate", "200", "--writers", "2", "--json");

        Assert.True(exit == 0, string.Join('\n', errors));
        var figures = Assert.IsType<JsonObject>(JsonNode.Parse(output));
        foreach (var key in AuditKeys)
        {
            Assert.True(figures.ContainsKey(key), $"missing {key}");
            Assert.True(figures[key]!.GetValue<double>() > 0, $"{key} is {figures[key]}");
        }

        Assert.Equal(200, figures["offered_per_s"]!.GetValue<double>());
        // The p99 can never be below the median: both come from the same sorted latencies.
        Assert.True(figures["commit_p99_ms"]!.GetValue<double>() >= figures["commit_p50_ms"]!.GetValue<double>());
    }

    [Fact]
    public async Task Bench_erasure_prints_its_figures_the_early_erasure_beside_its_baseline()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "erasure", "--items", "300", "--rounds", "2", "--json");

        Assert.True(exit == 0, string.Join('\n', errors));
        var figures = Assert.IsType<JsonObject>(JsonNode.Parse(output));
        foreach (var key in new[] { "seals_per_s", "early_erasure_ms", "baseline_checkpoint_ms", "early_over_baseline", "rewraps_per_s", "whole_epoch_erasure_ms" })
        {
            Assert.True(figures[key]!.GetValue<double>() > 0, $"{key} is {figures[key]}");
        }

        Assert.Equal(2, figures["rounds"]!.GetValue<int>());
        // Each round destroys two keys (one erased, one for the baseline): 300 - 4 are left to empty at once.
        Assert.Equal(296, figures["emptied_whole"]!.GetValue<int>());
    }

    [Fact]
    public async Task Bench_erasure_with_too_few_items_prints_one_line_and_exits_non_zero()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "erasure", "--items", "3", "--rounds", "2");

        Assert.NotEqual(0, exit);
        Assert.Equal("", output.Trim());
        Assert.StartsWith("error: --rounds must be at least 1", Assert.Single(errors));
    }

    [Fact]
    public async Task Bench_audit_with_no_seconds_prints_one_line_and_exits_non_zero()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "audit", "--seconds", "0", "--json");

        Assert.NotEqual(0, exit);
        Assert.Equal("", output.Trim());
        Assert.StartsWith("error: --seconds", Assert.Single(errors));
    }

    [Theory]
    [InlineData("--faces", "0", "error: --faces must be from 1 to 1000")]
    [InlineData("--faces", "1001", "error: --faces must be from 1 to 1000")]
    [InlineData("--data-source", "/nonexistent/citywatch-data", "error: No shared photos at /nonexistent/citywatch-data")]
    public async Task Bench_latency_with_bad_arguments_prints_one_line_and_exits_1(string option, string value, string error)
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "latency", option, value, "--json");

        Assert.Equal(1, exit);
        Assert.Equal("", output.Trim());
        Assert.StartsWith(error, Assert.Single(errors));
    }

    [Fact]
    public async Task Bench_match_with_no_entries_prints_one_line_and_exits_non_zero()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "match", "--entries", "0", "--json");

        Assert.NotEqual(0, exit);
        Assert.Equal("", output.Trim());
        Assert.StartsWith("error: --entries", Assert.Single(errors));
    }

    [Fact]
    public async Task Bench_ingest_prints_both_paths_measured_with_sane_figures()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "bench", "ingest", "--json", "--seconds", "2", "--streams", "2", "--data-source", TestPaths.SharedData, "--models", TestPaths.Models);

        Assert.True(exit == 0, string.Join('\n', errors));
        var figures = Assert.IsType<JsonObject>(JsonNode.Parse(output));
        foreach (var key in (string[])["cameras_per_core", "baseline_cameras_per_core", "ratio", "cpu_ms_per_camera_s", "baseline_cpu_ms_per_camera_s", "baseline_ffmpeg_cpu_s", "ffmpeg_cpu_s"])
        {
            Assert.True(figures[key]!.GetValue<double>() > 0, $"{key} is {figures[key]}");
        }

        Assert.True(figures["includes_detection"]!.GetValue<bool>());
        // The bench's source has a key frame every 0.5 s: it fits 2 analysed frames a second.
        Assert.Equal("keyframes", figures["decode_mode"]!.GetValue<string>());
        // 2 streams x 2 s at 2 frames/s, both ways (the fps filter may add or drop one at the ends).
        Assert.InRange(figures["baseline_frames_decoded"]!.GetValue<long>(), 6, 10);
        Assert.InRange(figures["frames_decoded"]!.GetValue<long>(), 6, 10);
        Assert.Equal(figures["baseline_frames_decoded"]!.GetValue<long>(), figures["baseline_frames_detected"]!.GetValue<long>());
        Assert.Equal(figures["frames_decoded"]!.GetValue<long>(), figures["frames_detected"]!.GetValue<long>() + figures["frames_gated"]!.GetValue<long>());
        Assert.Equal(figures["cameras_per_core"]!.GetValue<double>() / figures["baseline_cameras_per_core"]!.GetValue<double>(), figures["ratio"]!.GetValue<double>(), precision: 2);
    }

    [Fact]
    public async Task Bench_ingest_with_no_streams_prints_one_line_and_exits_non_zero()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "ingest", "--streams", "0", "--json");

        Assert.NotEqual(0, exit);
        Assert.Equal("", output.Trim());
        Assert.StartsWith("error: --seconds and --streams", Assert.Single(errors));
    }

    [Fact]
    public async Task Bench_pages_signs_in_and_prints_every_public_and_console_page_with_its_percentiles_beside_the_healthz_baseline()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "bench", "pages", "--cameras", "50", "--alerts", "100", "--requests", "5", "--json", "--models", TestPaths.Models);

        Assert.True(exit == 0, string.Join('\n', errors));
        var figures = Assert.IsType<JsonObject>(JsonNode.Parse(output));
        Assert.Equal(50, figures["cameras"]!.GetValue<int>());
        Assert.Equal(100, figures["alerts"]!.GetValue<int>());
        Assert.Equal(200, figures["goal_ms"]!.GetValue<double>());
        var pages = figures["pages"]!.AsArray().Select(p => p!.AsObject()).ToList();
        // The console pages as the signed-in investigator gets them (the bench stops with an error on any answer but 2xx):
        // the queue, the newest of the 100 alerts, the other console pages, the jobs and the newest of its 20 jobs, the cameras
        // and the newest of the 50, the reports.
        Assert.Equal(
            [
                "/", "/register", "/register/cameras.json", "/deployments", "/statistics", "/log", "/log/verify",
                "/console/alerts", "/console/alerts/100", "/console/deployments", "/console/bases", "/console/cases",
                "/console/jobs", "/console/jobs/20", "/console/watchlists", "/console/settings", "/console/log",
                "/console/cameras", "/console/cameras/50", "/console/reports",
            ],
            pages.Select(p => p["path"]!.GetValue<string>()));
        foreach (var page in pages)
        {
            var p50 = page["p50_ms"]!.GetValue<double>();
            var p95 = page["p95_ms"]!.GetValue<double>();
            Assert.True(p50 > 0 && p95 >= p50, $"{page["path"]}: p50 {p50}, p95 {p95}");
        }

        var worst = figures["worst_p95_ms"]!.GetValue<double>();
        Assert.Equal(pages.Max(p => p["p95_ms"]!.GetValue<double>()), worst);
        Assert.True(figures["baseline_p95_ms"]!.GetValue<double>() > 0);
        Assert.Equal(worst <= 200, figures["meets_goal"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Bench_analysis_prints_single_and_batched_embedding_on_their_graphs_with_a_stage_profile_and_its_chart()
    {
        var chart = Path.Combine(Path.GetTempPath(), $"citywatch-analysis-{Guid.NewGuid():N}.png");
        try
        {
            var (exit, output, errors) = await CliRunner.RunAsync(
                "bench", "analysis", "--json", "--frames", "4", "--rounds", "1", "--batch", "2", "--chart", chart, "--data-source", TestPaths.SharedData, "--models", TestPaths.Models);

            Assert.True(exit == 0, string.Join('\n', errors));
            var figures = Assert.IsType<JsonObject>(JsonNode.Parse(output));
            Assert.Equal("shipped", figures["single_graph"]!.GetValue<string>());
            Assert.Equal("rewritten", figures["batched_graph"]!.GetValue<string>());
            Assert.Equal(2, figures["batch_size"]!.GetValue<int>());
            Assert.InRange(figures["batched_max_difference"]!.GetValue<double>(), 0, 1e-5);
            foreach (var key in (string[])["frames_per_s_1_thread", "frames_per_s_2_threads", "baseline_frames_per_s", "embed_ms_per_face_single", "embed_cpu_ms_per_face_single",
                "embed_ms_per_face_single_2_threads", "embed_cpu_ms_per_face_single_2_threads", "embed_ms_per_face_batched", "embed_cpu_ms_per_face_batched"])
            {
                Assert.True(figures[key]!.GetValue<double>() > 0, $"{key} is {figures[key]}");
            }

            var profile = figures["profile"]!.AsObject();
            foreach (var key in (string[])["decode_cpu_ms_per_camera_s", "detect_ms_per_frame", "detect_cpu_ms_per_frame", "embed_ms_per_face", "embed_cpu_ms_per_face", "match_ms_per_face"])
            {
                Assert.True(profile[key]!.GetValue<double>() > 0, $"profile {key} is {profile[key]}");
            }

            // The int8 graph beside the float one: both timed, and scored on the held-out set of the shared data.
            var int8 = figures["int8"]!.AsObject();
            foreach (var key in (string[])["float_cpu_ms_per_face", "int8_cpu_ms_per_face", "speedup", "model_bytes", "calibration_faces"])
            {
                Assert.True(int8[key]!.GetValue<double>() > 0, $"int8 {key} is {int8[key]}");
            }

            Assert.Equal("dlib_johns", int8["held_out_set"]!.GetValue<string>());
            Assert.True(int8["held_out_faces"]!.GetValue<int>() > 10, $"{int8["held_out_faces"]} held-out faces");
            Assert.InRange(int8["cosine_to_float_mean"]!.GetValue<double>(), 0.9, 1.0001);
            Assert.InRange(int8["auc_int8"]!.GetValue<double>(), 0.9, 1);
            Assert.Equal(int8["auc_int8"]!.GetValue<double>() - int8["auc_float"]!.GetValue<double>(), int8["auc_difference"]!.GetValue<double>(), 3);
            Assert.Equal(0.002, int8["accuracy_tolerance"]!.GetValue<double>());
            // Kept only where it is faster and its accuracy holds.
            Assert.False(int8["would_keep"]!.GetValue<bool>() && int8["speedup"]!.GetValue<double>() <= 1);

            // More faces per frame cost more: the cameras a core carries fall with every face.
            var cameras = figures["cameras_per_core_by_faces"]!.AsArray().Select(p => p!["cameras_per_core"]!.GetValue<double>()).ToList();
            Assert.Equal(11, cameras.Count);
            Assert.All(cameras.Zip(cameras.Skip(1)), p => Assert.True(p.Second < p.First, $"{p.Second} after {p.First}"));
            Assert.Equal(Path.GetFullPath(chart), figures["chart"]!.GetValue<string>());
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(chart)[..4]); // the PNG signature
        }
        finally
        {
            File.Delete(chart);
        }
    }

    [Fact]
    public async Task Bench_analysis_with_a_bad_batch_prints_one_line_and_exits_non_zero()
    {
        var (exit, output, errors) = await CliRunner.RunAsync("bench", "analysis", "--batch", "0", "--json");

        Assert.NotEqual(0, exit);
        Assert.Equal("", output.Trim());
        Assert.StartsWith("error: --batch must be from 1 to 64", Assert.Single(errors));
    }

    [Fact]
    public async Task Bench_pages_refuses_zero_requests_with_one_line()
    {
        var (exit, _, errors) = await CliRunner.RunAsync("bench", "pages", "--requests", "0");

        Assert.Equal(1, exit);
        Assert.Contains(errors, line => line.Contains("--requests", StringComparison.Ordinal));
    }
}
