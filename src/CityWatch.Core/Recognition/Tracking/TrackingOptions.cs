namespace CityWatch.Recognition.Tracking;

/// <summary>How faces are followed across the consecutive analysed frames of one camera.</summary>
public sealed record TrackingOptions
{
    /// <summary>A detection continues a track when its box overlaps the track's predicted box by at least this IoU.</summary>
    public float MinIoU { get; init; } = 0.2f;

    /// <summary>
    /// Failing that, when its centre is within this many box widths of the predicted centre (and its size
    /// within <see cref="MaxSizeRatio"/>): at a few frames per second a walking face can move more than its width.
    /// </summary>
    public float MaxCentreDistance { get; init; } = 1.5f;

    /// <summary>Largest ratio between the widths of a track's box and a detection it takes.</summary>
    public float MaxSizeRatio { get; init; } = 1.6f;

    /// <summary>A track not seen for more than this many analysed frames ends (its embedding is dropped).</summary>
    public int MaxMissedFrames { get; init; } = 3;

    /// <summary>A track's face is embedded again when its quality beats the best so far by this share (0.05: 5 %).</summary>
    public float QualityImprovement { get; init; } = 0.05f;

    /// <summary>... or when this many frames have passed since its last embedding (a face may match better from another angle).</summary>
    public int ReembedEveryFrames { get; init; } = 4;

    /// <summary>
    /// A track keeps the embeddings of its best this many faces (by quality score) and matches their
    /// quality-weighted fusion (<see cref="TrackTemplate"/>); 1: the best face alone.
    /// </summary>
    public int TemplateFrames { get; init; } = 5;

    /// <summary>An alert's last-seen time and frame count are written at most this often while its track lives, and when it ends.</summary>
    public TimeSpan AlertRefreshInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A frame whose colour histogram differs from the previous frame's by more than this (0..1) is a new picture: every track ends (see <see cref="SceneChange"/>).</summary>
    public float SceneCutDistance { get; init; } = 0.15f;

    /// <summary>Throws <see cref="InvalidRequestException"/> naming the first bad setting.</summary>
    public TrackingOptions Validate()
    {
        if (MinIoU is <= 0 or > 1)
        {
            throw new InvalidRequestException($"Tracking:MinIoU must be in (0, 1], not {MinIoU}.");
        }

        if (MaxCentreDistance < 0)
        {
            throw new InvalidRequestException($"Tracking:MaxCentreDistance must not be negative, not {MaxCentreDistance}.");
        }

        if (MaxSizeRatio < 1)
        {
            throw new InvalidRequestException($"Tracking:MaxSizeRatio must be at least 1, not {MaxSizeRatio}.");
        }

        if (MaxMissedFrames is < 0 or > 1000)
        {
            throw new InvalidRequestException($"Tracking:MaxMissedFrames must be 0..1000, not {MaxMissedFrames}.");
        }

        if (QualityImprovement < 0)
        {
            throw new InvalidRequestException($"Tracking:QualityImprovement must not be negative, not {QualityImprovement}.");
        }

        if (ReembedEveryFrames < 1)
        {
            throw new InvalidRequestException($"Tracking:ReembedEveryFrames must be at least 1, not {ReembedEveryFrames}.");
        }

        if (TemplateFrames is < 1 or > 32)
        {
            throw new InvalidRequestException($"Tracking:TemplateFrames must be 1..32, not {TemplateFrames}.");
        }

        if (AlertRefreshInterval < TimeSpan.Zero)
        {
            throw new InvalidRequestException($"Tracking:AlertRefreshInterval must not be negative, not {AlertRefreshInterval}.");
        }

        if (SceneCutDistance is <= 0 or > 1)
        {
            throw new InvalidRequestException($"Tracking:SceneCutDistance must be in (0, 1], not {SceneCutDistance}.");
        }

        return this;
    }
}
