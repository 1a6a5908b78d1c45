using CityWatch.Recognition.Tracking;
using CityWatch.Vision;

namespace CityWatch.Recognition;

/// <summary>How frames are turned into alerts.</summary>
public sealed record RecognitionOptions
{
    /// <summary>
    /// The cosine score at or above which a face is a candidate for a watchlist entry. The default is the
    /// fr_feature operating point measured on the shared sets (docs/pipeline.md); it becomes a governed
    /// setting with the governance feature.
    /// </summary>
    public float Threshold { get; init; } = 0.45f;

    /// <summary>
    /// Where the threshold in force comes from: the server reads the governed setting
    /// (SettingsStore.OperatingThreshold for the embedder in use), so an approved change applies at once.
    /// Null: <see cref="Threshold"/>.
    /// </summary>
    public Func<float>? ThresholdSource { get; init; }

    public float CurrentThreshold => ThresholdSource?.Invoke() ?? Threshold;

    /// <summary>
    /// A new track on the same camera that matches an entry whose alert was last seen less than this long ago
    /// updates that alert instead of raising another (a person who turned away for a moment is still one alert).
    /// </summary>
    public TimeSpan AlertCooldown { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>After a refusal, a camera asks the policy engine again only after this long (frames in between are not analysed).</summary>
    public TimeSpan RefusalBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many candidates a search returns.</summary>
    public int TopCandidates { get; init; } = 3;

    /// <summary>The gate in front of the embedder: faces too small, turned, blurred or weakly detected are not embedded.</summary>
    public QualityOptions Quality { get; init; } = new();

    /// <summary>How faces are followed across frames, so that one person gives one alert.</summary>
    public TrackingOptions Tracking { get; init; } = new();
}
