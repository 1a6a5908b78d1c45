using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using CityWatch.Evaluation;
using CityWatch.Grants;
using CityWatch.Ingest;
using CityWatch.Matching;
using CityWatch.Vision;

namespace CityWatch.Cli.Bench;

/// <summary>
/// The int8 QDQ graph of the embedder (calibrated on the clip's faces) against the shipped float graph: the cost of one
/// face per run, one thread, in the same rounds, and accuracy on a labelled set held out of the calibration (every pair
/// of its photos, one face each).
/// </summary>
internal sealed record Int8Figures(
    int CalibrationFaces,
    long ModelBytes,
    StageCost Float,
    StageCost Int8,
    string HeldOutSet,
    int HeldOutFaces,
    double CosineToFloatMean,
    double CosineToFloatMin,
    VerificationFigures FloatAccuracy,
    VerificationFigures Int8Accuracy)
{
    /// <summary>The brief's bar: AUC and TAR at FAR within this of the float graph's.</summary>
    public const double AccuracyTolerance = 0.002;

    public double Speedup => Float.CpuMs / Int8.CpuMs;

    public double AucDifference => Int8Accuracy.Auc - FloatAccuracy.Auc;

    public double? TarDifference(double far) =>
        FloatAccuracy.TarAtFar[far] is { } f && Int8Accuracy.TarAtFar[far] is { } q ? q - f : null;

    /// <summary>Kept only where it is faster and AUC and every TAR at FAR hold within <see cref="AccuracyTolerance"/>.</summary>
    public bool WouldKeep =>
        Speedup > 1
        && Math.Abs(AucDifference) <= AccuracyTolerance
        && VerificationMetrics.StandardFars.All(far => TarDifference(far) is { } d && Math.Abs(d) <= AccuracyTolerance);
}

/// <summary>The figures of one `bench analysis` run: the same decoded frames through the old path and the pooled one, in the same process.</summary>
/// <param name="Frames">Decoded frames each measurement analyses (detect, then embed every face).</param>
/// <param name="Faces">Faces found in those frames (each embedded).</param>
/// <param name="Rounds">Times each measurement ran, interleaved; each figure is the median.</param>
/// <param name="LoadAverage">The host's one-minute load average when the run started and ended (other work on the box slows every wall-clock figure).</param>
/// <param name="BaselineFramesPerSecond">Two threads on the old path: one session per model, serialised (<see cref="VisionOptions.AnalysisThreads"/> = 1).</param>
/// <param name="Single">One face per model run on the shipped graph, one thread (the product's path).</param>
/// <param name="SingleTwoThreads">The same on two threads at once: wall ms per face per thread, CPU ms per face.</param>
/// <param name="Batched">Batches of <paramref name="BatchSize"/> faces per run on the rewritten graph, one thread.</param>
/// <param name="BatchedMaxDifference">Largest difference of one value between a batched and a single embedding of the same face.</param>
/// <param name="Int8">The int8 graph of the embedder beside the shipped float one.</param>
internal sealed record AnalysisFigures(
    int Frames,
    int Faces,
    int Rounds,
    int Cores,
    (double Start, double End) LoadAverage,
    string Source,
    string Detector,
    string Embedder,
    double BaselineFramesPerSecond,
    double FramesPerSecondOneThread,
    double FramesPerSecondTwoThreads,
    StageCost Single,
    StageCost SingleTwoThreads,
    StageCost Batched,
    int BatchSize,
    double BatchedMaxDifference,
    StageProfile Profile,
    Int8Figures Int8)
{
    public const double ScalingGoal = 1.8;

    public double ScalingOneToTwo => FramesPerSecondTwoThreads / FramesPerSecondOneThread;

    public double SpeedupOverBaseline => FramesPerSecondTwoThreads / BaselineFramesPerSecond;
}

/// <summary>Median wall-clock and CPU milliseconds of one unit of work (a frame or a face).</summary>
internal readonly record struct StageCost(double WallMs, double CpuMs);

