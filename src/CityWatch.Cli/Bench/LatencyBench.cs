using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CityWatch.Cameras;
using CityWatch.Evaluation;
using CityWatch.Identity;
using CityWatch.Recognition;
using CityWatch.Server;
using CityWatch.Server.Demo;
using CityWatch.Vision;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace CityWatch.Cli.Bench;

/// <summary>p50 and p95 (nearest rank) of one measured interval over the samples, in milliseconds.</summary>
internal sealed record Spread(double P50Ms, double P95Ms, double MaxMs)
{
    public static Spread Of(IEnumerable<double> milliseconds)
    {
        var sorted = milliseconds.Order().ToArray();
        return new Spread(Percentiles.NearestRank(sorted, 0.50), Percentiles.NearestRank(sorted, 0.95), sorted.Length == 0 ? 0 : sorted[^1]);
    }
}

/// <summary>One face entering the stream: its alert, and the times from the frame that first showed it.</summary>
/// <param name="ApiMs">From the frame leaving the camera to the alert in a <c>GET /api/alerts</c> answer.</param>
/// <param name="SseMs">... to the alert in an event of the console's stream.</param>
/// <param name="IngestMs">From the frame leaving the camera to ingest receiving the analysed frame (the alert's <c>capturedAt</c>).</param>
/// <param name="AnalysisMs">From <c>capturedAt</c> to the alert's <c>at</c> (detection, quality, tracking, embedding, matching).</param>
internal sealed record LatencySample(string Identity, long AlertId, double ApiMs, double SseMs, double IngestMs, double AnalysisMs);

/// <summary>The figures of one <c>bench latency</c> run, each beside its baselines measured in the same run.</summary>
internal sealed record LatencyFigures(
    int Faces,
    int Missed,
    int Cores,
    double AnalysisFps,
    string Stream,
    double PollIntervalMs,
    IReadOnlyList<LatencySample> Samples,
    double DetectEmbedMs,
    double SetupSeconds)
{
    public const double GoalMs = 1000;

    public Spread Api => Spread.Of(Samples.Select(s => s.ApiMs));

    public Spread Sse => Spread.Of(Samples.Select(s => s.SseMs));

    public Spread Ingest => Spread.Of(Samples.Select(s => s.IngestMs));

    public Spread Analysis => Spread.Of(Samples.Select(s => s.AnalysisMs));

    /// <summary>From the alert's <c>at</c> to the API answer that first held it (commit, the next poll, the request).</summary>
    public Spread Publish => Spread.Of(Samples.Select(s => s.ApiMs - s.IngestMs - s.AnalysisMs));

    /// <summary>The interval between analysed frames: a face entering between two waits for the next.</summary>
    public double FrameIntervalMs => 1000 / AnalysisFps;

    public bool MeetsGoal => Samples.Count > 0 && Missed == 0 && Api.P95Ms <= GoalMs && Sse.P95Ms <= GoalMs;
}

/// <summary>
/// <c>bench latency</c>: how long a watchlisted face entering a live stream takes to reach the operator's queue, on
/// the embedded default. A stand-in camera (<see cref="MjpegCamera"/>, 1280x720 JPEG frames 25 times a second over
/// HTTP on 127.0.0.1) shows an empty scene; the real server starts in this process like the demo (temporary data
/// folder, SQLite, the demo's accounts, its 1,000-camera register with one streaming camera, on that stream, 2 analysed
/// frames a second, the demonstration legal basis and a deployment, a watchlist of the people in the shared photos
/// (<c>faces/ageitgey/identities.csv</c>), each enrolled from one photo). Then, one at a time, a person's other photo
/// enters the scene (in one of three places, so that consecutive people never share a track), and the bench notes when
/// the first frame showing it left the camera, and when its alert first appears (a) in <c>GET /api/alerts</c>, polled
/// every <see cref="PollInterval"/> as the demo operator, and (b) in an event of the console's stream
/// (<c>/console/alerts/stream</c>). The face leaves once both have it (or after <see cref="SampleTimeout"/>: missed).
/// A person comes back only after the alert cooldown (a person re-found on the same camera within it updates the
/// earlier alert). Baselines: the analysed-frame interval, and one bare detect + embed of the same frame at the
/// analysis size (after the server has stopped).
/// </summary>
internal static partial class LatencyBench
{
    public const int Width = 1280;
    public const int Height = 720;
    public const int AnalysisWidth = CameraStore.DefaultAnalysisWidth;
    public const double AnalysisFps = 2;

    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    public static readonly TimeSpan SampleTimeout = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan StreamStart = TimeSpan.FromSeconds(2);

