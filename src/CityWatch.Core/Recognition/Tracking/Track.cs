using CityWatch.Vision;

namespace CityWatch.Recognition.Tracking;

/// <summary>
/// One face followed across consecutive frames of a camera. Its geometry is updated by
/// <see cref="FaceTracker"/>; the recognition state (best embedding, alerts raised) by the frame analyzer.
/// It lives only in memory: when it ends without a match, nothing of it was ever written.
/// </summary>
public sealed class Track
{
    private float velocityX;
    private float velocityY;

    internal Track(long number, FaceBox box, long frame, int templateFrames = 1)
    {
        Template = new TrackTemplate(templateFrames);
        Number = number;
        Box = box;
        FirstFrame = frame;
        LastFrame = frame;
        Hits = 1;
    }

    /// <summary>Unique id, stored with the alerts the track raised.</summary>
    public Guid Id { get; } = Guid.NewGuid();

    /// <summary>1, 2, 3, ... in the order the camera's tracker made them (for logs and tests).</summary>
    public long Number { get; }

    /// <summary>The box where the face was last seen.</summary>
    public FaceBox Box { get; private set; }

    /// <summary>Tracker frame index (0, 1, ...) of the first and last frame the face was seen in.</summary>
    public long FirstFrame { get; }

    public long LastFrame { get; private set; }

    /// <summary>Frames the face was seen in.</summary>
    public int Hits { get; private set; }

    /// <summary>Frames since it was last seen (0 when seen in the latest frame).</summary>
    public int Missed { get; private set; }

    /// <summary>The quality score (<see cref="FaceQuality.Score"/>) of the track's best embedded face; -1 before any.</summary>
    public float BestQuality => Template.BestQuality;

    /// <summary>The embeddings of the track's best faces and their fusion (memory only; empty before any, and after the track ends).</summary>
    public TrackTemplate Template { get; }

    /// <summary>Frames seen since the face was last embedded.</summary>
    public int FramesSinceEmbedding { get; set; }

    /// <summary>The alerts this track feeds, by watchlist entry (one per entry, updated while the track lives).</summary>
    internal Dictionary<long, TrackedAlert> Alerts { get; } = [];

    /// <summary>Where the box is expected in <paramref name="frame"/>, moving at the smoothed velocity.</summary>
    public FaceBox PredictedAt(long frame)
    {
        var steps = frame - LastFrame;
        return Box with { X = Box.X + (velocityX * steps), Y = Box.Y + (velocityY * steps) };
    }

    internal void Observe(FaceBox box, long frame)
    {
        var steps = Math.Max(1, frame - LastFrame);
        var vx = (box.Centre.X - Box.Centre.X) / steps;
        var vy = (box.Centre.Y - Box.Centre.Y) / steps;
        // Smoothed, so that one jittery detection does not throw the prediction off.
        velocityX = Hits == 1 ? vx : (0.5f * vx) + (0.5f * velocityX);
        velocityY = Hits == 1 ? vy : (0.5f * vy) + (0.5f * velocityY);
        Box = box;
        LastFrame = frame;
        Hits++;
        Missed = 0;
    }

    internal void Miss() => Missed++;

    /// <summary>
    /// Whether a face of this quality that passed the gate is worth embedding: the track has none yet, or it
    /// beats the best by <see cref="TrackingOptions.QualityImprovement"/>, or
    /// <see cref="TrackingOptions.ReembedEveryFrames"/> frames have passed since the last embedding; and in
    /// every case only when it would enter the template's best frames (a worse face would change nothing).
    /// </summary>
    public bool WantsEmbedding(float quality, TrackingOptions options) =>
        Template.Count == 0
        || (Template.Admits(quality)
            && (quality > BestQuality * (1 + options.QualityImprovement) || FramesSinceEmbedding + 1 >= options.ReembedEveryFrames));

    /// <summary>Drops the biometric state held in memory (the track has ended).</summary>
    public void Forget() => Template.Clear();
}

/// <summary>An alert raised for a track, and what is still to be written to it.</summary>
public sealed class TrackedAlert(LinkedAlert alert, long entryId, float score, int frames, DateTimeOffset at)
{
    /// <summary>The alert as the recognition link knows it (a stored alert, or a worker's alert key).</summary>
    public LinkedAlert Alert { get; set; } = alert;

    public long EntryId { get; } = entryId;

    public float Score { get; set; } = score;

    public int Frames { get; set; } = frames;

    public DateTimeOffset LastSeen { get; set; } = at;

    public DateTimeOffset WrittenAt { get; set; } = at;

    /// <summary>Last seen or frames changed since the row was last written.</summary>
    public bool Dirty { get; set; }
}