/// <summary>
/// Where one frame's time goes on one thread: decode (ffmpeg, per camera-second of video), then per analysed
/// frame detection, and per face alignment, embedding (one model run on the shipped graph) and the search of a
/// gallery of <paramref name="GalleryEntries"/> int8 templates.
/// </summary>
internal sealed record StageProfile(double DecodeCpuMsPerCameraSecond, StageCost Detect, StageCost Align, StageCost Embed, StageCost Match, int GalleryEntries)
{
    /// <summary>The analysed frames a second of the demo's cameras.</summary>
    public const double DemoFps = 2;

    /// <summary>
    /// Cameras one core carries at <paramref name="fps"/> analysed frames a second with <paramref name="faces"/>
    /// faces in each, from the CPU costs: 1000 ms over (decode per camera-second + fps x (detect + faces x (align + embed + match))).
    /// </summary>
    public double CamerasPerCore(double faces, double fps = DemoFps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(faces);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(fps);
        var perFace = Align.CpuMs + Embed.CpuMs + Match.CpuMs;
        return 1000 / (DecodeCpuMsPerCameraSecond + (fps * (Detect.CpuMs + (faces * perFace))));
    }
}

/// <summary>
/// `bench analysis`: frames of the shared clip decoded once (its CPU measured, not the rest), then analysed
/// (detect, then embed each face) by 1 and by 2 threads sharing one <see cref="FacePipeline"/> with a session per
/// thread (the product's settings: <see cref="VisionOptions.EmbedBatchSize"/> 1, the shipped graph), and, as the
/// baseline, by 2 threads on a pipeline with one session per model (what every pipeline was before the pool:
/// calls into a model serialised). Then the faces found are embedded one per run on the shipped graph (on 1 and
/// on 2 threads) and in batches of <c>batchSize</c> (<see cref="FacePipeline.EmbedBatch"/>, the rewritten
/// graph) on one thread, and one thread times each stage (detect, align, embed, match). Every measurement runs
/// <c>rounds</c> times, interleaved with the others, and reports its median, as wall-clock time and as this
/// process's CPU time (<see cref="Environment.CpuUsage"/>), which a loaded box inflates far less.
/// </summary>
internal static class AnalysisBench
{
    public const double DecodeFps = 10;
    public const int DecodeWidth = 640;
    public const int GalleryEntries = 10_000;

