using CityWatch.Evaluation;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Cli.Hosting;
using CityWatch.Data;
using CityWatch.Ingest;
using CityWatch.Policy;
using CityWatch.Vision;
using Spectre.Console;

namespace CityWatch.Cli.Evaluation;

/// <summary>Faces the gate saw in one set or video, and what it turned away, by reason.</summary>
/// <param name="RejectedTop1">For video faces, the best score of each rejected face against every labelled photo (what the gate kept from being matched).</param>
/// <param name="AcceptedTop1">The same for the faces the gate let through.</param>
public sealed record GateShare(
    string Name, int Images, int NoFace, int Faces, int Accepted, IReadOnlyDictionary<string, int> Rejected,
    IReadOnlyList<double>? RejectedTop1 = null, IReadOnlyList<double>? AcceptedTop1 = null);

/// <summary>Genuine-vs-impostor separation over the labelled photos, without and with the gate.</summary>
public sealed record Separation(string Name, string Gate, int Images, int Genuine, int Impostor, double? Auc, double? MinGenuine, double? MaxImpostor, double? MeanGenuine, double? MeanImpostor, int Overlapping);

/// <summary>What `citywatch eval quality` measured.</summary>
public sealed record QualityReport(QualityOptions Gate, IReadOnlyList<GateShare> Shares, IReadOnlyList<Separation> Separations);

