using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using CityWatch.Cli.Hosting;
using CityWatch.Evaluation;
using CityWatch.Settings;
using CityWatch.Vision;
using Spectre.Console;

namespace CityWatch.Cli.Evaluation;

/// <summary>
/// `citywatch eval verify|detect`: recognition and detection accuracy on a labelled set, through the real
/// pipeline under an evaluation grant from the policy engine, always in a scratch data folder of its own (an
/// evaluation never writes into a city's register). Figures go to stdout (one JSON object with --json), charts
/// to --out, progress to stderr. --calibrate proposes the threshold to a city's server, signed in as a person.
/// </summary>
internal static class EvalCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create() =>
        new("eval", "Measure detection and recognition accuracy on labelled sets") { Verify(), Detect(), QualityCommand.Create() };

    private static Command Verify()
    {
        var set = SetOption("A folder per identity, a CSV identity,path, or a pairs CSV file_x,file_y,decision");
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var output = OutOption();
        var detector = DetectorOption();
        var embedder = new Option<string>("--embedder") { Description = "fr_feature, faceres or mobileface", DefaultValueFactory = _ => FrFeatureEmbedder.ModelName };
        embedder.AcceptOnlyFromAmong([.. VisionOptions.Embedders]);
        var targetFar = new Option<double>("--target-far") { Description = "The false match rate the threshold is reported (and calibrated) for", DefaultValueFactory = _ => 1e-3 };
        var degrade = DegradeOption();
        var flip = new Option<bool>("--flip-tta") { Description = "Flip test-time augmentation: embed the mirrored aligned face too and average the two (twice the embedder runs)", DefaultValueFactory = _ => new VisionOptions().FlipAugmentation };
        var refine = RefineOption();
        var fuse = new Option<string?>("--fuse-with") { Description = "Score fusion: embed every face with this second embedder too and score the mean of the two z-normalised cosines (twice the embedder work)" };
        fuse.AcceptOnlyFromAmong([.. VisionOptions.Embedders]);
        var calibrate = new Option<bool>("--calibrate") { Description = "Propose the threshold at --target-far (or, where the set is too small, at the EER) as the embedder's operating threshold to --server, signed in with --token; a second person approves it" };
        var command = new Command("verify", "Genuine/impostor pair accuracy: AUC, EER, TAR at FAR, thresholds; ROC, DET and score charts")
        {
            set, json, output, detector, embedder, CliCommon.Models, targetFar, degrade, flip, refine, fuse, calibrate, CliCommon.Server, CliCommon.Token,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var far = result.GetValue(targetFar);
            if (far is <= 0 or >= 1)
            {
                throw new InvalidRequestException($"--target-far must be between 0 and 1, not {far.ToString(CultureInfo.InvariantCulture)}");
            }

            if (result.GetValue(calibrate) && result.GetValue(fuse) is not null)
            {
                throw new InvalidRequestException("--calibrate with --fuse-with: a fused score has no operating-threshold setting; calibrate each embedder on its own");
            }

            if (result.GetValue(calibrate) && string.IsNullOrWhiteSpace(result.GetValue(CliCommon.Token)))
            {
                throw new InvalidRequestException("--calibrate proposes the threshold to the city's server as a signed-in person: give --token (from `citywatch users sign-in`) and --server");
            }

            var degradation = result.GetValue(degrade) is { } spec ? Degradation.Parse(spec) : null;
            var labelled = VerificationSet.Load(result.GetValue(set)!);
            var options = new VisionOptions
            {
                ModelDirectory = Path.GetFullPath(result.GetValue(CliCommon.Models)!),
                Detector = result.GetValue(detector)!,
                Embedder = result.GetValue(embedder)!,
                FlipAugmentation = result.GetValue(flip),
                SmallFaceRefine = result.GetValue(refine),
                FuseWith = result.GetValue(fuse),
            };
            using var city = await EvaluationCity.OpenAsync(TimeProvider.System, cancellationToken);
            using var pipeline = new FacePipeline(options, TimeProvider.System);
            var fars = VerificationMetrics.StandardFars.Append(far).Distinct().ToList();
            var report = await WithProgress($"{labelled.Images.Count} images", labelled.Images.Count, progress =>
                EvaluationRun.VerifyAsync(pipeline, city.GrantAsync, labelled, fars, degradation, progress, cancellationToken));

            var charts = result.GetValue(output) is { } folder
                ? EvaluationCharts.WriteVerification(
                    report,
                    Path.GetFullPath(folder),
                    ChartPrefix(labelled.Source, report.Detector, report.Embedder, degradation) + (report.FlipAugmentation ? "-flip" : "") + RefineTag(report.SmallFaceRefine),
                    ChartSetName(labelled.Source, degradation) + (report.FlipAugmentation ? ", flip TTA" : "") + RefineWords(report.SmallFaceRefine))
                : [];

            float? calibrated = null;
            if (result.GetValue(calibrate))
            {
                var threshold = report.Figures.ThresholdAtFar[far] ?? report.Figures.EerThreshold;
                var how = report.Figures.ThresholdAtFar[far] is null ? "EER (set too small for the target FAR)" : $"FAR {Number(far)}";
                // A governed setting: this only proposes it, through the city's server as the signed-in person;
                // a second person approves it (POST /api/settings/proposals/{id}/approve).
                using var client = CliCommon.Client(result);
                var proposal = await CliCommon.ReadAsync<SettingProposal>(
                    await client.PostAsJsonAsync(
                        "api/settings/proposals",
                        new ProposalInput(SettingsStore.ThresholdKey(report.Embedder), threshold.ToString("R", CultureInfo.InvariantCulture), $"calibrated at {how} on {labelled.Source}{(degradation is null ? "" : $" {degradation.Description}")}{(report.FlipAugmentation ? " with flip TTA" : "")}{RefineWords(report.SmallFaceRefine)} ({report.Figures.Genuine} genuine, {report.Figures.Impostor} impostor pairs; measured FAR {Number(report.FarAt(threshold))} there)"),
                        CliCommon.JsonOptions,
                        cancellationToken),
                    cancellationToken);
                Console.Error.WriteLine($"proposal {proposal.Id}: {proposal.Key} = {proposal.Value}; it takes effect once a second person approves it{(proposal.Warning is { } w ? $" (warning: {w})" : "")}");
                calibrated = threshold;
            }

            if (result.GetValue(json))
            {
                Console.WriteLine(VerificationJson(report, far, charts, calibrated).ToJsonString(Indented));
            }
            else
            {
                PrintVerification(report, far, charts, calibrated);
            }

            return 0;
        }));
        return command;
    }

    private static Command Detect()
    {
        var set = SetOption("dlib XML boxes: the XML file, or a folder with testing.xml and/or training.xml");
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var output = OutOption();
        var detector = DetectorOption();
        var degrade = DegradeOption();
        var refine = RefineOption();
        var floor = new Option<float>("--curve-floor") { Description = "Lowest detector score drawn on the precision-recall curve", DefaultValueFactory = _ => 0.3f };
        var command = new Command("detect", "Detection precision and recall at IoU 0.3 and 0.5 against hand-drawn boxes; precision-recall chart")
        {
            set, json, output, detector, CliCommon.Models, floor, degrade, refine,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var degradation = result.GetValue(degrade) is { } spec ? Degradation.Parse(spec) : null;
            var labelled = DetectionSet.Load(result.GetValue(set)!);
            var operating = new VisionOptions().ScoreThreshold;
            var curveFloor = result.GetValue(floor);
            if (curveFloor is <= 0 or > 1 || curveFloor > operating)
            {
                throw new InvalidRequestException($"--curve-floor must be in (0, {Number(operating)}] so that the curve covers the operating threshold");
            }

            var options = new VisionOptions
            {
                ModelDirectory = Path.GetFullPath(result.GetValue(CliCommon.Models)!),
                Detector = result.GetValue(detector)!,
                ScoreThreshold = curveFloor,
                SmallFaceRefine = result.GetValue(refine),
            };
            using var city = await EvaluationCity.OpenAsync(TimeProvider.System, cancellationToken);
            using var pipeline = new FacePipeline(options, TimeProvider.System);
            var report = await WithProgress($"{labelled.Images.Count} images", labelled.Images.Count, progress =>
                EvaluationRun.DetectAsync(pipeline, city.GrantAsync, labelled, operating, degradation, progress, cancellationToken));
            var charts = result.GetValue(output) is { } folder
                ? [EvaluationCharts.WriteDetection(report, Path.GetFullPath(folder), ChartPrefix(labelled.Source, report.Detector, null, degradation) + RefineTag(options.SmallFaceRefine), ChartSetName(labelled.Source, degradation) + RefineWords(options.SmallFaceRefine))]
                : Array.Empty<string>();

            if (result.GetValue(json))
            {
                var detection = DetectionJson(report, charts);
                detection["small_face_refine"] = options.SmallFaceRefine;
                Console.WriteLine(detection.ToJsonString(Indented));
            }
            else
            {
                Console.WriteLine($"{labelled.Source}: {report.Images} images, {report.Faces} labelled faces, detector {report.Detector}");
                if (degradation is not null)
                {
                    Console.WriteLine($"  each image {degradation.Description} (--degrade {degradation.Spec})");
                }
                foreach (var f in report.ByIoU)
                {
                    Console.WriteLine(Text($"  IoU {f.IoU:0.0}: precision {f.Precision:0.000} recall {f.Recall:0.000} at score >= {f.ScoreThreshold:0.00} ({f.TruePositives} hits, {f.FalsePositives} false, {f.Faces - f.TruePositives} missed); AP {f.AveragePrecision:0.000}"));
                }

                foreach (var chart in charts)
                {
                    Console.WriteLine($"  chart: {chart}");
                }
            }

            return 0;
        }));
        return command;
    }

    internal static JsonObject VerificationJson(VerificationReport report, double targetFar, IReadOnlyList<string> charts, float? calibrated)
    {
        var f = report.Figures;
        var tar = new JsonObject();
        var thresholds = new JsonObject();
        foreach (var far in f.TarAtFar.Keys.Order())
        {
            tar[Number(far)] = f.TarAtFar[far];
            thresholds[Number(far)] = f.ThresholdAtFar[far];
        }

        var operating = OperatingDefault(report);
        var byEyes = new JsonArray();
        foreach (var b in report.ByInterEye(operating))
        {
            byEyes.Add(new JsonObject
            {
                ["from"] = b.From,
                ["to"] = b.To,
                ["genuine"] = b.Genuine,
                ["impostor"] = b.Impostor,
                ["auc"] = b.Auc,
                ["mean_genuine"] = b.MeanGenuine,
                ["tar"] = b.Tar,
                ["far"] = b.Far,
            });
        }

        var measuredFar = new JsonObject();
        foreach (var far in f.ThresholdAtFar.Keys.Order())
        {
            measuredFar[Number(far)] = f.ThresholdAtFar[far] is { } t ? report.FarAt(t) : null;
        }

        return new JsonObject
        {
            ["set"] = report.Set,
            ["form"] = report.Form,
            ["detector"] = report.Detector,
            ["embedder"] = report.Embedder,
            ["degrade"] = report.Degradation?.Spec,
            ["degradation"] = report.Degradation?.Description,
            ["flip_tta"] = report.FlipAugmentation,
            ["fuse_with"] = report.Fusion?.Secondary.Embedder,
            ["fusion_weights"] = report.Fusion is { } fusion ? new JsonObject { [fusion.Primary.Embedder] = fusion.PrimaryWeight, [fusion.Secondary.Embedder] = fusion.SecondaryWeight } : null,
            ["small_face_refine"] = report.SmallFaceRefine,
            ["images"] = report.Images,
            ["pairs"] = f.Genuine + f.Impostor,
            ["genuine"] = f.Genuine,
            ["impostor"] = f.Impostor,
            ["no_face"] = report.NoFace.Count,
            ["no_face_files"] = new JsonArray([.. report.NoFace.Select(n => (JsonNode)n)]),
            ["pairs_skipped"] = report.PairsSkipped,
            ["auc"] = f.Auc,
            ["eer"] = f.Eer,
            ["eer_threshold"] = f.EerThreshold,
            ["tar_at_far"] = tar,
            ["threshold_at_far"] = thresholds,
            ["measured_far_at_threshold"] = measuredFar,
            ["target_far"] = targetFar,
            ["genuine_min"] = report.GenuineScores.Min(),
            ["impostor_max"] = report.ImpostorScores.Max(),
            ["impostor_mean"] = report.ImpostorSpread().Mean,
            ["impostor_sd"] = report.ImpostorSpread().StandardDeviation,
            ["calibrated_threshold"] = calibrated,
            ["calibrated_far"] = calibrated is { } c ? report.FarAt(c) : null,
            ["inter_eye_threshold"] = operating,
            ["by_inter_eye"] = byEyes,
            ["charts"] = new JsonArray([.. charts.Select(c => (JsonNode)c)]),
        };
    }

    private static JsonObject DetectionJson(DetectionReport report, IReadOnlyList<string> charts)
    {
        var byIoU = new JsonObject();
        foreach (var f in report.ByIoU)
        {
            byIoU[Number(f.IoU)] = new JsonObject
            {
                ["precision"] = f.Precision,
                ["recall"] = f.Recall,
                ["true_positives"] = f.TruePositives,
                ["false_positives"] = f.FalsePositives,
                ["missed"] = f.Faces - f.TruePositives,
                ["average_precision"] = f.AveragePrecision,
            };
        }

        return new JsonObject
        {
            ["set"] = report.Set,
            ["detector"] = report.Detector,
            ["degrade"] = report.Degradation?.Spec,
            ["degradation"] = report.Degradation?.Description,
            ["images"] = report.Images,
            ["faces"] = report.Faces,
            ["score_threshold"] = report.ByIoU[0].ScoreThreshold,
            ["curve_floor"] = report.CurveFloor,
            ["iou"] = byIoU,
            ["charts"] = new JsonArray([.. charts.Select(c => (JsonNode)c)]),
        };
    }

    private static void PrintVerification(VerificationReport report, double targetFar, IReadOnlyList<string> charts, float? calibrated)
    {
        var f = report.Figures;
        Console.WriteLine($"{report.Set} ({report.Form}): {report.Images} images, detector {report.Detector}, embedder {report.Embedder}{(report.FlipAugmentation ? " with flip TTA" : "")}{RefineWords(report.SmallFaceRefine)}");
        if (report.Degradation is { } degradation)
        {
            Console.WriteLine($"  each image {degradation.Description} (--degrade {degradation.Spec})");
        }

        if (report.Fusion is { } fusion)
        {
            Console.WriteLine(Text($"  score fusion: {fusion.PrimaryWeight:0.000} x {fusion.Primary.Embedder} + {fusion.SecondaryWeight:0.000} x {fusion.Secondary.Embedder} cosine (the mean of their z-normalised scores)"));
        }

        Console.WriteLine($"  no usable face: {report.NoFace.Count} image(s); {report.PairsSkipped} pair(s) skipped because of them");
        foreach (var file in report.NoFace)
        {
            Console.WriteLine($"    {file}");
        }

        Console.WriteLine($"  pairs evaluated: {f.Genuine + f.Impostor} ({f.Genuine} genuine, {f.Impostor} impostor)");
        Console.WriteLine(Text($"  AUC {f.Auc:0.0000}   EER {f.Eer:0.0000} at threshold {f.EerThreshold:0.000}"));
        Console.WriteLine(Text($"  lowest genuine {report.GenuineScores.Min():0.000}, highest impostor {report.ImpostorScores.Max():0.000}"));
        foreach (var far in f.TarAtFar.Keys.Order())
        {
            var label = far == targetFar ? " (target)" : "";
            Console.WriteLine(f.TarAtFar[far] is { } tar
                ? Text($"  FAR {Number(far)}{label}: TAR {tar:0.0000} at threshold {f.ThresholdAtFar[far]:0.000}")
                : $"  FAR {Number(far)}{label}: set too small ({f.Impostor} impostor pairs; needs at least {Math.Ceiling(1 / far).ToString(CultureInfo.InvariantCulture)})");
        }

        var operating = OperatingDefault(report);
        Console.WriteLine(Text($"  by the smaller inter-eye distance of each pair, at the default operating threshold {operating:0.000}:"));
        foreach (var b in report.ByInterEye(operating).Where(b => b.Genuine + b.Impostor > 0))
        {
            var range = b.To is { } to ? Text($"{b.From:0}-{to:0} px") : Text($">= {b.From:0} px");
            Console.WriteLine(Text($"    {range}: {b.Genuine} genuine, {b.Impostor} impostor; AUC {F(b.Auc)}, TAR {F(b.Tar)}, FAR {F(b.Far)}"));
        }

        if (calibrated is { } t)
        {
            Console.WriteLine(Text($"  operating threshold for {report.Embedder} proposed: {t:0.0000}, measured FAR there {report.FarAt(t):0.0000}"));
        }

        foreach (var chart in charts)
        {
            Console.WriteLine($"  chart: {chart}");
        }
    }

    // Progress on stderr, so that stdout carries only the figures (one JSON object with --json); none when
    // stderr is not a terminal (a log or a test would only collect redraws).
    private static async Task<T> WithProgress<T>(string what, int total, Func<IProgress<int>, Task<T>> body)
    {
        if (Console.IsErrorRedirected)
        {
            return await body(new Progress<int>());
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        await console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(what, maxValue: Math.Max(1, total));
                result = await body(new Progress<int>(done => task.Value = done));
                task.Value = task.MaxValue;
            });
        return result;
    }

    // dlib_johns-w200-b0.7-q30-x2-yunet-fr_feature: the degradation is in the file name, so degraded charts
    // stand beside the clean ones.
    private static string ChartPrefix(string source, string detector, string? embedder, Degradation? degradation)
    {
        var set = degradation is null ? SetName(source) : $"{SetName(source)}-{degradation.FileTag}";
        return embedder is null ? $"{set}-{detector}" : $"{set}-{detector}-{embedder}";
    }

    private static string ChartSetName(string source, Degradation? degradation) =>
        degradation is null ? SetName(source) : $"{SetName(source)} {degradation.Description}";

    private static Option<string?> DegradeOption() => new("--degrade")
    {
        Description = "Degrade every image the same way first: width=W,blur=S,jpeg=Q[,upscale=F] (downscale to W px wide, Gaussian blur sigma S, JPEG quality Q, then upscale by F)",
    };

    // dlib_johns for a folder, ageitgey-identities for ageitgey/identities.csv.
    private static string SetName(string source)
    {
        var full = Path.GetFullPath(source).TrimEnd(Path.DirectorySeparatorChar);
        return Directory.Exists(full)
            ? Path.GetFileName(full)
            : $"{Path.GetFileName(Path.GetDirectoryName(full))}-{Path.GetFileNameWithoutExtension(full)}";
    }

    private static Option<string> SetOption(string description) => new("--set") { Description = description, Required = true };

    private static Option<string?> OutOption() => new("--out") { Description = "Folder for the PNG charts (none without it)" };

    private static Option<string> DetectorOption()
    {
        var option = new Option<string>("--detector") { Description = "yunet or ultraface", DefaultValueFactory = _ => YuNetDetector.ModelName };
        option.AcceptOnlyFromAmong([.. VisionOptions.Detectors]);
        return option;
    }

    private static Option<float> RefineOption() => new("--small-face-refine")
    {
        Description = "Detect again on an upscaled crop when a face's eyes are closer than this many pixels (YuNet; 0: off)",
        DefaultValueFactory = _ => new VisionOptions().SmallFaceRefine,
    };

    private static string RefineTag(float refine) => refine > 0 ? $"-refine{Number(refine)}" : "";

    private static string RefineWords(float refine) => refine > 0 ? $", small-face refinement below {Number(refine)} px" : "";

    // The threshold a server uses for the embedder until a city calibrates: the card's plus the margin. For a
    // fused score (no card of its own) the same fusion of the two embedders' thresholds.
    private static float OperatingDefault(VerificationReport report) => report.Fusion is { } fusion
        ? fusion.Score(OperatingDefault(fusion.Primary.Embedder), OperatingDefault(fusion.Secondary.Embedder))
        : OperatingDefault(report.Embedder);

    private static float OperatingDefault(string embedder) =>
        (ModelCards.Get(embedder).CalibratedThreshold ?? 0) + SettingsStore.DefaultMargin;

    private static string F(double? value) => value?.ToString("0.000", CultureInfo.InvariantCulture) ?? "-";

    private static string Number(double value) => value.ToString("G", CultureInfo.InvariantCulture);

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