    public static async Task<AnalysisFigures> RunAsync(
        string clip, string heldOutSet, int frameCount, int rounds, int batchSize, string modelsDirectory, Action<string> step, CancellationToken cancellationToken)
    {
        if (!File.Exists(clip))
        {
            throw new InvalidRequestException($"No such video: {clip} (run `citywatch models fetch`, or name another with --video).");
        }

        var loadAtStart = LoadAverage();
        step($"decoding up to {frameCount} frames of {Path.GetFileName(clip)} at {DecodeFps} frames/s, {DecodeWidth} wide");
        var frames = new List<BgrImage>();
        var decoded = 0;
        var decode = new IngestOptions { AnalysisFps = DecodeFps, Width = DecodeWidth, Decode = DecodeMode.All, MotionThreshold = 0, DecoderThreads = 1 };
        var childrenBefore = IngestBench.CpuTicks().Children;
        await foreach (var frame in FrameSource.ReadFileAsync(clip, decode, cancellationToken: cancellationToken))
        {
            decoded++;
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

        // ffmpeg's CPU (ticks of 10 ms) for the whole clip, whose length is the frames sampled at DecodeFps.
        var decodeCpuMsPerCameraSecond = (IngestBench.CpuTicks().Children - childrenBefore) * 10.0 / (decoded / DecodeFps);

        using var city = await EvaluationCity.OpenAsync(TimeProvider.System, cancellationToken);
        await using var grants = await GrantSource.StartAsync(city, cancellationToken);
        var vision = new VisionOptions { ModelDirectory = modelsDirectory };
        using var locked = new FacePipeline(vision with { AnalysisThreads = 1 }, TimeProvider.System);
        using var pooled = new FacePipeline(vision with { AnalysisThreads = 2 }, TimeProvider.System);
        using var batching = new FacePipeline(vision with { AnalysisThreads = 1, EmbedBatchSize = batchSize }, TimeProvider.System);
        var gallery = Gallery(GalleryEntries, pooled.EmbeddingDimensions);

        // Not measured: JIT, the sessions' first runs (both of the pooled pipeline's), the caches.
        step("warming up");
        Analyse(locked, grants, frames, 2);
        Analyse(pooled, grants, frames, 2);
        var faces = frames.SelectMany(f => grants.Use(g => pooled.Detect(g, f)).Select(face => (Frame: f, Face: face))).ToList();
        if (faces.Count == 0)
        {
            throw new InvalidRequestException($"No faces in the frames of {clip}: nothing to embed.");
        }

        var single = faces.Select(f => grants.Use(g => pooled.Embed(g, f.Frame, f.Face))).ToList();
        var batched = EmbedBatched(batching, grants, faces, batchSize);
        var difference = single.Zip(batched).Max(p => p.First.Zip(p.Second).Max(v => Math.Abs(v.First - v.Second)));
        EmbedSingles(pooled, grants, faces, 2);
        Profile(pooled, grants, frames, gallery);
        step($"int8: calibrating on the clip's {faces.Count} faces and quantizing {pooled.EmbedderName}");
        using var int8 = grants.Use(g => pooled.Quantized(g, faces));
        EmbedInt8(int8, grants, faces);

        var baseline = new List<double>();
        var one = new List<double>();
        var two = new List<double>();
        var singles = new List<StageCost>();
        var singlesTwo = new List<StageCost>();
        var batches = new List<StageCost>();
        var floats = new List<StageCost>();
        var int8s = new List<StageCost>();
        var profiles = new List<StageCost[]>();
        for (var round = 1; round <= rounds; round++)
        {
            step($"round {round} of {rounds}: {frames.Count} frames by the old locked path (2 threads), by 1 thread, by 2 threads; {faces.Count} faces one at a time (1 and 2 threads) and in batches of {batchSize}; the stages");
            baseline.Add(frames.Count / Analyse(locked, grants, frames, 2));
            one.Add(frames.Count / Analyse(pooled, grants, frames, 1));
            two.Add(frames.Count / Analyse(pooled, grants, frames, 2));
            singles.Add(EmbedSingles(pooled, grants, faces, 1));
            singlesTwo.Add(EmbedSingles(pooled, grants, faces, 2));
            var clock = Stopwatch.StartNew();
            var cpu = Environment.CpuUsage.TotalTime;
            EmbedBatched(batching, grants, faces, batchSize);
            batches.Add(new StageCost(clock.Elapsed.TotalMilliseconds / faces.Count, (Environment.CpuUsage.TotalTime - cpu).TotalMilliseconds / faces.Count));
            profiles.Add(Profile(pooled, grants, frames, gallery));
            floats.Add(EmbedSingles(pooled, grants, faces, 1));
            int8s.Add(EmbedInt8(int8, grants, faces));
            step($"  wall / CPU ms per face: single {singles[^1].WallMs:0.0} / {singles[^1].CpuMs:0.0}, 2 threads {singlesTwo[^1].WallMs:0.0} / {singlesTwo[^1].CpuMs:0.0}, batched {batches[^1].WallMs:0.0} / {batches[^1].CpuMs:0.0}, int8 {int8s[^1].WallMs:0.0} / {int8s[^1].CpuMs:0.0} against float {floats[^1].WallMs:0.0} / {floats[^1].CpuMs:0.0}");
        }

        var stages = Enumerable.Range(0, 4).Select(i => Median(profiles.Select(p => p[i]).ToList())).ToArray();
        return new AnalysisFigures(
            frames.Count, faces.Count, rounds, Environment.ProcessorCount, (loadAtStart, LoadAverage()),
            $"{Path.GetFileName(clip)}, {frames[0].Width}x{frames[0].Height}, {DecodeFps} frames/s",
            pooled.DetectorName, pooled.EmbedderName,
            Median(baseline), Median(one), Median(two), Median(singles), Median(singlesTwo), Median(batches), batching.EmbedBatchLimit, difference,
            new StageProfile(decodeCpuMsPerCameraSecond, stages[0], stages[1], stages[2], stages[3], GalleryEntries),
            HeldOut(pooled, int8, grants, heldOutSet, Median(floats), Median(int8s), step));
    }

    private static StageCost EmbedInt8(QuantizedEmbedder int8, GrantSource grants, List<(BgrImage Frame, DetectedFace Face)> faces)
    {
        var clock = Stopwatch.StartNew();
        var cpu = Environment.CpuUsage.TotalTime;
        foreach (var (frame, face) in faces)
        {
            grants.Use(g => int8.Embed(g, frame, face));
        }

        return new StageCost(clock.Elapsed.TotalMilliseconds / faces.Count, (Environment.CpuUsage.TotalTime - cpu).TotalMilliseconds / faces.Count);
    }

    // Every photo of the held-out set, its best face embedded by both graphs; every pair of them scored by both.
    private static Int8Figures HeldOut(FacePipeline pipeline, QuantizedEmbedder int8, GrantSource grants, string set, StageCost floatCost, StageCost int8Cost, Action<string> step)
    {
        step($"int8: accuracy on {set}");
        var labelled = VerificationSet.Load(set);
        var people = new List<(string Identity, float[] Float, float[] Int8)>();
        foreach (var image in labelled.Images.Where(i => i.Identity is not null))
        {
            var photo = ImageCodec.DecodeFile(image.Path);
            if (grants.Use(g => pipeline.Detect(g, photo)) is [var face, ..])
            {
                people.Add((image.Identity!, grants.Use(g => pipeline.Embed(g, photo, face)), grants.Use(g => int8.Embed(g, photo, face))));
            }
        }

        var cosines = people.Select(p => (double)FacePipeline.Similarity(p.Float, p.Int8)).ToList();
        if (cosines.Count < 2)
        {
            throw new InvalidRequestException($"{set} gave fewer than two faces: no pairs to measure the int8 graph on.");
        }

        List<float> floatGenuine = [], floatImpostor = [], int8Genuine = [], int8Impostor = [];
        for (var i = 0; i < people.Count; i++)
        {
            for (var j = i + 1; j < people.Count; j++)
            {
                var genuine = people[i].Identity == people[j].Identity;
                (genuine ? floatGenuine : floatImpostor).Add(FacePipeline.Similarity(people[i].Float, people[j].Float));
                (genuine ? int8Genuine : int8Impostor).Add(FacePipeline.Similarity(people[i].Int8, people[j].Int8));
            }
        }

        return new Int8Figures(
            int8.CalibrationFaces, int8.ModelBytes, floatCost, int8Cost, labelled.Source, people.Count, cosines.Average(), cosines.Min(),
            VerificationMetrics.Compute(floatGenuine, floatImpostor), VerificationMetrics.Compute(int8Genuine, int8Impostor));
    }

    // One thread through every frame: detect (per frame), then per face align, embed (align + one run, less the
    // align just timed) and search the gallery; wall and CPU ms of each stage, in that order.
    private static StageCost[] Profile(FacePipeline pipeline, GrantSource grants, List<BgrImage> frames, Int8Gallery gallery)
    {
        var wall = new double[4];
        var cpu = new double[4];
        var faces = 0;
        var template = FaceAligner.ArcFaceTemplate;
        var chip = new byte[3 * FaceAligner.ChipSize * FaceAligner.ChipSize];
        long clock = 0;
        var used = TimeSpan.Zero;
        void Start()
        {
            used = Environment.CpuUsage.TotalTime;
            clock = Stopwatch.GetTimestamp();
        }

        void Stop(int stage)
        {
            wall[stage] += Stopwatch.GetElapsedTime(clock).TotalMilliseconds;
            cpu[stage] += (Environment.CpuUsage.TotalTime - used).TotalMilliseconds;
        }

        foreach (var frame in frames)
        {
            var grant = grants.Current;
            Start();
            var found = pipeline.Detect(grant, frame);
            Stop(0);
            foreach (var face in found)
            {
                faces++;
                Start();
                FaceAligner.Warp(frame, FaceAligner.Estimate(face.Landmarks, template), chip, FaceAligner.ChipSize);
                Stop(1);
                // On a loaded box a frame can outlast a grant: take one with seconds left before each call.
                grant = grants.Current;
                Start();
                var embedding = pipeline.Embed(grant, frame, face);
                Stop(2);
                Start();
                gallery.Search(embedding, 3);
                Stop(3);
            }
        }

        var perFace = Math.Max(1, faces);
        return
        [
            new StageCost(wall[0] / frames.Count, cpu[0] / frames.Count),
            new StageCost(wall[1] / perFace, cpu[1] / perFace),
            new StageCost(Math.Max(0, wall[2] - wall[1]) / perFace, Math.Max(0, cpu[2] - cpu[1]) / perFace),
            new StageCost(wall[3] / perFace, cpu[3] / perFace),
        ];
    }

    // Random unit rows (seed 13), quantised as the live watchlist index holds them.
    private static Int8Gallery Gallery(int entries, int dimensions)
    {
        var random = new Random(13);
        var rows = new float[entries * dimensions];
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i] = (float)((random.NextDouble() * 2) - 1);
        }

