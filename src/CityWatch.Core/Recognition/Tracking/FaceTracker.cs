using CityWatch.Vision;

namespace CityWatch.Recognition.Tracking;

/// <summary>What one frame did to the tracks: the track of each detection (in the order given), and the tracks that ended.</summary>
public sealed record TrackerStep(IReadOnlyList<Track> Assigned, IReadOnlyList<Track> Ended);

/// <summary>
/// Follows faces across the consecutive analysed frames of one camera. Each track predicts where its box
/// will be (constant, smoothed velocity); detections are matched to tracks greedily, first by IoU with the
/// predicted box (best overlap first), then, for what is left, by the distance of the centres in box
/// widths (nearest first, boxes of similar size only), which keeps a fast-moving face at a low frame rate.
/// A detection left over starts a track; a track missed for more than
/// <see cref="TrackingOptions.MaxMissedFrames"/> frames ends. One instance per camera; not thread-safe
/// (a camera's frames are analysed one at a time).
/// </summary>
public sealed class FaceTracker
{
    private readonly TrackingOptions options;
    private readonly List<Track> tracks = [];
    private long frame = -1;
    private long created;

    public FaceTracker(TrackingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Validate();
    }

    /// <summary>Tracks alive now.</summary>
    public IReadOnlyList<Track> Active => tracks;

    /// <summary>Tracks made so far.</summary>
    public long Created => created;

    /// <summary>
    /// Takes the face boxes of the next frame. After a <paramref name="sceneCut"/> (the picture changed
    /// wholesale), every track ends and each face starts a new one.
    /// </summary>
    public TrackerStep Update(IReadOnlyList<FaceBox> boxes, bool sceneCut = false)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        var cut = sceneCut ? EndAll() : [];
        frame++;
        var assigned = new Track?[boxes.Count];
        var taken = new bool[tracks.Count];
        var predicted = tracks.Select(t => t.PredictedAt(frame)).ToArray();

        var overlaps = new List<(float Iou, int Track, int Box)>();
        for (var t = 0; t < tracks.Count; t++)
        {
            for (var b = 0; b < boxes.Count; b++)
            {
                var iou = predicted[t].IoU(boxes[b]);
                if (iou >= options.MinIoU)
                {
                    overlaps.Add((iou, t, b));
                }
            }
        }

        overlaps.Sort((x, y) => y.Iou.CompareTo(x.Iou));
        Take(overlaps.Select(o => (o.Track, o.Box)), taken, assigned, boxes);

        var near = new List<(float Distance, int Track, int Box)>();
        for (var t = 0; t < tracks.Count; t++)
        {
            if (taken[t])
            {
                continue;
            }

            for (var b = 0; b < boxes.Count; b++)
            {
                if (assigned[b] is not null)
                {
                    continue;
                }

                var width = MathF.Max(predicted[t].Width, boxes[b].Width);
                var ratio = width / MathF.Max(1e-3f, MathF.Min(predicted[t].Width, boxes[b].Width));
                var distance = predicted[t].Centre.DistanceTo(boxes[b].Centre) / MathF.Max(1e-3f, width);
                if (ratio <= options.MaxSizeRatio && distance <= options.MaxCentreDistance)
                {
                    near.Add((distance, t, b));
                }
            }
        }

        near.Sort((x, y) => x.Distance.CompareTo(y.Distance));
        Take(near.Select(n => (n.Track, n.Box)), taken, assigned, boxes);

        var ended = new List<Track>();
        for (var t = tracks.Count - 1; t >= 0; t--)
        {
            if (taken[t])
            {
                continue;
            }

            tracks[t].Miss();
            if (tracks[t].Missed > options.MaxMissedFrames)
            {
                ended.Add(tracks[t]);
                tracks.RemoveAt(t);
            }
        }

        for (var b = 0; b < boxes.Count; b++)
        {
            if (assigned[b] is null)
            {
                var track = new Track(++created, boxes[b], frame, options.TemplateFrames);
                tracks.Add(track);
                assigned[b] = track;
            }
        }

        ended.Reverse();
        return new TrackerStep(assigned!, [.. cut, .. ended]);
    }

    /// <summary>Ends every track (the camera stopped); returns them.</summary>
    public IReadOnlyList<Track> EndAll()
    {
        var ended = tracks.ToList();
        tracks.Clear();
        return ended;
    }

    private void Take(IEnumerable<(int Track, int Box)> pairs, bool[] taken, Track?[] assigned, IReadOnlyList<FaceBox> boxes)
    {
        foreach (var (t, b) in pairs)
        {
            if (taken[t] || assigned[b] is not null)
            {
                continue;
            }

            taken[t] = true;
            assigned[b] = tracks[t];
            tracks[t].Observe(boxes[b], frame);
        }
    }
}
