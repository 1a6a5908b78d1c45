using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using CityWatch.Cli.Hosting;
using CityWatch.Evaluation;
using CityWatch.Vision;
using Spectre.Console;

namespace CityWatch.Cli.Bench;

/// <summary>
/// `citywatch bench match`, `bench audit`, `bench erasure`, `bench ingest`, `bench analysis`, `bench pages` and `bench latency`: measurements a city can rerun on its own hardware, each beside its baseline in the
/// same run; progress on stderr, the figures on stdout (one JSON object with --json).
/// </summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create() => new("bench", "Measure throughput on this machine, each figure beside its baseline") { Match(), Audit(), Erasure(), Ingest(), Analysis(), Pages(), Latency() };

    private static Command Match()
    {
        var entries = new Option<int>("--entries") { Description = "Gallery size (random unit vectors of 512 dimensions)", DefaultValueFactory = _ => 1_000_000 };
        var queries = new Option<int>("--queries") { Description = "Probes per measurement (each stops after 15 s)", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch") { Description = "Probes scored per pass over the gallery in the batched scan", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Seed of the gallery and the probes", DefaultValueFactory = _ => 13 };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var noAnn = new Option<bool>("--no-ann") { Description = "Skip the approximate index and USearch (their graphs take long to build on a small box); their figures print as null" };
        var chart = new Option<string?>("--chart") { Description = "Also write a PNG of recall@1 against queries per second for both graphs (one point per candidate count) to this file" };
        var command = new Command("match", "1:N search: int8 exact (one probe and batched) against today's float scan and the memory bandwidth; approximate against USearch at the same recall")
        {
            entries, queries, batch, seed, json, noAnn, chart,
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

            var png = result.GetValue(chart);
            if (png is not null && result.GetValue(noAnn))
            {
                throw new InvalidRequestException("--chart draws the approximate searches, which --no-ann leaves out");
            }

            var figures = WithSteps(step => MatchBench.Run(n, q, b, result.GetValue(seed), !result.GetValue(noAnn), step));
            if (png is not null)
            {
                MatchChart.Write(figures, png);
            }

            var printed = Json(figures);
            printed["chart"] = png is null ? null : Path.GetFullPath(png);
            Print(printed, result.GetValue(json));

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

            Print(Json(WithSteps(step => AuditBench.Run(s, r, w, step))), result.GetValue(json));

            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command Erasure()
    {
        var items = new Option<int>("--items") { Description = "Item keys sealed into the one epoch (an hour's crops and photos)", DefaultValueFactory = _ => 10_000 };
        var rounds = new Option<int>("--rounds") { Description = "Early erasures, each beside a baseline checkpoint; the figures are medians", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var command = new Command("erasure", "Evidence erasure epochs on a temporary data folder: an early erasure (rewrapping the epoch) against the checkpoint alone, and a whole epoch erased")
        {
            items, rounds, json,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(() =>
        {
            var n = result.GetValue(items);
            var r = result.GetValue(rounds);
            if (n < 2 * r + 2 || r < 1)
            {
                throw new InvalidRequestException("--rounds must be at least 1 and --items at least twice --rounds plus 2");
            }

            Print(Json(WithSteps(step => ErasureBench.Run(n, r, step))), result.GetValue(json));
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command Ingest()
    {
        var seconds = new Option<int>("--seconds") { Description = "Seconds of video each stream decodes (the shared clip, looped)", DefaultValueFactory = _ => 10 };
        var streams = new Option<int>("--streams") { Description = "Concurrent cameras (frame sources, one ffmpeg each)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var keyInterval = new Option<double>("--keyframe-interval") { Description = "Seconds between key frames of the 720p source the bench encodes (a camera's GOP setting)", DefaultValueFactory = _ => 0.5 };
        var width = new Option<int>("--source-width") { Description = "Width of the 16:9 source the bench encodes (1280: a 720p main stream; 640: a sub-stream)", DefaultValueFactory = _ => 1280 };
        var video = new Option<string?>("--video") { Description = "The clip to re-encode as the camera (default: short_hamilton_clip.mp4 in the shared data)" };
        var source = new Option<string>("--data-source")
        {
            Description = "Where the shared sample data is (for the default clip)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? Path.Combine("..", "shared", "data"),
        };
        var noDetection = new Option<bool>("--no-detection") { Description = "Decode and gate only: leave face detection out of the per-camera cost (no models needed)" };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var command = new Command("ingest", "Cameras per core: key frames and the motion gate against full decode with the fps filter, CPU time of ffmpeg and this process")
        {
            seconds, streams, keyInterval, width, video, source, noDetection, json, CliCommon.Models,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var s = result.GetValue(seconds);
            var n = result.GetValue(streams);
            var k = result.GetValue(keyInterval);
            if (s < 1 || n < 1)
            {
                throw new InvalidRequestException("--seconds and --streams must be at least 1");
            }

            if (!double.IsFinite(k) || k is < 0.04 or > 60)
            {
                throw new InvalidRequestException("--keyframe-interval must be from 0.04 to 60 seconds");
            }

            var w = result.GetValue(width);
            if (w is < 64 or > 7680 || w % 2 != 0)
            {
                throw new InvalidRequestException("--source-width must be an even number from 64 to 7680");
            }

            var clip = result.GetValue(video) ?? Path.Combine(result.GetValue(source)!, ModelCatalog.HamiltonClip);
            var models = result.GetValue(noDetection) ? null : Path.GetFullPath(result.GetValue(CliCommon.Models)!);
            var figures = await WithStepsAsync(step => IngestBench.RunAsync(clip, s, n, k, w, models, step, cancellationToken));
            Print(Json(figures), result.GetValue(json));

            return 0;
        }));
        return command;
    }

    private static Command Analysis()
    {
        var frames = new Option<int>("--frames") { Description = "Decoded frames of the clip each measurement analyses (10 a second of video)", DefaultValueFactory = _ => 90 };
        var rounds = new Option<int>("--rounds") { Description = "Times each measurement runs, interleaved; the figures are medians", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "Faces per embedder run in the batched measurement", DefaultValueFactory = _ => 8 };
        var video = new Option<string?>("--video") { Description = "The clip to analyse (default: short_hamilton_clip.mp4 in the shared data)" };
        var source = new Option<string>("--data-source")
        {
            Description = "Where the shared sample data is (for the default clip)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? Path.Combine("..", "shared", "data"),
        };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var chart = new Option<string?>("--chart") { Description = "Also write a PNG of cameras per core against faces per frame (from the measured stage costs) to this file" };
        var command = new Command("analysis", "Detect + embed on 1 and 2 threads (a session per thread) against the old one-session-per-model path; embedding one face per run against batches; CPU per stage")
        {
            frames, rounds, batch, video, source, json, chart, CliCommon.Models,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var f = result.GetValue(frames);
            var r = result.GetValue(rounds);
            var b = result.GetValue(batch);
            if (f < 1 || r < 1)
            {
                throw new InvalidRequestException("--frames and --rounds must be at least 1");
            }

            if (b is < 1 or > 64)
            {
                throw new InvalidRequestException("--batch must be from 1 to 64");
            }

            var clip = result.GetValue(video) ?? Path.Combine(result.GetValue(source)!, ModelCatalog.HamiltonClip);
            var models = Path.GetFullPath(result.GetValue(CliCommon.Models)!);
            var heldOut = Path.Combine(result.GetValue(source)!, "faces", "dlib_johns");
            var figures = await WithStepsAsync(step => AnalysisBench.RunAsync(clip, heldOut, f, r, b, models, step, cancellationToken));
            var png = result.GetValue(chart);
            if (png is not null)
            {
                AnalysisChart.Write(figures, png);
            }

            var printed = Json(figures);
            printed["chart"] = png is null ? null : Path.GetFullPath(png);
            Print(printed, result.GetValue(json));

            return 0;
        }));
        return command;
    }

    private static Command Pages()
    {
        var cameras = new Option<int>("--cameras") { Description = "Cameras in the store (two per site)", DefaultValueFactory = _ => 1_000 };
        var alerts = new Option<int>("--alerts") { Description = "Alerts in the store, spread over the cameras", DefaultValueFactory = _ => 10_000 };
        var requests = new Option<int>("--requests") { Description = "Timed requests per page, one after another", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var command = new Command("pages", "Public portal pages at city size on a temporary server: p50/p95 per page against /healthz, goal 200 ms at p95")
        {
            cameras, alerts, requests, json, CliCommon.Models,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var c = result.GetValue(cameras);
            var a = result.GetValue(alerts);
            var r = result.GetValue(requests);
            if (c < 1 || a < 0 || r < 1)
            {
                throw new InvalidRequestException("--cameras and --requests must be at least 1, --alerts at least 0");
            }

            var models = Path.GetFullPath(result.GetValue(CliCommon.Models)!);
            var figures = await WithStepsAsync(step => PageBench.RunAsync(c, a, r, models, step, cancellationToken));
            if (result.GetValue(json))
            {
                Console.WriteLine(Json(figures).ToJsonString(Indented));
            }
            else
            {
                var table = new Table().AddColumns("page", "p50 ms", "p95 ms");
                foreach (var page in figures.Pages.Append(figures.Baseline))
                {
                    table.AddRow(Markup.Escape(page.Path), $"{page.P50Ms:0.0}", $"{page.P95Ms:0.0}");
                }

                AnsiConsole.Write(table);
                Console.WriteLine($"worst p95 {figures.WorstP95Ms:0.0} ms, goal {PageFigures.GoalMs} ms: {(figures.MeetsGoal ? "met" : "missed")}");
            }

            return 0;
        }));
        return command;
    }

    private static Command Latency()
    {
        var faces = new Option<int>("--faces") { Description = "Faces that enter the stream, one after another (a person comes back after the 60 s alert cooldown)", DefaultValueFactory = _ => 12 };
        var source = new Option<string>("--data-source")
        {
            Description = "Where the shared sample data is (the people's photos)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? Path.Combine("..", "shared", "data"),
        };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object (progress as plain lines on stderr)" };
        var command = new Command("latency", "From a watchlisted face entering a live stream to its alert in GET /api/alerts and on the console's event stream, goal p95 1 s")
        {
            faces, source, json, CliCommon.Models,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var n = result.GetValue(faces);
            if (n is < 1 or > 1000)
            {
                throw new InvalidRequestException("--faces must be from 1 to 1000");
            }

            var models = Path.GetFullPath(result.GetValue(CliCommon.Models)!);
            var data = Path.GetFullPath(result.GetValue(source)!);
            var asJson = result.GetValue(json);
            var figures = await WithProgressAsync(n, !asJson, progress => LatencyBench.RunAsync(n, models, data, progress, cancellationToken));
            Print(Json(figures), asJson);

            return 0;
        }));
        return command;
    }

    // One JSON object with --json, else a table of the same figures.
    private static void Print(JsonObject output, bool json)
    {
        if (json)
        {
            Console.WriteLine(output.ToJsonString(Indented));
            return;
        }

        var table = new Table().AddColumns("figure", "value");
        foreach (var (key, value) in output)
        {
            table.AddRow(Markup.Escape(key), Markup.Escape(value?.ToJsonString() ?? "null"));
        }

        AnsiConsole.Write(table);
    }

    private static JsonObject Json(PageFigures f) => new()
    {
        ["cameras"] = f.Cameras,
        ["alerts"] = f.Alerts,
        ["requests"] = f.Requests,
        ["fill_s"] = Round(f.FillSeconds),
        ["pages"] = new JsonArray([.. f.Pages.Select(p => (JsonNode)new JsonObject { ["path"] = p.Path, ["p50_ms"] = Round(p.P50Ms), ["p95_ms"] = Round(p.P95Ms) })]),
        ["baseline_path"] = f.Baseline.Path,
        ["baseline_p50_ms"] = Round(f.Baseline.P50Ms),
        ["baseline_p95_ms"] = Round(f.Baseline.P95Ms),
        ["worst_p95_ms"] = Round(f.WorstP95Ms),
        ["goal_ms"] = PageFigures.GoalMs,
        ["meets_goal"] = f.MeetsGoal,
    };

    private static JsonObject Json(AnalysisFigures f) => new()
    {
        ["frames"] = f.Frames,
        ["faces"] = f.Faces,
        ["rounds"] = f.Rounds,
        ["source"] = f.Source,
        ["detector"] = f.Detector,
        ["embedder"] = f.Embedder,
        ["frames_per_s_1_thread"] = Round(f.FramesPerSecondOneThread),
        ["frames_per_s_2_threads"] = Round(f.FramesPerSecondTwoThreads),
        ["scaling_1_to_2"] = Round(f.ScalingOneToTwo),
        ["scaling_goal"] = AnalysisFigures.ScalingGoal,
        ["baseline_frames_per_s"] = Round(f.BaselineFramesPerSecond),
        ["speedup_over_baseline"] = Round(f.SpeedupOverBaseline),
        ["embed_ms_per_face_single"] = Round(f.Single.WallMs),
        ["embed_cpu_ms_per_face_single"] = Round(f.Single.CpuMs),
        ["embed_ms_per_face_single_2_threads"] = Round(f.SingleTwoThreads.WallMs),
        ["embed_cpu_ms_per_face_single_2_threads"] = Round(f.SingleTwoThreads.CpuMs),
        ["embed_ms_per_face_batched"] = Round(f.Batched.WallMs),
        ["embed_cpu_ms_per_face_batched"] = Round(f.Batched.CpuMs),
        ["single_graph"] = "shipped",
        ["batched_graph"] = f.BatchSize > 1 ? "rewritten" : "shipped",
        ["batch_size"] = f.BatchSize,
        ["batched_max_difference"] = f.BatchedMaxDifference,
        ["profile"] = new JsonObject
        {
            ["decode_cpu_ms_per_camera_s"] = Round(f.Profile.DecodeCpuMsPerCameraSecond),
            ["detect_ms_per_frame"] = Round(f.Profile.Detect.WallMs),
            ["detect_cpu_ms_per_frame"] = Round(f.Profile.Detect.CpuMs),
            ["align_ms_per_face"] = Round(f.Profile.Align.WallMs),
            ["align_cpu_ms_per_face"] = Round(f.Profile.Align.CpuMs),
            ["embed_ms_per_face"] = Round(f.Profile.Embed.WallMs),
            ["embed_cpu_ms_per_face"] = Round(f.Profile.Embed.CpuMs),
            ["match_ms_per_face"] = Round(f.Profile.Match.WallMs),
            ["match_cpu_ms_per_face"] = Round(f.Profile.Match.CpuMs),
            ["gallery_entries"] = f.Profile.GalleryEntries,
            ["analysed_fps"] = StageProfile.DemoFps,
        },
        ["cameras_per_core_by_faces"] = new JsonArray(AnalysisChart.Points(f.Profile)
            .Select(p => (JsonNode)new JsonObject { ["faces"] = p.Faces, ["cameras_per_core"] = Round(p.CamerasPerCore) }).ToArray()),
        ["int8"] = new JsonObject
        {
            ["calibration_faces"] = f.Int8.CalibrationFaces,
            ["model_bytes"] = f.Int8.ModelBytes,
            ["float_cpu_ms_per_face"] = Round(f.Int8.Float.CpuMs),
            ["int8_cpu_ms_per_face"] = Round(f.Int8.Int8.CpuMs),
            ["float_ms_per_face"] = Round(f.Int8.Float.WallMs),
            ["int8_ms_per_face"] = Round(f.Int8.Int8.WallMs),
            ["speedup"] = Round(f.Int8.Speedup),
            ["held_out_set"] = Path.GetFileName(f.Int8.HeldOutSet.TrimEnd('/')),
            ["held_out_faces"] = f.Int8.HeldOutFaces,
            ["cosine_to_float_mean"] = Math.Round(f.Int8.CosineToFloatMean, 4),
            ["cosine_to_float_min"] = Math.Round(f.Int8.CosineToFloatMin, 4),
            ["auc_float"] = Math.Round(f.Int8.FloatAccuracy.Auc, 4),
            ["auc_int8"] = Math.Round(f.Int8.Int8Accuracy.Auc, 4),
            ["auc_difference"] = Math.Round(f.Int8.AucDifference, 4),
            ["tar_at_far_float"] = TarJson(f.Int8.FloatAccuracy),
            ["tar_at_far_int8"] = TarJson(f.Int8.Int8Accuracy),
            ["accuracy_tolerance"] = Int8Figures.AccuracyTolerance,
            ["would_keep"] = f.Int8.WouldKeep,
        },
        ["cores"] = f.Cores,
        ["load_average_1m_start"] = f.LoadAverage.Start,
        ["load_average_1m"] = f.LoadAverage.End,
    };

    private static JsonObject TarJson(VerificationFigures figures) =>
        new(figures.TarAtFar.Select(p => KeyValuePair.Create(p.Key.ToString("0.###", CultureInfo.InvariantCulture), (JsonNode?)(p.Value is { } v ? Math.Round(v, 4) : null))));

    private static JsonObject Json(IngestFigures f) => new()
    {
        ["seconds"] = f.Seconds,
        ["streams"] = f.Streams,
        ["cores"] = f.Cores,
        ["analysis_fps"] = f.AnalysisFps,
        ["analysis_width"] = f.AnalysisWidth,
        ["source"] = f.Source,
        ["keyframe_interval_s"] = f.KeyFrameIntervalSeconds,
        ["includes_detection"] = f.IncludesDetection,
        ["decode_mode"] = f.Product.KeyFramesOnly ? "keyframes" : "all",
        ["cameras_per_core"] = Round(f.CamerasPerCore),
        ["baseline_cameras_per_core"] = Round(f.BaselineCamerasPerCore),
        ["ratio"] = Round(f.CamerasPerCore / f.BaselineCamerasPerCore),
        ["cpu_ms_per_camera_s"] = Round(1000 * f.Product.CpuPerCameraSecond(f.Streams, f.Seconds)),
        ["baseline_cpu_ms_per_camera_s"] = Round(1000 * f.Baseline.CpuPerCameraSecond(f.Streams, f.Seconds)),
        ["ffmpeg_cpu_s"] = Round(f.Product.ChildCpuSeconds),
        ["own_cpu_s"] = Round(f.Product.CpuSeconds - f.Product.ChildCpuSeconds),
        ["baseline_ffmpeg_cpu_s"] = Round(f.Baseline.ChildCpuSeconds),
        ["baseline_own_cpu_s"] = Round(f.Baseline.CpuSeconds - f.Baseline.ChildCpuSeconds),
        ["frames_decoded"] = f.Product.FramesDecoded,
        ["frames_gated"] = f.Product.FramesGated,
        ["frames_detected"] = f.Product.FramesDetected,
        ["faces"] = f.Product.Faces,
        ["baseline_frames_decoded"] = f.Baseline.FramesDecoded,
        ["baseline_frames_detected"] = f.Baseline.FramesDetected,
        ["baseline_faces"] = f.Baseline.Faces,
        ["wall_s"] = Round(f.Product.WallSeconds),
        ["baseline_wall_s"] = Round(f.Baseline.WallSeconds),
    };

    private static JsonObject Json(ErasureFigures f) => new()
    {
        ["items"] = f.Items,
        ["rounds"] = f.Rounds,
        ["seals_per_s"] = Round(f.SealsPerSecond),
        ["emptied_whole"] = f.EmptiedWhole,
        ["early_erasure_ms"] = Round(f.EarlyErasureMilliseconds),
        ["baseline_checkpoint_ms"] = Round(f.BaselineMilliseconds),
        ["early_over_baseline"] = Round(f.EarlyErasureMilliseconds / f.BaselineMilliseconds),
        ["rewraps_per_s"] = Round(f.RewrapsPerSecond),
        ["whole_epoch_erasure_ms"] = Round(f.WholeEpochMilliseconds),
    };

    private static JsonObject Json(AuditFigures f) => new()
    {
        ["seconds"] = f.Seconds,
        ["writers"] = f.Writers,
        ["window"] = f.Window,
        ["cores"] = f.Cores,
        ["appended"] = f.Appended,
        ["appends_per_s"] = Round(f.AppendsPerSecond),
        ["staged_one_per_transaction_appended"] = f.StagedOnePerTransaction,
        ["staged_one_per_transaction_per_s"] = Round(f.StagedOnePerTransactionPerSecond),
        ["writer_group_commit_speedup"] = Round(f.AppendsPerSecond / f.StagedOnePerTransactionPerSecond),
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
        ["bandwidth_before_gb_s"] = Round(f.BandwidthBeforeGbPerSecond),
        ["bandwidth_after_gb_s"] = Round(f.BandwidthAfterGbPerSecond),
        ["float_baseline_qps"] = Round(f.FloatBaselineQps),
        ["exact_qps"] = Round(f.ExactQps),
        ["bandwidth_fraction"] = Round(f.BandwidthFraction),
        ["batched_qps"] = Round(f.BatchedQps),
        ["batched_bandwidth_fraction"] = Round(f.BatchedBandwidthFraction),
        ["exact_recall_at_1"] = Round(f.ExactRecallAt1),
        ["ann_qps"] = f.Ann is { } ann ? Round(ann.Qps) : null,
        ["ann_recall_at_1"] = f.Ann is { } annRecall ? Round(annRecall.RecallAt1) : null,
        ["ann_candidates"] = f.Ann?.Candidates,
        ["usearch_qps"] = f.Usearch is { } usearch ? Round(usearch.Qps) : null,
        ["usearch_recall_at_1"] = f.Usearch is { } usearchRecall ? Round(usearchRecall.RecallAt1) : null,
        ["usearch_candidates"] = f.Usearch?.Candidates,
        ["ann_over_usearch_qps"] = f.AnnOverUsearch is { } ratio ? Round(ratio) : null,
        ["recall_goal"] = MatchFigures.RecallGoal,
        ["ann_sweep"] = Sweep(f.AnnSweep),
        ["usearch_sweep"] = Sweep(f.UsearchSweep),
        ["ann_build_s"] = f.AnnBuildSeconds is { } annBuild ? Round(annBuild) : null,
        ["usearch_build_s"] = f.UsearchBuildSeconds is { } usearchBuild ? Round(usearchBuild) : null,
    };

    private static JsonArray Sweep(IReadOnlyList<RecallPoint> sweep) =>
        [.. sweep.Select(p => (JsonNode)new JsonObject { ["candidates"] = p.Candidates, ["qps"] = Round(p.Qps), ["recall_at_1"] = Round(p.RecallAt1) })];

    private static JsonObject Json(LatencyFigures f) => new()
    {
        ["faces"] = f.Faces,
        ["samples"] = f.Samples.Count,
        ["missed"] = f.Missed,
        ["p50_ms"] = Round(f.Api.P50Ms),
        ["p95_ms"] = Round(f.Api.P95Ms),
        ["max_ms"] = Round(f.Api.MaxMs),
        ["sse_p50_ms"] = Round(f.Sse.P50Ms),
        ["sse_p95_ms"] = Round(f.Sse.P95Ms),
        ["sse_max_ms"] = Round(f.Sse.MaxMs),
        ["goal_ms"] = LatencyFigures.GoalMs,
        ["meets_goal"] = f.MeetsGoal,
        ["ingest_p50_ms"] = Round(f.Ingest.P50Ms),
        ["ingest_p95_ms"] = Round(f.Ingest.P95Ms),
        ["analysis_p50_ms"] = Round(f.Analysis.P50Ms),
        ["analysis_p95_ms"] = Round(f.Analysis.P95Ms),
        ["publish_p50_ms"] = Round(f.Publish.P50Ms),
        ["publish_p95_ms"] = Round(f.Publish.P95Ms),
        ["baseline_frame_interval_ms"] = Round(f.FrameIntervalMs),
        ["baseline_detect_embed_ms"] = Round(f.DetectEmbedMs),
        ["poll_interval_ms"] = Round(f.PollIntervalMs),
        ["analysis_fps"] = f.AnalysisFps,
        ["stream"] = f.Stream,
        ["cores"] = f.Cores,
        ["setup_s"] = Round(f.SetupSeconds),
        ["samples_ms"] = new JsonArray([.. f.Samples.Select(s => (JsonNode)new JsonObject
        {
            ["identity"] = s.Identity, ["alert"] = s.AlertId, ["api_ms"] = Round(s.ApiMs), ["sse_ms"] = Round(s.SseMs), ["ingest_ms"] = Round(s.IngestMs), ["analysis_ms"] = Round(s.AnalysisMs),
        })]),
    };

    private static double Round(double value) => Math.Round(value, 4);

    /// <summary>
    /// Runs <paramref name="body"/> with a progress bar on stderr (<paramref name="total"/> steps; the current one named) when
    /// <paramref name="bar"/> and stderr is a terminal, else with plain lines on stderr.
    /// </summary>
    private static async Task<T> WithProgressAsync<T>(int total, bool bar, Func<Action<string, int>, Task<T>> body)
    {
        if (!bar || Console.IsErrorRedirected)
        {
            return await body((what, _) => Console.Error.WriteLine(what));
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Progress().AutoClear(true).StartAsync(async context =>
        {
            var task = context.AddTask("starting", maxValue: total);
            return await body((what, done) =>
            {
                task.Description = Markup.Escape(what);
                task.Value = done;
            });
        });
    }

    /// <summary>The asynchronous <see cref="WithSteps{T}"/>.</summary>
    private static async Task<T> WithStepsAsync<T>(Func<Action<string>, Task<T>> body)
    {
        if (Console.IsErrorRedirected)
        {
            return await body(what => Console.Error.WriteLine(what));
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Status().StartAsync("starting", context => body(what => context.Status(what)));
    }

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
