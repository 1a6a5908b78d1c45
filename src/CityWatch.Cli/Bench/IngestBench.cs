using System.Diagnostics;
using System.Globalization;
using CityWatch.Evaluation;
using CityWatch.Ingest;
using CityWatch.Vision;

namespace CityWatch.Cli.Bench;

/// <summary>What one way of ingesting cost in one `bench ingest` run, summed over its streams.</summary>
/// <param name="CpuSeconds">CPU time of the ffmpeg and ffprobe children plus this process, over the whole run.</param>
/// <param name="ChildCpuSeconds">The part of <paramref name="CpuSeconds"/> spent in ffmpeg and ffprobe.</param>
/// <param name="KeyFramesOnly">Whether ffmpeg decoded key frames only (every stream made the same choice).</param>
internal sealed record IngestPath(
    double CpuSeconds,
    double ChildCpuSeconds,
    double WallSeconds,
    long FramesDecoded,
    long FramesGated,
    long FramesDetected,
    long Faces,
    bool KeyFramesOnly)
{
    /// <summary>CPU seconds per second of video per camera.</summary>
    public double CpuPerCameraSecond(int streams, double videoSeconds) => CpuSeconds / (streams * videoSeconds);
}

/// <summary>The figures of one `bench ingest` run: the product path and its baseline, on the same source, in the same process.</summary>
internal sealed record IngestFigures(
    int Seconds,
    int Streams,
    int Cores,
    double AnalysisFps,
    int AnalysisWidth,
    string Source,
    double KeyFrameIntervalSeconds,
    bool IncludesDetection,
    IngestPath Baseline,
    IngestPath Product)
{
    public double BaselineCamerasPerCore => 1 / Baseline.CpuPerCameraSecond(Streams, Seconds);

    public double CamerasPerCore => 1 / Product.CpuPerCameraSecond(Streams, Seconds);
}

/// <summary>
/// `bench ingest`: the shared clip re-encoded once (not measured) as an H.264 source (1280x720 by default) of the requested
/// length and key-frame interval, standing in for a camera; then <c>streams</c> concurrent frame sources decode
/// it at the demo's settings (2 analysed frames a second, 640 wide, one decoder thread each), two ways:
/// the baseline (every frame decoded, sampled by the fps filter, no gate) and the product path
/// (<see cref="DecodeMode.Auto"/>: key frames when they fit, and the <see cref="MotionGate"/>). With detection,
/// the baseline detects faces in every frame and the product path in the frames the gate lets through. The cost
/// is the CPU time consumed: this process plus its ffmpeg and ffprobe children, from /proc/self/stat.
/// </summary>
internal static class IngestBench
{
    public const double AnalysisFps = 2;
    public const int AnalysisWidth = 640;

    // /proc reports CPU times in USER_HZ ticks, 100 a second on Linux.
    private const double TicksPerSecond = 100;

