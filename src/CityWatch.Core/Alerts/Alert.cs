using CityWatch.Matching;
using CityWatch.Vision;

namespace CityWatch.Alerts;

/// <summary>
/// A candidate match: a face on a camera (or in supplied media) that scored at or above the threshold
/// against a watchlist entry. It stays a candidate until people verify it. On a camera, one alert stands
/// for one tracked person: while the track lives, the alert is updated (a better score replaces the
/// score, box and crop; <see cref="LastSeen"/> and <see cref="Frames"/> grow) rather than repeated.
/// </summary>
/// <param name="At">When the alert was raised.</param>
/// <param name="Score">The best score seen for this entry over the track.</param>
/// <param name="Box">Where the face was in the frame that gave <see cref="Score"/> (its crop is that face).</param>
/// <param name="TrackId">The camera track that raised it; null for alerts not from a tracked camera.</param>
/// <param name="LastSeen">When the person was last seen on the camera (written at least every few seconds while the track lives).</param>
/// <param name="Frames">Analysed frames the person was seen in.</param>
/// <param name="Status"><see cref="AlertStore.Candidate"/> until two verifiers confirm it (<see cref="AlertStore.Confirmed"/>) or one rejects it (<see cref="AlertStore.Rejected"/>).</param>
/// <param name="Quality">The quality score (0..1, <c>FaceQuality.Score</c>) of the face that gave <see cref="Score"/>; null when not measured.</param>
/// <param name="TopCandidates">The best watchlist candidates for that face, best first (the alert's entry first).</param>
/// <param name="SettledAt">When it was confirmed or rejected; null while a candidate.</param>
public sealed record Alert(
    long Id,
    long? CameraId,
    long WatchlistId,
    long EntryId,
    string Label,
    long LegalBasisId,
    string GrantId,
    DateTimeOffset At,
    float Score,
    float Threshold,
    FaceBox Box,
    string Status,
    string? TrackId,
    DateTimeOffset LastSeen,
    int Frames,
    float? Quality,
    IReadOnlyList<MatchCandidate> TopCandidates,
    DateTimeOffset? SettledAt)
{
    /// <summary><see cref="AlertStore.Live"/> (a camera) or <see cref="AlertStore.Retrospective"/> (an analysis job on supplied media).</summary>
    public string Source { get; init; } = AlertStore.Live;

    /// <summary>The analysis job that found it; null for live alerts.</summary>
    public long? AnalysisJobId { get; init; }

    /// <summary>Where in the analysed video the track was first and last seen; null for live alerts and images.</summary>
    public TimeSpan? MediaFrom { get; init; }

    public TimeSpan? MediaUntil { get; init; }

    /// <summary>
    /// When the camera frame that raised the alert was captured (ingest received it from the stream), so that the
    /// time from the frame to the operator's queue can be read; null for alerts from supplied media and for alerts
    /// stored before it was recorded. <see cref="At"/> is when the analysis raised it.
    /// </summary>
    public DateTimeOffset? CapturedAt { get; init; }

    /// <summary>How many of the track's best faces the fused template that gave <see cref="Score"/> held; null for alerts from before track templates.</summary>
    public int? FusedFrames { get; init; }
}

/// <summary>What the matcher hands over to be stored as an alert, with the face crop as JPEG.</summary>
public sealed record NewAlert(
    long? CameraId,
    long WatchlistId,
    long EntryId,
    string Label,
    long LegalBasisId,
    Guid GrantId,
    DateTimeOffset At,
    float Score,
    float Threshold,
    FaceBox Box,
    byte[] CropJpeg,
    Guid? TrackId = null,
    int Frames = 1,
    float? Quality = null,
    IReadOnlyList<MatchCandidate>? TopCandidates = null)
{
    /// <summary>Set for a candidate from a retrospective analysis: the job, and the track's time range in the video.</summary>
    public (long JobId, TimeSpan From, TimeSpan Until)? Retrospective { get; init; }

    /// <summary>When the camera frame that raised it was captured (<see cref="Alert.CapturedAt"/>); null for supplied media.</summary>
    public DateTimeOffset? CapturedAt { get; init; }

    /// <summary>How many faces the track's fused template that gave <see cref="Score"/> held (null: not from a track template).</summary>
    public int? FusedFrames { get; init; }

    /// <summary>The worker's own id for the alert when a worker raised it (the server role's candidate ingest); null in process.</summary>
    public string? SourceKey { get; init; }
}

/// <summary>A better face for an existing alert: its score, box and crop replace the alert's together.</summary>
/// <remarks>Once any verifier has decided on the alert, its evidence is frozen: only last seen and frames move on.</remarks>
public sealed record AlertImprovement(
    float Score, FaceBox Box, byte[] CropJpeg, DateTimeOffset LastSeen, int Frames, float? Quality = null, IReadOnlyList<MatchCandidate>? TopCandidates = null,
    int? FusedFrames = null);
