using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition.Tracking;
using CityWatch.Vision;

namespace CityWatch.Recognition;

/// <summary>What one analysed frame gave.</summary>
/// <param name="Faces">Faces detected.</param>
/// <param name="Embedded">Faces embedded (a tracked face is embedded again only when it improves, or now and then).</param>
/// <param name="Alerts">Alerts raised by this frame (new people).</param>
public sealed record FrameOutcome(bool Analysed, int Faces, int Embedded, IReadOnlyList<Alert> Alerts, string? Refusal)
{
    /// <summary>Faces the quality gate turned away in this frame.</summary>
    public int Rejected { get; init; }

    /// <summary>Watchlist searches this frame made: one per track whose template a better face improved.</summary>
    public int Searched { get; init; }

    /// <summary>Existing alerts given a better score and crop by this frame.</summary>
    public IReadOnlyList<Alert> Improved { get; init; } = [];

    /// <summary>Tracks alive after this frame.</summary>
    public int Tracks { get; init; }

    /// <summary>Alerts raised by this frame, counting those a worker sent to the server (which has their rows, so <see cref="Alerts"/> lacks them).</summary>
    public int Raised { get; init; }
}

/// <summary>
/// One camera's recognition state: its current grant, when it may ask again after a refusal, its face
/// tracks, and the alerts it raised recently (by watchlist entry).
/// </summary>
public sealed class CameraRecognitionState(long cameraId)
{
    public long CameraId { get; } = cameraId;

    internal ProcessingGrant? Grant { get; set; }

    internal DateTimeOffset RetryAfter { get; set; } = DateTimeOffset.MinValue;

    internal FaceTracker? Tracker { get; set; }

    internal SceneChange? Scene { get; set; }

    /// <summary>The latest alert per watchlist entry on this camera, so that a person re-found soon after is still one alert.</summary>
    internal Dictionary<long, TrackedAlert> RecentAlerts { get; } = [];

    public string? LastRefusal { get; internal set; }

    /// <summary>Faces analysed since the last write to the statistics, and under which basis.</summary>
    internal (long Basis, long Faces, DateTimeOffset Since) PendingFaces { get; set; }
}

/// <summary>
/// The frame path after ingest: a grant from the policy engine (held while valid, asked again when it
/// expires, so a revoked basis stops processing within the grant's lifetime), detection, tracking, the
/// quality gate, embedding, matching, and alerts. Faces are followed across frames; a track is embedded
/// when its face passes the gate and is better than before (or now and then), keeps its best embedding,
/// and raises one alert per watchlist entry, which later frames update (better score and crop, last seen,
/// frames) instead of repeating. A face or track that matches nothing is dropped here, in memory: its
/// embedding and pixels are never written anywhere. Grants, the gallery and the writes go through an
/// <see cref="IRecognitionLink"/>: in one process the stores (<see cref="InProcessRecognitionLink"/>), on a worker the
/// server over NATS.
/// </summary>
public sealed class FrameAnalyzer(IRecognitionLink link, FacePipeline vision, TimeProvider time, RecognitionOptions options)
{
    /// <summary>The analyser of one process, over the stores.</summary>
    public FrameAnalyzer(
        PolicyEngine policy,
        FacePipeline vision,
        WatchlistStore watchlists,
        WatchlistIndex index,
        AlertStore alerts,
        AlertStatistics statistics,
        AuditTrail audit,
        TimeProvider time,
        RecognitionOptions options)
        : this(new InProcessRecognitionLink(policy, watchlists, index, alerts, statistics, audit, options), vision, time, options)
    {
    }

    public const string CameraActor = "camera-pipeline";

    private static readonly TimeSpan StatisticsInterval = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan RenewBefore = TimeSpan.FromSeconds(2);

    /// <summary>The quality gate shared by every camera; its counters show what it turned away, by reason.</summary>
    public QualityGate Quality { get; } = new(options.Quality);

    public Task<FrameOutcome> AnalyzeAsync(CameraRecognitionState state, BgrImage frame, CancellationToken cancellationToken) =>
        AnalyzeAsync(state, frame, null, cancellationToken);

