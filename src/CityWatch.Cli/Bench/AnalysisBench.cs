using System.Diagnostics;
using System.Globalization;
using CityWatch.Evaluation;
using CityWatch.Grants;
using CityWatch.Ingest;
using CityWatch.Vision;

namespace CityWatch.Cli.Bench;

/// <summary>The figures of one `bench analysis` run: the same decoded frames through the old path and the pooled one, in the same process.</summary>
/// <param name="Frames">Decoded frames each measurement analyses (detect, then embed every face).</param>
/// <param name="Faces">Faces found in those frames (each embedded).</param>
/// <param name="Rounds">Times each measurement ran, interleaved; each figure is the median.</param>
/// <param name="LoadAverage">The host's one-minute load average when the run ended (other work on the box slows every figure).</param>
/// <param name="BaselineFramesPerSecond">Two threads on the old path: one session per model, serialised (<see cref="VisionOptions.AnalysisThreads"/> = 1).</param>
/// <param name="BatchedMaxDifference">Largest difference of one value between a batched and a single embedding of the same face.</param>
internal sealed record AnalysisFigures(
    int Frames,
    int Faces,
    int Rounds,
    int Cores,
    double LoadAverage,
    string Source,
    string Detector,
    string Embedder,
    double BaselineFramesPerSecond,
    double FramesPerSecondOneThread,
    double FramesPerSecondTwoThreads,
    double EmbedMsPerFaceSingle,
    double EmbedMsPerFaceBatched,
    int BatchSize,
    double BatchedMaxDifference)
{
    public const double ScalingGoal = 1.8;

    public double ScalingOneToTwo => FramesPerSecondTwoThreads / FramesPerSecondOneThread;

    public double SpeedupOverBaseline => FramesPerSecondTwoThreads / BaselineFramesPerSecond;
}

/// <summary>
/// `bench analysis`: frames of the shared clip decoded once (not measured), then analysed (detect, then embed
/// each face) by 1 and by 2 threads sharing one <see cref="FacePipeline"/> with a session per thread, and, as
/// the baseline, by 2 threads on a pipeline with one session per model (what every pipeline was before the
/// pool: calls into a model serialised). Then the faces found are embedded one per run and in batches of
/// <c>batchSize</c> (<see cref="FacePipeline.EmbedBatch"/>) on one thread. Every measurement runs
/// <c>rounds</c> times, interleaved with the others, and reports its median.
/// </summary>
internal static class AnalysisBench
{
    public const double DecodeFps = 10;
    public const int DecodeWidth = 640;

    public static async Task<AnalysisFigures> RunAsync(
        string clip, int frameCount, int rounds, int batchSize, string modelsDirectory, Action<string> step, CancellationToken cancellationToken)
    {
        if (!File.Exists(clip))
        {
            throw new InvalidRequestException($"No such video: {clip} (run `citywatch models fetch`, or name another with --video).");
        }

        step($"decoding up to {frameCount} frames of {Path.GetFileName(clip)} at {DecodeFps} frames/s, {DecodeWidth} wide");
        var frames = new List<BgrImage>();
        var decode = new IngestOptions { AnalysisFps = DecodeFps, Width = DecodeWidth, Decode = DecodeMode.All, MotionThreshold = 0, DecoderThreads = 1 };
        await foreach (var frame in FrameSource.ReadFileAsync(clip, decode, cancellationToken: cancellationToken))
        {
            if (frames.Count < frameCount)
            {
                // The source's buffers are pooled: keep a copy.
                frames.Add(new BgrImage(frame.Image.Width, frame.Image.Height, frame.Image.Pixels.ToArray()));
            }
        }

        if (frames.Count == 0)
        {
            throw new InvalidRequestException($"{clip} gave no frames.");
        }

        using var city = await EvaluationCity.OpenAsync(TimeProvider.System, cancellationToken);
        await using var grants = await GrantSource.StartAsync(city, cancellationToken);
        var vision = new VisionOptions { ModelDirectory = modelsDirectory, EmbedBatchSize = batchSize };
        using var locked = new FacePipeline(vision with { AnalysisThreads = 1 }, TimeProvider.System);
        using var pooled = new FacePipeline(vision with { AnalysisThreads = 2 }, TimeProvider.System);

        // Not measured: JIT, the sessions' first runs (both of the pooled pipeline's), the caches.
        step("warming up");
        Analyse(locked, grants, frames, 2);
        Analyse(pooled, grants, frames, 2);
        var faces = frames.SelectMany(f => pooled.Detect(grants.Current, f).Select(face => (Frame: f, Face: face))).ToList();
        if (faces.Count == 0)
        {
            throw new InvalidRequestException($"No faces in the frames of {clip}: nothing to embed.");
        }

        var single = faces.Select(f => pooled.Embed(grants.Current, f.Frame, f.Face)).ToList();
        var batched = EmbedBatched(pooled, grants, faces, batchSize);
        var difference = single.Zip(batched).Max(p => p.First.Zip(p.Second).Max(v => Math.Abs(v.First - v.Second)));

        var baseline = new List<double>();
        var one = new List<double>();
        var two = new List<double>();
        var embedSingle = new List<double>();
        var embedBatched = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            step($"round {round} of {rounds}: {frames.Count} frames by the old locked path (2 threads), by 1 thread, by 2 threads; {faces.Count} faces one at a time and in batches of {batchSize}");
            baseline.Add(frames.Count / Analyse(locked, grants, frames, 2));
            one.Add(frames.Count / Analyse(pooled, grants, frames, 1));
            two.Add(frames.Count / Analyse(pooled, grants, frames, 2));
            var clock = Stopwatch.StartNew();
            foreach (var (frame, face) in faces)
            {
                pooled.Embed(grants.Current, frame, face);
            }

            embedSingle.Add(clock.Elapsed.TotalMilliseconds / faces.Count);
            clock.Restart();
            EmbedBatched(pooled, grants, faces, batchSize);
            embedBatched.Add(clock.Elapsed.TotalMilliseconds / faces.Count);
        }