        for (var r = 0; r < entries; r++)
        {
            var row = rows.AsSpan(r * dimensions, dimensions);
            TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), row);
        }

        return Int8Gallery.Quantise(rows, dimensions);
    }

    // Each of `threads` threads embeds every face, one per model run, at once: wall ms per face per thread, CPU ms per face.
    private static StageCost EmbedSingles(FacePipeline pipeline, GrantSource grants, List<(BgrImage Frame, DetectedFace Face)> faces, int threads)
    {
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            foreach (var (frame, face) in faces)
            {
                grants.Use(g => pipeline.Embed(g, frame, face));
            }
        })).ToList();
        var cpu = Environment.CpuUsage.TotalTime;
        var clock = Stopwatch.StartNew();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        return new StageCost(clock.Elapsed.TotalMilliseconds / faces.Count, (Environment.CpuUsage.TotalTime - cpu).TotalMilliseconds / (threads * faces.Count));
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
                    foreach (var face in grants.Use(g => pipeline.Detect(g, frames[i])))
                    {
                        grants.Use(g => pipeline.Embed(g, frames[i], face));
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
        faces.Chunk(batchSize).SelectMany(chunk => grants.Use(g => pipeline.EmbedBatch(g, chunk))).ToList();

    private static StageCost Median(List<StageCost> values) => new(Median(values.Select(v => v.WallMs).ToList()), Median(values.Select(v => v.CpuMs).ToList()));

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
        // Asks every second; EvaluationCity renews once under 5 s of the grant's 10 s remain.
        private static readonly TimeSpan Renewal = TimeSpan.FromSeconds(1);
        private static readonly TimeSpan MinimumLeft = TimeSpan.FromSeconds(3);
        private readonly CancellationTokenSource stop = new();
        private ProcessingGrant current;
        private Task? loop;

        private GrantSource(ProcessingGrant first) => current = first;

        /// <summary>
        /// What <paramref name="work"/> gives with a current grant, tried again with the next where the grant lapsed
        /// first (the pipeline checks it before any model runs, so nothing ran twice).
        /// </summary>
        public T Use<T>(Func<ProcessingGrant, T> work)
        {
            while (true)
            {
                try
                {
                    return work(Current);
                }
                catch (GrantExpiredException)
                {
                    // Lapsed between Current and the call: take the renewed one.
                }
            }
        }

        /// <summary>
        /// A grant with at least <see cref="MinimumLeft"/> of its life left; waits for the renewal where none is, since
        /// on a loaded box the renewal (an audited act, an fsync) can take seconds.
        /// </summary>
        public ProcessingGrant Current
        {
            get
            {
                while (true)
                {
                    var grant = Volatile.Read(ref current);
                    if (grant.ExpiresAt - TimeProvider.System.GetUtcNow() > MinimumLeft)
                    {
                        return grant;
                    }

                    if (loop is { IsCompleted: true })
                    {
                        throw new InvalidOperationException("The bench's grant renewal stopped.", loop.Exception);
                    }

                    Thread.Sleep(20);
                }
            }
        }

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