    /// <param name="capturedAt">When ingest received the frame (<c>VideoFrame.CapturedAt</c>): an alert it raises records it.</param>
    public async Task<FrameOutcome> AnalyzeAsync(CameraRecognitionState state, BgrImage frame, DateTimeOffset? capturedAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(state);
        var grant = await GrantAsync(state, cancellationToken);
        if (grant is null)
        {
            // No processing allowed now: what the tracks hold in memory goes too.
            EndTracks(state);
            return new FrameOutcome(false, 0, 0, [], state.LastRefusal);
        }

        var tracker = state.Tracker ??= new FaceTracker(options.Tracking);
        var faces = vision.Detect(grant, frame);
        var scene = state.Scene ??= new SceneChange(options.Tracking.SceneCutDistance);
        var step = tracker.Update(faces.Select(f => f.Box).ToList(), scene.IsCut(frame));
        var now = time.GetUtcNow();
        CountFaces(state, grant.LegalBasisId, faces.Count, now);
        foreach (var ended in step.Ended)
        {
            End(ended);
        }

        var embedded = 0;
        var searched = 0;
        var rejected = 0;
        var raised = new List<LinkedAlert>();
        var improved = new List<LinkedAlert>();
        for (var i = 0; i < faces.Count; i++)
        {
            var face = faces[i];
            var track = step.Assigned[i];
            foreach (var tracked in track.Alerts.Values)
            {
                tracked.Frames++;
                tracked.LastSeen = now;
                tracked.Dirty = true;
            }

            var quality = Quality.Assess(frame, face);
            if (!quality.Accepted)
            {
                rejected++;
                track.FramesSinceEmbedding++;
            }
            else if (track.WantsEmbedding(quality.Score, options.Tracking))
            {
                var embedding = vision.Embed(grant, frame, face);
                embedded++;
                track.FramesSinceEmbedding = 0;
                // Matched once per improvement of the track's template (a face entered its best frames), not every frame.
                if (track.Template.Add(embedding, quality.Score))
                {
                    searched++;
                    var threshold = link.Threshold(grant);
                    var candidates = link.Search(grant, track.Template.Fused!, threshold, options.TopCandidates);
                    if (candidates.Count > 0)
                    {
                        await AlertAsync(state, grant, frame, face, quality.Score, threshold, track, candidates, now, capturedAt, raised, improved, cancellationToken);
                    }
                }
            }
            else
            {
                track.FramesSinceEmbedding++;
            }

            foreach (var tracked in track.Alerts.Values)
            {
                if (tracked.Dirty && now - tracked.WrittenAt >= options.Tracking.AlertRefreshInterval)
                {
                    Write(tracked, now);
                }
            }
        }

        Prune(state, now);
        return new FrameOutcome(true, faces.Count, embedded, raised.Where(a => a.Stored is not null).Select(a => a.Stored!).ToList(), null)
        {
            Raised = raised.Count,
            Rejected = rejected,
            Searched = searched,
            Improved = improved.Where(a => a.Stored is not null).Select(a => a.Stored!).ToList(),
            Tracks = tracker.Active.Count,
        };
    }

    /// <summary>Ends the camera's tracks (it is stopping): alerts get their final last-seen time and frame count; embeddings are dropped.</summary>
    public void EndTracks(CameraRecognitionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        FlushFaces(state);
        if (state.Tracker is { } tracker)
        {
            foreach (var track in tracker.EndAll())
            {
                End(track);
            }
        }
    }

    // Faces analysed go to the statistics (for the false-alert rate against faces) every few seconds per
    // camera, not every frame: one small write per camera instead of one per frame.
    private void CountFaces(CameraRecognitionState state, long basis, int faces, DateTimeOffset now)
    {
        var pending = state.PendingFaces;
        if (pending.Basis != basis && pending.Faces > 0)
        {
            FlushFaces(state);
            pending = state.PendingFaces;
        }

        state.PendingFaces = (basis, pending.Faces + faces, pending.Faces == 0 ? now : pending.Since);
        if (now - state.PendingFaces.Since >= StatisticsInterval)
        {
            FlushFaces(state);
        }
    }

    private void FlushFaces(CameraRecognitionState state)
    {
        var (basis, faces, since) = state.PendingFaces;
        link.AddFaces(since, state.CameraId, basis, faces);
        state.PendingFaces = (basis, 0, since);
    }

