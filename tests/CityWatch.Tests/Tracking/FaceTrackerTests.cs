using CityWatch.Recognition.Tracking;
using CityWatch.Vision;

namespace CityWatch.Tests.Tracking;

public sealed class FaceTrackerTests
{
    private static readonly TrackingOptions Options = new();

    [Fact]
    public void A_face_moving_steadily_stays_one_track()
    {
        var tracker = new FaceTracker(Options);
        var ids = new HashSet<Guid>();

        for (var frame = 0; frame < 30; frame++)
        {
            // 12 px per frame, faster each frame, with a little jitter in size.
            var step = tracker.Update([new FaceBox(20 + (frame * 12) + (frame * frame * 0.3f), 100 + (frame % 2), 60 + (frame % 3), 60)]);
            ids.Add(step.Assigned[0].Id);
        }

        Assert.Single(ids);
        Assert.Equal(30, tracker.Active[0].Hits);
    }

    [Fact]
    public void A_face_moving_more_than_its_width_between_frames_keeps_its_track()
    {
        var tracker = new FaceTracker(Options);
        var ids = new HashSet<Guid>();

        for (var frame = 0; frame < 10; frame++)
        {
            // 52 px a frame for a 40 px face: no overlap from one frame to the next.
            ids.Add(tracker.Update([new FaceBox(10 + (frame * 52), 200, 40, 40)]).Assigned[0].Id);
        }

        Assert.Single(ids);
    }

    [Fact]
    public void Two_people_crossing_keep_their_own_tracks()
    {
        var tracker = new FaceTracker(Options);
        Guid? left = null;
        Guid? right = null;

        for (var frame = 0; frame < 20; frame++)
        {
            // One walks right, the other left, a little lower; they overlap around frame 10.
            var a = new FaceBox(40 + (frame * 20), 100, 60, 60);
            var b = new FaceBox(440 - (frame * 20), 112, 60, 60);
            var step = tracker.Update(frame % 2 == 0 ? [a, b] : [b, a]);
            var (ta, tb) = frame % 2 == 0 ? (step.Assigned[0], step.Assigned[1]) : (step.Assigned[1], step.Assigned[0]);
            left ??= ta.Id;
            right ??= tb.Id;
            Assert.Equal(left, ta.Id);
            Assert.Equal(right, tb.Id);
        }

        Assert.Equal(2, tracker.Created);
    }

    [Fact]
    public void A_person_leaving_ends_their_track_and_a_newcomer_gets_a_new_one()
    {
        var tracker = new FaceTracker(Options);
        var first = tracker.Update([new FaceBox(100, 100, 80, 80)]).Assigned[0];
        for (var frame = 1; frame < 5; frame++)
        {
            Assert.Same(first, tracker.Update([new FaceBox(100 + frame, 100, 80, 80)]).Assigned[0]);
        }

        // Gone: the track waits MaxMissedFrames frames, then ends.
        var ended = new List<Track>();
        for (var frame = 0; frame <= Options.MaxMissedFrames; frame++)
        {
            ended.AddRange(tracker.Update([]).Ended);
        }

        var newcomer = tracker.Update([new FaceBox(400, 120, 70, 70)]).Assigned[0];

        Assert.Equal([first], ended);
        Assert.NotSame(first, newcomer);
        Assert.Single(tracker.Active);
        Assert.Equal(2, tracker.Created);
    }

    [Fact]
    public void A_face_missed_for_a_frame_or_two_keeps_its_track()
    {
        var tracker = new FaceTracker(Options);
        var track = tracker.Update([new FaceBox(100, 100, 80, 80)]).Assigned[0];
        tracker.Update([new FaceBox(110, 100, 80, 80)]);
        tracker.Update([]);
        tracker.Update([]);

        // Back where its velocity says it would be.
        var step = tracker.Update([new FaceBox(140, 100, 80, 80)]);

        Assert.Same(track, step.Assigned[0]);
        Assert.Equal(0, track.Missed);
    }

    [Fact]
    public void A_far_away_face_of_another_size_does_not_take_over_a_track()
    {
        var tracker = new FaceTracker(Options);
        var track = tracker.Update([new FaceBox(100, 100, 80, 80)]).Assigned[0];

        var step = tracker.Update([new FaceBox(150, 120, 20, 20)]);

        Assert.NotSame(track, step.Assigned[0]);
        Assert.Equal(1, track.Missed);
    }

    [Fact]
    public void Three_people_arriving_and_leaving_at_different_times_give_three_tracks()
    {
        var tracker = new FaceTracker(Options);
        var ids = new HashSet<Guid>();
        for (var frame = 0; frame < 40; frame++)
        {
            var boxes = new List<FaceBox>();
            if (frame < 25)
            {
                boxes.Add(new FaceBox(50 + (frame * 8), 50, 50, 50));
            }

            if (frame is >= 5 and < 35)
            {
                boxes.Add(new FaceBox(500 - ((frame - 5) * 6), 300, 70, 70));
            }

            if (frame >= 20 && frame % 7 != 0)
            {
                // Detected in most frames only.
                boxes.Add(new FaceBox(300, 200 + (frame - 20), 40, 40));
            }

            foreach (var track in tracker.Update(boxes).Assigned)
            {
                ids.Add(track.Id);
            }
        }

        Assert.Equal(3, ids.Count);
    }

    [Fact]
    public void Ending_every_track_drops_them()
    {
        var tracker = new FaceTracker(Options);
        tracker.Update([new FaceBox(0, 0, 10, 10), new FaceBox(100, 100, 10, 10)]);

        Assert.Equal(2, tracker.EndAll().Count);
        Assert.Empty(tracker.Active);
    }

    [Fact]
    public void A_bad_setting_is_refused_with_its_name()
    {
        var error = Assert.Throws<InvalidRequestException>(() => new FaceTracker(Options with { MaxMissedFrames = -1 }));

        Assert.Contains("MaxMissedFrames", error.Message, StringComparison.Ordinal);
    }
}