    // After a face leaves: long enough that the next one never enters before the frame without it was analysed.
    private static readonly TimeSpan Gap = TimeSpan.FromSeconds(2);

    private const int Slots = 3;

    /// <summary>A person of the shared photos: enrolled from one photo, shown to the camera in another where there is one.</summary>
    private sealed record Person(string Identity, string EnrolPhoto, string StreamPhoto);

    public static async Task<LatencyFigures> RunAsync(int faces, string modelsDirectory, string dataSource, Action<string, int> progress, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var people = People(dataSource);
        progress($"composing the scene and {people.Count} people", 0);
        var empty = Picture(null, 0, Width, Height);
        var shown = people.ToDictionary(p => p.Identity, p => Enumerable.Range(0, Slots).Select(slot => Picture(p.StreamPhoto, slot, Width, Height)).ToArray());

        var setup = Stopwatch.StartNew();
        await using var camera = MjpegCamera.Start(empty, time);
        progress("starting the server like the demo: accounts, 1,000 cameras, a legal basis, the watchlist, a deployment", 0);
        await using var server = await BenchServer.StartAsync("latency", modelsDirectory, o => o with
        {
            Demo = true,
            DemoSetup = new DemoSetup(DemoInventory.Csv(camera.Url, streaming: 1), [.. people.Select(p => (p.Identity, p.EnrolPhoto))]),
        }, cancellationToken);
        await ReadyAsync(server, cancellationToken);
        var cameraId = await AnalysingAsync(server, progress, cancellationToken);
        var accounts = await DemoCity.ReadAccountsAsync(DemoCity.AccountsFileIn(server.Folder), cancellationToken);
        using var client = await DemoCity.SignInAsync(server.Address, server.Services.GetRequiredService<IdentityStore>(), time, "demo-operator", accounts["demo-operator"], cancellationToken);
        setup.Stop();

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watch = new AlertWatch(time);
        var polling = Task.Run(() => watch.PollAsync(client, stop.Token), CancellationToken.None);
        var streaming = Task.Run(() => watch.StreamAsync(server.Address, client.DefaultRequestHeaders.Authorization!, stop.Token), CancellationToken.None);
        // The stream sends its headers with its first event (the queue changed), so its start cannot be seen here:
        // the server has it open well within this wait.
        await Task.Delay(StreamStart, time, cancellationToken);

        var samples = new List<LatencySample>();
        var missed = 0;
        var cooldown = new RecognitionOptions().AlertCooldown;
        var back = new Dictionary<string, DateTimeOffset>();
        try
        {
            for (var i = 0; i < faces; i++)
            {
                var person = people[i % people.Count];
                if (back.TryGetValue(person.Identity, out var after) && after > time.GetUtcNow())
                {
                    progress($"face {i + 1}/{faces}: {person.Identity} again after the {cooldown.TotalSeconds:0} s alert cooldown ({(after - time.GetUtcNow()).TotalSeconds:0} s)", i);
                    await Task.Delay(after - time.GetUtcNow(), time, cancellationToken);
                }

                progress($"face {i + 1}/{faces}: {person.Identity}", i);
                var known = watch.LatestId;
                var sent = await camera.ShowAsync(shown[person.Identity][i % Slots], cancellationToken);
                var sample = await SampleAsync(watch, person.Identity, known, sent, cancellationToken);
                if (polling.IsFaulted || streaming.IsFaulted)
                {
                    await Task.WhenAll(polling, streaming); // the reason, rather than a row of misses
                }

                await camera.ShowAsync(empty, cancellationToken);
                back[person.Identity] = time.GetUtcNow() + cooldown + TimeSpan.FromSeconds(2);
                if (sample is null)
                {
                    missed++;
                }
                else
                {
                    samples.Add(sample);
                }

                await Task.Delay(Gap, time, cancellationToken);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(polling, streaming);
        }

        if (server.Services.GetRequiredService<CameraMonitor>().Health(cameraId) is { LastError: { } error })
        {
            progress($"the camera's last ingest error: {error}", faces);
        }

        progress("baseline: one bare detect + embed of the same frame", faces);
        var detectEmbed = await DetectEmbedAsync(modelsDirectory, Picture(people[0].StreamPhoto, 0, AnalysisWidth, AnalysisWidth * Height / Width), cancellationToken);
        return new LatencyFigures(
            faces, missed, Environment.ProcessorCount, AnalysisFps, $"{Width}x{Height} MJPEG over HTTP, {MjpegCamera.FramesPerSecond} fps",
            PollInterval.TotalMilliseconds, samples, detectEmbed, setup.Elapsed.TotalSeconds);
    }

    // Waits until both the API and the stream have the alert of this face; null when either misses it.
    private static async Task<LatencySample?> SampleAsync(AlertWatch watch, string identity, long known, DateTimeOffset sent, CancellationToken cancellationToken)
    {
        var deadline = sent + SampleTimeout;
        while (watch.Time.GetUtcNow() < deadline)
        {
            if (watch.Find(identity, known) is { } alert && watch.StreamedAt(alert.Id) is { } streamed)
            {
                var captured = alert.CapturedAt ?? throw new InvalidOperationException($"Alert {alert.Id} has no capturedAt: the frame's time was not recorded.");
                return new LatencySample(
                    identity, alert.Id, Ms(alert.ReadAt - sent), Ms(streamed - sent), Ms(captured - sent), Ms(alert.At - captured));
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), watch.Time, cancellationToken);
        }

        return null;
    }

