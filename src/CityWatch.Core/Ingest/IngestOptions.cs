using System.Globalization;

namespace CityWatch.Ingest;

/// <summary>
/// How a <see cref="FrameSource"/> samples a camera or a video file. Bound from the "Ingest"
/// configuration section; the same values apply to every camera a process runs.
/// </summary>
public sealed record IngestOptions
{
    /// <summary>A key-frame interval up to this many analysis intervals still counts as fitting (encoders round the GOP to whole frames).</summary>
    public const double KeyFrameSlack = 1.1;

    public const string SectionName = "Ingest";

    /// <summary>Frames per second handed to analysis (ffmpeg's fps filter); the rest are never converted.</summary>
    public double AnalysisFps { get; init; } = 2;

    /// <summary>Width of the analysed frames in pixels (even). A narrower source is not upscaled.</summary>
    public int Width { get; init; } = 640;

    /// <summary>
    /// Null (default): keep the source's aspect ratio; the height is computed from an ffprobe of the
    /// source at each (re)connect. Set: every frame is exactly Width x Height, the picture scaled to
    /// fit and padded with black (no probe needed).
    /// </summary>
    public int? Height { get; init; }

    /// <summary>First delay before reconnecting a live source that failed; doubled after each failure.</summary>
    public TimeSpan BackoffMin { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <summary>Longest delay between reconnect attempts.</summary>
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Random spread applied to each delay (0.2: +/-20 %), so cameras do not reconnect in lockstep.</summary>
    public double BackoffJitter { get; init; } = 0.2;

    /// <summary>If no frame arrives for this long, ffmpeg is killed and the source reconnects.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Network timeout for connecting and reading (ffmpeg/ffprobe -timeout); also bounds a probe.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Frames buffered per camera. A live source drops the oldest when full (counted); a finite file waits.</summary>
    public int QueueCapacity { get; init; } = 4;

    /// <summary>Files only: read at the native frame rate (ffmpeg -re), as a camera would deliver them.</summary>
    public bool RealTime { get; init; }

    /// <summary>Files only: loop forever (ffmpeg -stream_loop -1); needs <see cref="RealTime"/>. Makes a file act like a live camera.</summary>
    public bool Loop { get; init; }

    /// <summary>
    /// Which frames ffmpeg decodes. Auto (default): at each connect the first seconds of the stream are probed
    /// for its key-frame interval; key frames only when they come at least <see cref="AnalysisFps"/> a second
    /// (then on the same fps grid as a full decode), otherwise every frame.
    /// </summary>
    public DecodeMode Decode { get; init; } = DecodeMode.Auto;

    /// <summary>
    /// The motion gate in front of analysis (<see cref="MotionGate"/>): a frame whose downscaled luma differs
    /// from the last analysed frame by less than this mean absolute difference (grey levels, 0-255) is not
    /// analysed. 0 turns the gate off.
    /// </summary>
    public double MotionThreshold { get; init; } = 1.5;

    /// <summary>The motion gate never skips longer than this in a row, so that a person standing still is still seen.</summary>
    public TimeSpan MotionMaxSkip { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Decoder threads per source (ffmpeg -threads); 0 lets ffmpeg choose.</summary>
    public int DecoderThreads { get; init; }

    public string FfmpegPath { get; init; } = "ffmpeg";

    public string FfprobePath { get; init; } = "ffprobe";

    /// <summary>Throws <see cref="InvalidRequestException"/> with a one-line message if a value is out of range.</summary>
    public IngestOptions Validate()
    {
        Require(double.IsFinite(AnalysisFps) && AnalysisFps > 0 && AnalysisFps <= 60, $"AnalysisFps must be in (0, 60], got {Format(AnalysisFps)}.");
        Require(Width is >= 16 and <= 8192 && Width % 2 == 0, $"Width must be an even number from 16 to 8192, got {Width}.");
        Require(Height is null || (Height is >= 16 and <= 8192 && Height.Value % 2 == 0), $"Height must be an even number from 16 to 8192, got {Height}.");
        Require(BackoffMin > TimeSpan.Zero && BackoffMax >= BackoffMin, $"Backoff must satisfy 0 < BackoffMin <= BackoffMax, got {BackoffMin} and {BackoffMax}.");
        Require(BackoffJitter is >= 0 and < 1, $"BackoffJitter must be in [0, 1), got {Format(BackoffJitter)}.");
        Require(StallTimeout >= TimeSpan.FromSeconds(2 / AnalysisFps), $"StallTimeout must be at least two frame intervals ({Format(2 / AnalysisFps)} s), got {StallTimeout}.");
        Require(ConnectTimeout > TimeSpan.Zero, $"ConnectTimeout must be positive, got {ConnectTimeout}.");
        Require(QueueCapacity is >= 1 and <= 1000, $"QueueCapacity must be from 1 to 1000, got {QueueCapacity}.");
        Require(!Loop || RealTime, "Loop needs RealTime: looping a file as fast as it decodes never ends.");
        Require(Enum.IsDefined(Decode), $"Decode must be Auto, KeyFrames or All, got {Decode}.");
        Require(double.IsFinite(MotionThreshold) && MotionThreshold is >= 0 and <= 255, $"MotionThreshold must be from 0 to 255, got {Format(MotionThreshold)}.");
        Require(MotionMaxSkip >= TimeSpan.Zero, $"MotionMaxSkip must not be negative, got {MotionMaxSkip}.");
        Require(DecoderThreads is >= 0 and <= 64, $"DecoderThreads must be from 0 to 64, got {DecoderThreads}.");
        Require(!string.IsNullOrWhiteSpace(FfmpegPath) && !string.IsNullOrWhiteSpace(FfprobePath), "FfmpegPath and FfprobePath must be set.");
        return this;
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidRequestException("Ingest options: " + message);
        }
    }

    private static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>Which frames ffmpeg decodes (<see cref="IngestOptions.Decode"/>).</summary>
public enum DecodeMode
{
    /// <summary>Key frames when the probed key-frame interval fits the analysis rate, otherwise all.</summary>
    Auto,

    /// <summary>
    /// Key frames only (-skip_frame nokey), whatever their interval: each key frame once, at most AnalysisFps a
    /// second, never repeated; frames carry no Position (they are not on a fixed grid).
    /// </summary>
    KeyFrames,

    /// <summary>Every frame decoded, then sampled to AnalysisFps by the fps filter.</summary>
    All,
}