    public static async Task<IngestFigures> RunAsync(
        string clip, int seconds, int streams, double keyFrameInterval, int sourceWidth, string? modelsDirectory, Action<string> step, CancellationToken cancellationToken)
    {
        if (!File.Exists("/proc/self/stat"))
        {
            throw new InvalidRequestException("bench ingest reads the CPU time of ffmpeg from /proc/self/stat, which this system does not have (Linux only).");
        }

        if (!File.Exists(clip))
        {
            throw new InvalidRequestException($"No such video: {clip} (run `citywatch models fetch`, or name another with --video).");
        }

        var folder = Path.Combine(Path.GetTempPath(), $"citywatch-bench-ingest-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var size = new FrameSize(sourceWidth, 2 * (int)Math.Round(sourceWidth * 9 / 32.0));
            var source = Path.Combine(folder, "camera.mp4");
            step($"encoding a {seconds} s {size} H.264 source, a key frame every {Format(keyFrameInterval)} s");
            await EncodeAsync(clip, source, size, seconds, keyFrameInterval, cancellationToken);

            FacePipeline? pipeline = null;
            EvaluationCity? city = null;
            try
            {
                if (modelsDirectory is not null)
                {
                    pipeline = new FacePipeline(new VisionOptions { ModelDirectory = modelsDirectory }, TimeProvider.System);
                    city = await EvaluationCity.OpenAsync(TimeProvider.System, cancellationToken);
                }

                var common = new IngestOptions { AnalysisFps = AnalysisFps, Width = AnalysisWidth, DecoderThreads = 1 };
                // Not measured: the first pass pays for JIT compilation, the detector's first runs and the file cache.
                step("warming up: one stream, both ways");
                await MeasureAsync(source, 1, common with { Decode = DecodeMode.All, MotionThreshold = 0 }, pipeline, city, cancellationToken);
                await MeasureAsync(source, 1, common with { Decode = DecodeMode.Auto }, pipeline, city, cancellationToken);
                step($"baseline: {streams} streams, every frame decoded, fps filter, no gate");
                var baseline = await MeasureAsync(source, streams, common with { Decode = DecodeMode.All, MotionThreshold = 0 }, pipeline, city, cancellationToken);
                step($"product: {streams} streams, key frames when they fit, motion gate");
                var product = await MeasureAsync(source, streams, common with { Decode = DecodeMode.Auto }, pipeline, city, cancellationToken);
                return new IngestFigures(
                    seconds, streams, Environment.ProcessorCount, AnalysisFps, AnalysisWidth, $"{size} h264 (the shared clip, re-encoded)", keyFrameInterval,
                    pipeline is not null, baseline, product);
            }
            finally
            {
                city?.Dispose();
                pipeline?.Dispose();
            }
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // A temporary file left behind is not worth failing the figures for.
            }
        }
    }

    private static async Task<IngestPath> MeasureAsync(
        string source, int streams, IngestOptions options, FacePipeline? pipeline, EvaluationCity? city, CancellationToken cancellationToken)
    {
        // Detection runs one frame at a time (the detector holds a lock of its own); so does asking for the grant.
        using var detecting = new SemaphoreSlim(1);
        var before = CpuTicks();
        var clock = Stopwatch.StartNew();
        var results = await Task.WhenAll(Enumerable.Range(0, streams).Select(i => Task.Run(
            async () =>
            {
                await using var frames = new FrameSource($"bench-{i}", source, options);
                var gate = new MotionGate(options);
                long decoded = 0, detected = 0, faces = 0;
                frames.Start();
                await foreach (var frame in frames.Frames.ReadAllAsync(cancellationToken))
                {
                    decoded++;
                    if (gate.ShouldAnalyse(frame.Image, frame.Position ?? TimeSpan.FromSeconds(decoded / options.AnalysisFps)))
                    {
                        if (pipeline is not null && city is not null)
                        {
                            await detecting.WaitAsync(cancellationToken);
                            try
                            {
                                faces += pipeline.Detect(await city.GrantAsync(cancellationToken), frame.Image).Count;
                                detected++;
                            }
                            finally
                            {
                                detecting.Release();
                            }
                        }
                    }

                    frames.Return(frame);
                }

                await frames.Completion;
                return (Decoded: decoded, Gated: gate.Skipped, Detected: detected, Faces: faces, KeyFrames: frames.KeyFramesOnly ?? false);
            },
            cancellationToken)));
        clock.Stop();
        var after = CpuTicks();
        return new IngestPath(
            (after.Total - before.Total) / TicksPerSecond,
            (after.Children - before.Children) / TicksPerSecond,
            clock.Elapsed.TotalSeconds,
            results.Sum(r => r.Decoded),
            results.Sum(r => r.Gated),
            results.Sum(r => r.Detected),
            results.Sum(r => r.Faces),
            results.All(r => r.KeyFrames));
    }

    /// <summary>
    /// CPU ticks of this process (utime + stime) and of its waited-for children (cutime + cstime): every ffmpeg and
    /// ffprobe a frame source ran has exited and been reaped by the time its source completes.
    /// </summary>
    internal static (long Total, long Children) CpuTicks()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        // Fields after the command name (which may hold spaces) start at field 3, "state".
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
        var children = Field(16) + Field(17);
        return (Field(14) + Field(15) + children, children);
    }

    /// <summary>The shared clip, looped to <paramref name="seconds"/>, scaled to <paramref name="size"/>, H.264 with a fixed key-frame interval (no scene-cut key frames).</summary>
    private static async Task EncodeAsync(string clip, string output, FrameSize size, int seconds, double keyFrameInterval, CancellationToken cancellationToken)
    {
        // The clip runs at 29.97 frames a second.
        var gop = Math.Max(1, (int)Math.Round(keyFrameInterval * 30000 / 1001)).ToString(CultureInfo.InvariantCulture);
        var result = await ProcessRunner.RunAsync(
            "ffmpeg",
            [
                "-nostdin", "-hide_banner", "-loglevel", "error", "-stream_loop", "-1", "-i", "file:" + Path.GetFullPath(clip),
                "-t", seconds.ToString(CultureInfo.InvariantCulture), "-map", "0:v:0", "-an", "-vf", $"scale={size.Width}:{size.Height},setsar=1",
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
                "-y", "file:" + output,
            ],
            cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidRequestException("Encoding the bench source failed: ffmpeg: " + FfmpegOutput.DescribeFailure(result.ErrorLines, result.ExitCode));
        }
    }

    private static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