    private async Task AlertAsync(
        CameraRecognitionState state,
        ProcessingGrant grant,
        BgrImage frame,
        DetectedFace face,
        float quality,
        float threshold,
        Track track,
        IReadOnlyList<MatchCandidate> candidates,
        DateTimeOffset now,
        DateTimeOffset? capturedAt,
        List<LinkedAlert> raised,
        List<LinkedAlert> improved,
        CancellationToken cancellationToken)
    {
        var best = candidates[0];
        if (!track.Alerts.TryGetValue(best.EntryId, out var tracked)
            && state.RecentAlerts.TryGetValue(best.EntryId, out var recent) && now - recent.LastSeen < options.AlertCooldown)
        {
            // The same person, re-found on this camera soon after: the earlier alert goes on.
            tracked = recent;
            tracked.Frames++;
            tracked.LastSeen = now;
            tracked.Dirty = true;
            track.Alerts[best.EntryId] = tracked;
        }

        var trace = new CandidateTrace(state.CameraId, track.Id, track.Template.Count, threshold, candidates);
        if (tracked is null)
        {
            var alert = await link.RaiseAsync(
                grant,
                new NewAlert(
                    state.CameraId, best.WatchlistId, best.EntryId, best.Label, grant.LegalBasisId, grant.Id, now, best.Score,
                    threshold, face.Box, Crop(frame, face), track.Id, track.Hits, quality, candidates)
                {
                    CapturedAt = capturedAt,
                    FusedFrames = track.Template.Count,
                },
                trace,
                cancellationToken);
            tracked = new TrackedAlert(alert, best.EntryId, best.Score, track.Hits, now);
            track.Alerts[best.EntryId] = tracked;
            state.RecentAlerts[best.EntryId] = tracked;
            raised.Add(alert);
            return;
        }

        state.RecentAlerts[best.EntryId] = tracked;
        if (best.Score > tracked.Score)
        {
            var alert = await link.ImproveAsync(
                grant,
                tracked.Alert,
                new AlertImprovement(best.Score, face.Box, Crop(frame, face), now, tracked.Frames, quality, candidates, track.Template.Count),
                trace,
                cancellationToken);
            tracked.Alert = alert;
            tracked.Score = best.Score;
            tracked.WrittenAt = now;
            tracked.Dirty = false;
            improved.Add(alert);
        }
    }

    private void End(Track track)
    {
        foreach (var tracked in track.Alerts.Values.Where(t => t.Dirty))
        {
            Write(tracked, tracked.LastSeen);
        }

        track.Alerts.Clear();
        track.Forget();
    }

    private void Write(TrackedAlert tracked, DateTimeOffset now)
    {
        link.Touch(tracked.Alert, tracked.LastSeen, tracked.Frames);
        tracked.WrittenAt = now;
        tracked.Dirty = false;
    }

    private void Prune(CameraRecognitionState state, DateTimeOffset now)
    {
        foreach (var (entry, tracked) in state.RecentAlerts)
        {
            if (now - tracked.LastSeen >= options.AlertCooldown && !tracked.Dirty)
            {
                state.RecentAlerts.Remove(entry);
            }
        }
    }

    private static byte[] Crop(BgrImage frame, DetectedFace face) =>
        ImageCodec.EncodeJpeg(frame, face.Box.ToPixelRect(frame.Width, frame.Height, 0.25f));

    private async Task<ProcessingGrant?> GrantAsync(CameraRecognitionState state, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        // Renew a little before expiry, so that a grant does not run out in the middle of a frame.
        if (state.Grant is { } held && now + RenewBefore < held.ExpiresAt)
        {
            return held;
        }

        state.Grant = null;
        if (now < state.RetryAfter)
        {
            return null;
        }

        var decision = await link.GrantAsync(state.CameraId, cancellationToken);
        if (decision.Grant is null)
        {
            state.LastRefusal = decision.Refusal;
            state.RetryAfter = now + options.RefusalBackoff;
            return null;
        }

        state.LastRefusal = null;
        state.Grant = decision.Grant;
        return decision.Grant;
    }
}
