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

    /// <summary>The same person on the same camera within this time updates nothing and raises no new alert.</summary>
    public TimeSpan AlertCooldown { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>After a refusal, a camera asks the policy engine again only after this long (frames in between are not analysed).</summary>
    public TimeSpan RefusalBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Faces smaller than this (pixels between the eyes) are not embedded: too poor to identify anyone.</summary>
    public float MinimumEyeDistance { get; init; } = 12;

    /// <summary>How many candidates an alert carries.</summary>
    public int TopCandidates { get; init; } = 3;
}
