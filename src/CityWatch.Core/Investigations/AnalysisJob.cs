namespace CityWatch.Investigations;

/// <summary>Where a retrospective analysis job stands. Done, failed and cancelled are final.</summary>
public enum AnalysisJobState
{
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// <summary>
/// One retrospective analysis of supplied media (an upload or a recording the city holds) against one
/// watchlist, for a registered case, run in the background. Its counts grow while it runs; a final job
/// says why it failed or was cancelled in <see cref="Reason"/>.
/// </summary>
/// <param name="Source">What was analysed, as shown: the uploaded file's name or the recording's URL.</param>
/// <param name="FramesTotal">Frames expected (from the duration ffprobe reports at the analysis rate); null until known. Equals <see cref="FramesDone"/> once done.</param>
/// <param name="Faces">Faces detected so far.</param>
/// <param name="Matches">Faces that matched the watchlist at the threshold so far.</param>
/// <param name="Candidates">Candidates stored so far: one per matching track.</param>
public sealed record AnalysisJob(
    long Id,
    string CaseNumber,
    long WatchlistId,
    string Source,
    double Fps,
    int Width,
    AnalysisJobState State,
    long FramesDone,
    long? FramesTotal,
    long Faces,
    long Matches,
    long Candidates,
    string? Reason,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? EndedAt)
{
    /// <summary>0..100; 100 exactly when done.</summary>
    public double Percent => State == AnalysisJobState.Done ? 100
        : FramesTotal is > 0 and var total ? Math.Min(99.9, Math.Round(100.0 * FramesDone / total, 1))
        : 0;

    public bool IsFinal => State is AnalysisJobState.Done or AnalysisJobState.Failed or AnalysisJobState.Cancelled;
}

/// <summary>What the API hands to the job store: the media is already in a file the server owns (or is a recording it holds).</summary>
/// <param name="MediaPath">The file or ffmpeg URL to decode.</param>
/// <param name="OwnsMedia">Whether the file is a temporary upload, deleted when the job ends.</param>
public sealed record NewAnalysisJob(string CaseNumber, long WatchlistId, string Source, string MediaPath, bool OwnsMedia, double Fps, int Width, string Sha256);

/// <summary>Counts of a running job, written as it goes.</summary>
public sealed record AnalysisProgress(long FramesDone, long? FramesTotal, long Faces, long Matches, long Candidates);

/// <summary>The audit actions of retrospective analysis jobs.</summary>
public static class AnalysisJobActions
{
    /// <summary>A job was queued (its media stored, its case and watchlist named).</summary>
    public const string Queued = "analysis.queued";

    /// <summary>A candidate from a retrospective analysis stored as evidence.</summary>
    public const string Candidate = "analysis.candidate";
}