        return new AnalysisFigures(
            frames.Count, faces.Count, rounds, Environment.ProcessorCount, LoadAverage(),
            $"{Path.GetFileName(clip)}, {frames[0].Width}x{frames[0].Height}, {DecodeFps} frames/s",
            pooled.DetectorName, pooled.EmbedderName,
            Median(baseline), Median(one), Median(two), Median(embedSingle), Median(embedBatched), pooled.EmbedBatchLimit, difference);
    }

    // Seconds for `threads` threads to detect and embed every frame, taking the next frame as each finishes one.
    private static double Analyse(FacePipeline pipeline, GrantSource grants, List<BgrImage> frames, int threads)
    {
        var next = -1;
        Exception? failure = null;
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < frames.Count)
                {
                    var grant = grants.Current;
                    foreach (var face in pipeline.Detect(grant, frames[i]))
                    {
                        pipeline.Embed(grant, frames[i], face);
                    }
                }
            }
            catch (Exception e) when (e is GrantExpiredException or InvalidDataException or InvalidOperationException)
            {
                failure = e;
            }
        })).ToList();
        var clock = Stopwatch.StartNew();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        var seconds = clock.Elapsed.TotalSeconds;
        return failure is null ? seconds : throw new InvalidOperationException($"Analysis failed: {failure.Message}", failure);
    }

    private static List<float[]> EmbedBatched(FacePipeline pipeline, GrantSource grants, List<(BgrImage Frame, DetectedFace Face)> faces, int batchSize) =>
        faces.Chunk(batchSize).SelectMany(chunk => pipeline.EmbedBatch(grants.Current, chunk)).ToList();

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static double LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>A processing grant kept fresh (grants live 10 s) by a background loop while the threads read it.</summary>
    private sealed class GrantSource : IAsyncDisposable
    {
        private static readonly TimeSpan Renewal = TimeSpan.FromSeconds(3);
        private readonly CancellationTokenSource stop = new();
        private ProcessingGrant current;
        private Task? loop;

        private GrantSource(ProcessingGrant first) => current = first;

        public ProcessingGrant Current => Volatile.Read(ref current);

        public static async Task<GrantSource> StartAsync(EvaluationCity city, CancellationToken cancellationToken)
        {
            var source = new GrantSource(await city.GrantAsync(cancellationToken));
            source.loop = source.RenewAsync(city);
            return source;
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            try
            {
                await (loop ?? Task.CompletedTask);
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }

            stop.Dispose();
        }

        private async Task RenewAsync(EvaluationCity city)
        {
            using var timer = new PeriodicTimer(Renewal);
            while (await timer.WaitForNextTickAsync(stop.Token))
            {
                Volatile.Write(ref current, await city.GrantAsync(stop.Token));
            }
        }
    }
}
