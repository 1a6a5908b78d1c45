using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Cli.Hosting;
using CityWatch.Investigations;
using Spectre.Console;

namespace CityWatch.Cli.Analysis;

/// <summary>
/// `citywatch analyze FILE|--url URL --watchlist NAME --case NUMBER [--detach]`: a retrospective analysis
/// job on the server, under the same policy engine as every other path (no retrospective basis for the
/// watchlist and the case, no job, and the refusal is logged). The file is streamed up with a progress bar,
/// then the job is followed by its server-sent events until it ends; `--detach` leaves it running, and
/// `analyze status|watch ID` come back to it. A failed or cancelled job is one line and exit code 1.
/// </summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo?>("file") { Description = "An image (jpg, png, ...) or a video (mp4, mkv, ...) to upload", Arity = ArgumentArity.ZeroOrOne };
        var url = new Option<string?>("--url") { Description = "Instead of a file: a recording the server holds (file:// URL or a path in its recordings folder)" };
        var watchlist = new Option<string>("--watchlist") { Description = "The watchlist to match against", Required = true };
        var caseId = new Option<string>("--case") { Description = "The number of the registered, open case this analysis is for", Required = true };
        var fps = new Option<double>("--fps") { Description = "Frames per second analysed in a video", DefaultValueFactory = _ => 2 };
        var width = new Option<int>("--width") { Description = "Width a video is scaled to before detection", DefaultValueFactory = _ => 640 };
        var detach = new Option<bool>("--detach") { Description = "Print the job's id once it is queued and leave it running (follow it with `analyze watch ID`)" };
        var command = new Command("analyze", "Analyse an image or video against a watchlist, for a case, as a job on the server")
        {
            file, url, watchlist, caseId, fps, width, detach, CliCommon.Server, CliCommon.Token, Status(), Watch(),
        };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var path = result.GetValue(file);
            var recording = result.GetValue(url);
            if ((path is null) == (recording is null))
            {
                throw new ArgumentException("give either FILE or --url URL");
            }

            if (path is { Exists: false })
            {
                throw new FileNotFoundException($"no such file: {path.FullName}");
            }

            using var client = CliCommon.Client(result);
            client.Timeout = Timeout.InfiniteTimeSpan;
            var query = string.Create(
                CultureInfo.InvariantCulture,
                $"api/analyses?watchlist={Uri.EscapeDataString(result.GetValue(watchlist)!)}&case={Uri.EscapeDataString(result.GetValue(caseId)!)}&fps={result.GetValue(fps)}&width={result.GetValue(width)}");
            AnalysisJob job;
            if (path is null)
            {
                using var response = await client.PostAsync($"{query}&url={Uri.EscapeDataString(recording!)}", null, cancellationToken);
                job = await CliCommon.ReadAsync<AnalysisJob>(response, cancellationToken);
            }
            else
            {
                job = await UploadAsync(client, $"{query}&name={Uri.EscapeDataString(path.Name)}", path, cancellationToken);
            }

            if (result.GetValue(detach))
            {
                Console.WriteLine($"job {job.Id} queued for case {job.CaseNumber}; follow it with: citywatch analyze watch {job.Id}");
                return 0;
            }

            return await FollowAsync(client, job, cancellationToken);
        }));
        return command;
    }

    private static Command Status()
    {
        var id = new Argument<long>("id") { Description = "The analysis job's id" };
        var json = new Option<bool>("--json") { Description = "Print the job as JSON" };
        var command = new Command("status", "Show an analysis job once") { id, json, CliCommon.Server, CliCommon.Token };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var response = await client.GetAsync($"api/analyses/{result.GetValue(id)}", cancellationToken);
            var job = await CliCommon.ReadAsync<AnalysisJob>(response, cancellationToken);
            if (result.GetValue(json))
            {
                CliCommon.Print(job);
            }
            else
            {
                Console.WriteLine(Summary(job));
            }

            return 0;
        }));
        return command;
    }

    private static Command Watch()
    {
        var id = new Argument<long>("id") { Description = "The analysis job's id" };
        var command = new Command("watch", "Follow an analysis job until it ends, then list its candidates") { id, CliCommon.Server, CliCommon.Token };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            client.Timeout = Timeout.InfiniteTimeSpan;
            using var response = await client.GetAsync($"api/analyses/{result.GetValue(id)}", cancellationToken);
            return await FollowAsync(client, await CliCommon.ReadAsync<AnalysisJob>(response, cancellationToken), cancellationToken);
        }));
        return command;
    }

    // Streams the file as the raw body, the bar moving with the bytes sent.
    private static async Task<AnalysisJob> UploadAsync(HttpClient client, string query, FileInfo path, CancellationToken cancellationToken) =>
        await AnsiConsole.Progress().AutoClear(false).Columns(Columns()).StartAsync(async context =>
        {
            var bar = context.AddTask($"upload {Markup.Escape(path.Name)}", maxValue: Math.Max(1, path.Length));
            using var content = new FileUpload(path, sent => bar.Value = sent).Init();
            using var response = await client.PostAsync(query, content, cancellationToken);
            bar.Value = bar.MaxValue;
            return await CliCommon.ReadAsync<AnalysisJob>(response, cancellationToken);
        });

    // Follows the job's server-sent events (progress, then end), then prints the outcome and the candidates.
    private static async Task<int> FollowAsync(HttpClient client, AnalysisJob job, CancellationToken cancellationToken)
    {
        if (!job.IsFinal)
        {
            job = await AnsiConsole.Progress().AutoClear(false).Columns(Columns()).StartAsync(async context =>
            {
                var bar = context.AddTask($"job {job.Id} queued", maxValue: 100);
                using var response = await client.GetAsync($"api/analyses/{job.Id}/events", HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                await CliCommon.EnsureAsync(response, cancellationToken);
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                var parser = SseParser.Create(stream, (_, data) => JsonSerializer.Deserialize<AnalysisJob>(data, CliCommon.JsonOptions)!);
                var last = job;
                await foreach (var item in parser.EnumerateAsync(cancellationToken))
                {
                    last = item.Data;
                    bar.Value = last.Percent;
                    bar.Description = Markup.Escape($"job {last.Id} {last.State.ToString().ToLowerInvariant()}: {last.FramesDone} frames, {last.Faces} faces, {last.Candidates} candidates");
                }

                return last;
            });
        }

        Console.WriteLine(Summary(job));
        if (job.State != AnalysisJobState.Done)
        {
            throw new InvalidOperationException($"analysis job {job.Id} {job.State.ToString().ToLowerInvariant()}: {job.Reason}");
        }

        using var candidates = await client.GetAsync($"api/analyses/{job.Id}/candidates", cancellationToken);
        foreach (var alert in await CliCommon.ReadAsync<List<Alert>>(candidates, cancellationToken))
        {
            var top = string.Join(", ", alert.TopCandidates.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Label} {c.Score:0.000}")));
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"  alert {alert.Id} {alert.Label} {alert.Score:0.000} (threshold {alert.Threshold:0.000}) at {alert.MediaFrom:mm\\:ss\\.f}-{alert.MediaUntil:mm\\:ss\\.f}, {alert.Frames} frame(s); top: {top}; {alert.Status} until two verifiers confirm it"));
        }

        return 0;
    }

    private static string Summary(AnalysisJob job) => string.Create(
        CultureInfo.InvariantCulture,
        $"job {job.Id} {job.State.ToString().ToLowerInvariant()} ({job.Percent:0.#}%): {job.Source}, case {job.CaseNumber}: {job.FramesDone} frame(s), {job.Faces} face(s), {job.Matches} match(es), {job.Candidates} candidate(s){(job.Reason is null ? "" : $"; {job.Reason}")}");

    private static ProgressColumn[] Columns() => [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn()];

    /// <summary>A file as a request body, read in blocks as it is sent (never whole in memory), reporting the bytes sent.</summary>
    private sealed class FileUpload(FileInfo file, Action<long> sent) : HttpContent
    {
        public FileUpload Init()
        {
            Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return this;
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using var input = file.OpenRead();
            var buffer = new byte[1 << 16];
            long total = 0;
            int read;
            while ((read = await input.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                total += read;
                sent(total);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = file.Length;
            return true;
        }
    }
}