    private static double Ms(TimeSpan span) => span.TotalMilliseconds;

    private static async Task ReadyAsync(BenchServer server, CancellationToken cancellationToken)
    {
        var readiness = server.Services.GetRequiredService<Readiness>();
        var until = Stopwatch.StartNew();
        while (!readiness.IsReady)
        {
            if (readiness.Failure is { } failure)
            {
                throw new InvalidOperationException(failure);
            }

            if (until.Elapsed > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException("The demo city was not set up within 10 minutes.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    // The streaming camera once frames arrive and are analysed under a grant (the deployment is running).
    private static async Task<long> AnalysingAsync(BenchServer server, Action<string, int> progress, CancellationToken cancellationToken)
    {
        var id = server.Services.GetRequiredService<CameraStore>().Streaming().Single().Id;
        var monitor = server.Services.GetRequiredService<CameraMonitor>();
        progress("waiting for the camera's frames to be analysed under the deployment's grant", 0);
        var until = Stopwatch.StartNew();
        while (monitor.Health(id) is not { FramesAnalysed: > 0, PolicyRefusal: null })
        {
            if (until.Elapsed > TimeSpan.FromMinutes(2))
            {
                var health = monitor.Health(id);
                throw new TimeoutException($"The camera analysed no frame within 2 minutes (state {health?.State ?? "no worker"}, refusal {health?.PolicyRefusal ?? "none"}, error {health?.LastError ?? "none"}).");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }

        return id;
    }

    /// <summary>The people of <c>faces/ageitgey/identities.csv</c>: the first photo of each enrolled, the second (else the first) shown.</summary>
    private static List<Person> People(string dataSource)
    {
        var root = Path.Combine(dataSource, "faces", "ageitgey");
        var csv = Path.Combine(root, "identities.csv");
        if (!File.Exists(csv))
        {
            throw new InvalidRequestException($"No shared photos at {csv}: pass --data-source (the shared data folder).");
        }

        return [.. File.ReadLines(csv).Skip(1)
            .Select(l => l.Split(','))
            .Where(p => p.Length == 2)
            .GroupBy(p => p[0], p => Path.Combine(root, p[1]))
            .Select(g => new Person(g.Key, g.First(), g.Skip(1).FirstOrDefault() ?? g.First()))];
    }

    /// <summary>The scene as a JPEG of <paramref name="width"/> x <paramref name="height"/>: an empty grey wall, with the photo in one of three places.</summary>
    internal static byte[] Picture(string? photo, int slot, int width, int height)
    {
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Opaque));
        var canvas = surface.Canvas;
        canvas.Clear(new SKColor(112, 116, 120));
        if (photo is not null)
        {
            using var image = SKImage.FromEncodedData(photo) ?? throw new InvalidOperationException($"{photo}: not an image.");
            var slotWidth = width / (float)Slots;
            var scale = Math.Min(slotWidth * 0.95f / image.Width, height * 0.9f / image.Height);
            var (w, h) = (image.Width * scale, image.Height * scale);
            var left = (slot * slotWidth) + ((slotWidth - w) / 2);
            var top = (height - h) / 2;
            canvas.DrawImage(image, new SKRect(left, top, left + w, top + h), new SKSamplingOptions(SKCubicResampler.Mitchell));
        }

        using var snapshot = surface.Snapshot();
        using var jpeg = snapshot.Encode(SKEncodedImageFormat.Jpeg, 90);
        return jpeg.ToArray();
    }

    // The baseline: what detection and one embedding cost on this frame alone (median of 7 after one untimed run).
    private static async Task<double> DetectEmbedAsync(string modelsDirectory, byte[] frame, CancellationToken cancellationToken)
    {
        using var pipeline = new FacePipeline(new VisionOptions { ModelDirectory = modelsDirectory }, TimeProvider.System);
        using var city = await EvaluationCity.OpenAsync(TimeProvider.System, cancellationToken);
        var image = ImageCodec.Decode(frame, "frame");
        var times = new double[7];
        for (var i = -1; i < times.Length; i++)
        {
            var grant = await city.GrantAsync(cancellationToken);
            var watch = Stopwatch.StartNew();
            var faces = pipeline.Detect(grant, image);
            var face = faces.Count == 0 ? throw new InvalidOperationException("The baseline frame shows no face.") : faces.MaxBy(f => f.Box.Width * f.Box.Height)!;
            pipeline.Embed(grant, image, face);
            if (i >= 0)
            {
                times[i] = watch.Elapsed.TotalMilliseconds;
            }
        }

        Array.Sort(times);
        return Percentiles.NearestRank(times, 0.5);
    }

    /// <summary>An alert as the API first showed it, and when.</summary>
    private sealed record SeenAlert(long Id, string Label, DateTimeOffset At, DateTimeOffset? CapturedAt, DateTimeOffset ReadAt);

    /// <summary>What the operator can read, and when each alert first became readable: by polling the API, and on the console's stream.</summary>
    private sealed partial class AlertWatch(TimeProvider time)
    {
        private readonly ConcurrentDictionary<long, SeenAlert> _api = new();
        private readonly ConcurrentDictionary<long, DateTimeOffset> _sse = new();

        public TimeProvider Time { get; } = time;

        public long LatestId => _api.IsEmpty ? 0 : _api.Keys.Max();

        public SeenAlert? Find(string label, long after) =>
            _api.Values.Where(a => a.Id > after && a.Label == label).OrderBy(a => a.Id).FirstOrDefault();

        public DateTimeOffset? StreamedAt(long id) => _sse.TryGetValue(id, out var at) ? at : null;

        public async Task PollAsync(HttpClient client, CancellationToken cancellationToken)
        {
            try
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    using (var response = await client.GetAsync("api/alerts?limit=20", cancellationToken))
                    {
                        response.EnsureSuccessStatusCode();
                        var page = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;
                        var readAt = Time.GetUtcNow();
                        foreach (var item in page["items"]!.AsArray())
                        {
                            var id = item!["id"]!.GetValue<long>();
                            _api.TryAdd(id, new SeenAlert(
                                id, item["label"]!.GetValue<string>(), item["at"]!.GetValue<DateTimeOffset>(), item["capturedAt"]?.GetValue<DateTimeOffset>(), readAt));
                        }
                    }

                    await Task.Delay(PollInterval, Time, cancellationToken);
                }
            }
            catch (OperationCanceledException)
            {
                // done
            }
        }

        /// <summary>Reads the console's alert stream (the queue as HTML, sent again on every change) and notes when each alert id first arrives.</summary>
        public async Task StreamAsync(string address, AuthenticationHeaderValue authorization, CancellationToken cancellationToken)
        {
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = Timeout.InfiniteTimeSpan };
            using var request = new HttpRequestMessage(HttpMethod.Get, "console/alerts/stream");
            request.Headers.Authorization = authorization;
            request.Headers.Accept.ParseAdd("text/event-stream");
            try
            {
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                response.EnsureSuccessStatusCode();
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
                while (await reader.ReadLineAsync(cancellationToken) is { } line)
                {
                    var at = Time.GetUtcNow();
                    if (line.StartsWith("data:", StringComparison.Ordinal))
                    {
                        foreach (Match match in AlertIds().Matches(line))
                        {
                            _sse.TryAdd(long.Parse(match.Groups[1].ValueSpan, provider: System.Globalization.CultureInfo.InvariantCulture), at);
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // done
            }
        }

        [GeneratedRegex("data-alert=\"(\\d+)\"")]
        private static partial Regex AlertIds();
    }
}