/// <summary>
/// `citywatch eval quality`: the quality gate's effect on labelled photos (a folder per identity, or a CSV
/// `identity,path`) and on a video. Runs locally, in a scratch data folder, under an Evaluation legal basis
/// registered and activated there (grants renewed as they expire); nothing is kept afterwards.
/// </summary>
internal static class QualityCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    internal static Command Create()
    {
        var sets = new Option<string[]>("--set")
        {
            Description = "A labelled photo set: a folder with one sub-folder per identity, or a CSV identity,path (repeatable; default: dlib_johns and ageitgey/identities.csv)",
            AllowMultipleArgumentsPerToken = false,
        };
        var videos = new Option<string[]>("--video") { Description = "A video whose faces the gate sees at 2 frames/s, 640 px wide (repeatable; default: short_hamilton_clip.mp4)" };
        var source = new Option<string>("--data-source")
        {
            Description = "Where the shared sample data is (for the defaults)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE") ?? Path.Combine("..", "shared", "data"),
        };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var command = new Command("quality", "Measure the quality gate: faces rejected by reason, and genuine-vs-impostor separation with and without it")
        {
            sets, videos, source, json, CliCommon.Models,
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var data = result.GetValue(source)!;
            var setPaths = result.GetValue(sets) is { Length: > 0 } given
                ? given
                : [Path.Combine(data, "faces", "dlib_johns"), Path.Combine(data, "faces", "ageitgey", "identities.csv")];
            var videoPaths = result.GetValue(videos) is { Length: > 0 } v ? v : [Path.Combine(data, "faces", "ageitgey", "examples", "short_hamilton_clip.mp4")];
            var report = await RunAsync(setPaths, videoPaths, Path.GetFullPath(result.GetValue(CliCommon.Models)!), new QualityOptions(), cancellationToken);
            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, Json));
            }
            else
            {
                Print(report);
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Runs the measurement (the command without its printing).</summary>
    public static async Task<QualityReport> RunAsync(
        IReadOnlyList<string> sets, IReadOnlyList<string> videos, string modelsDirectory, QualityOptions gate, CancellationToken cancellationToken)
    {
        var labelled = sets.Select(LoadSet).ToList();
        foreach (var video in videos)
        {
            if (!File.Exists(video))
            {
                throw new InvalidRequestException($"No such video: {video}");
            }
        }

        using var scope = await EvaluationCity.OpenAsync(TimeProvider.System, cancellationToken);
        using var pipeline = new FacePipeline(new VisionOptions { ModelDirectory = modelsDirectory }, TimeProvider.System);
        var shares = new List<GateShare>();
        var separations = new List<Separation>();
        var gallery = new List<float[]>();
        foreach (var (name, items) in labelled)
        {
            var measured = new List<(string Identity, float[] Embedding, FaceQuality Quality)>();
            var noFace = 0;
            foreach (var (identity, path) in items)
            {
                var image = ImageCodec.DecodeFile(path);
                var grant = await scope.GrantAsync(cancellationToken);
                var face = pipeline.Detect(grant, image).MaxBy(f => f.Box.Area);
                if (face is null)
                {
                    noFace++;
                    continue;
                }

                measured.Add((identity, pipeline.Embed(grant, image, face), QualityGate.Measure(image, face, gate)));
            }

            gallery.AddRange(measured.Select(m => m.Embedding));
            shares.Add(Share(name, items.Count, noFace, measured.Select(m => m.Quality).ToList()));
            separations.Add(Separate(name, "off", items.Count, measured));
            separations.Add(Separate(name, "on", items.Count, measured.Where(m => m.Quality.Accepted).ToList()));
        }

        foreach (var video in videos)
        {
            var qualities = new List<FaceQuality>();
            var top1 = new List<double>();
            var frames = 0;
            try
            {
                await foreach (var frame in FrameSource.ReadFileAsync(video, new IngestOptions { AnalysisFps = 2, Width = 640 }, TimeProvider.System, cancellationToken))
                {
                    frames++;
                    var grant = await scope.GrantAsync(cancellationToken);
                    foreach (var face in pipeline.Detect(grant, frame.Image))
                    {
                        qualities.Add(QualityGate.Measure(frame.Image, face, gate));
                        var embedding = pipeline.Embed(grant, frame.Image, face);
                        top1.Add(gallery.Count == 0 ? double.NaN : gallery.Max(g => FacePipeline.Similarity(embedding, g)));
                    }
                }
            }
            catch (IngestException e)
            {
                throw new InvalidRequestException(e.Message);
            }

            shares.Add(Share(Path.GetFileName(video), frames, 0, qualities) with
            {
                RejectedTop1 = top1.Where((_, i) => !qualities[i].Accepted).Select(Round).ToList(),
                AcceptedTop1 = top1.Where((_, i) => qualities[i].Accepted).Select(Round).ToList(),
            });
        }

        return new QualityReport(gate, shares, separations);
    }

    /// <summary>A folder per identity, or a CSV identity,path (paths relative to the CSV); bad lines are named.</summary>
    internal static (string Name, IReadOnlyList<(string Identity, string Path)> Items) LoadSet(string path)
    {
        if (File.Exists(path) && path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            var items = new List<(string, string)>();
            var lines = File.ReadAllLines(path);
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Trim();
                if (line.Length == 0 || (i == 0 && line.StartsWith("identity,", StringComparison.OrdinalIgnoreCase)))
                {
                    continue;
                }

                var parts = line.Split(',');
                if (parts.Length < 2 || parts[0].Trim().Length == 0 || parts[1].Trim().Length == 0)
                {
                    throw new InvalidRequestException($"{path}, line {i + 1}: expected identity,path, got '{line}'.");
                }

                var file = Path.Combine(folder, parts[1].Trim());
                if (!File.Exists(file))
                {
                    throw new InvalidRequestException($"{path}, line {i + 1}: no such file {parts[1].Trim()}.");
                }

                items.Add((parts[0].Trim(), file));
            }

            return (Path.GetFileName(path), items);
        }

        if (Directory.Exists(path))
        {
            var items = Directory.GetDirectories(path).Order(StringComparer.Ordinal)
                .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Where(IsImage).Select(f => (Path.GetFileName(d), f)))
                .ToList();
            return items.Count == 0
                ? throw new InvalidRequestException($"{path} holds no identity folders with images.")
                : (Path.GetFileName(Path.TrimEndingDirectorySeparator(path)), items);
        }

        throw new InvalidRequestException($"No such set: {path} (a folder per identity or a CSV identity,path).");
    }

    private static double Round(double value) => Math.Round(value, 3);

    private static bool IsImage(string file) =>
        Path.GetExtension(file).ToLowerInvariant() is ".jpg" or ".jpeg" or ".png" or ".bmp" or ".webp";

    private static GateShare Share(string name, int images, int noFace, IReadOnlyList<FaceQuality> faces) => new(
        name,
        images,
        noFace,
        faces.Count,
        faces.Count(f => f.Accepted),
        faces.Where(f => !f.Accepted).GroupBy(f => f.Rejection.ToString()).ToDictionary(g => g.Key, g => g.Count()));

    private static Separation Separate(string name, string gate, int images, IReadOnlyList<(string Identity, float[] Embedding, FaceQuality Quality)> faces)
    {
        var genuine = new List<double>();
        var impostor = new List<double>();
        for (var i = 0; i < faces.Count; i++)
        {
            for (var j = i + 1; j < faces.Count; j++)
            {
                var score = FacePipeline.Similarity(faces[i].Embedding, faces[j].Embedding);
                (string.Equals(faces[i].Identity, faces[j].Identity, StringComparison.Ordinal) ? genuine : impostor).Add(score);
            }
        }

        if (genuine.Count == 0 || impostor.Count == 0)
        {
            return new Separation(name, gate, images, genuine.Count, impostor.Count, null, null, null, null, null, 0);
        }

        var maxImpostor = impostor.Max();
        var minGenuine = genuine.Min();
        return new Separation(
            name, gate, images, genuine.Count, impostor.Count, Auc(genuine, impostor), minGenuine, maxImpostor, genuine.Average(), impostor.Average(),
            genuine.Count(g => g <= maxImpostor) + impostor.Count(s => s >= minGenuine));
    }

    /// <summary>Area under the ROC curve: the chance that a genuine pair outscores an impostor pair (ties count half).</summary>
    internal static double Auc(IReadOnlyList<double> genuine, IReadOnlyList<double> impostor)
    {
        double wins = 0;
        foreach (var g in genuine)
        {
            foreach (var s in impostor)
            {
                wins += g > s ? 1 : g == s ? 0.5 : 0;
            }
        }

        return wins / ((double)genuine.Count * impostor.Count);
    }

    private static void Print(QualityReport report)
    {
        var shares = new Table().AddColumns("set", "images/frames", "no face", "faces", "accepted", "rejected by reason");
        foreach (var s in report.Shares)
        {
            var reasons = string.Join(", ", s.Rejected.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value} ({Percent(r.Value, s.Faces)})"));
            shares.AddRow(s.Name, Invariant(s.Images), Invariant(s.NoFace), Invariant(s.Faces), $"{s.Accepted} ({Percent(s.Accepted, s.Faces)})", Markup.Escape(reasons));
        }

        AnsiConsole.Write(shares);
        foreach (var s in report.Shares.Where(s => s.RejectedTop1 is not null))
        {
            Console.WriteLine(FormattableString.Invariant(
                $"{s.Name}: best score against the labelled photos, rejected faces max {Max(s.RejectedTop1!)}, accepted faces max {Max(s.AcceptedTop1!)}"));
        }

        var separation = new Table().AddColumns("set", "gate", "genuine", "impostor", "AUC", "min genuine", "max impostor", "mean genuine", "mean impostor", "overlapping");
        foreach (var s in report.Separations)
        {
            separation.AddRow(s.Name, s.Gate, Invariant(s.Genuine), Invariant(s.Impostor), F(s.Auc, "0.0000"), F(s.MinGenuine), F(s.MaxImpostor), F(s.MeanGenuine), F(s.MeanImpostor), Invariant(s.Overlapping));
        }

        AnsiConsole.Write(separation);
    }

    private static string Max(IReadOnlyList<double> values) => values.Count == 0 ? "-" : F(values.Max());

    private static string Percent(int part, int whole) => whole == 0 ? "-" : (100.0 * part / whole).ToString("0.0", CultureInfo.InvariantCulture) + " %";

    private static string F(double? value, string format = "0.000") => value?.ToString(format, CultureInfo.InvariantCulture) ?? "-";

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
