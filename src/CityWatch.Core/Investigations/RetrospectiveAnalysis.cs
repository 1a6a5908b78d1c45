using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Ingest;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Recognition.Tracking;
using CityWatch.Vision;

namespace CityWatch.Investigations;

/// <summary>
/// Runs one analysis job: a retrospective grant for the job's case and watchlist (asked again every few
/// seconds, so a revoked basis or closed case stops the job within about
/// <see cref="PolicyEngine.GrantLifetime"/> minus <see cref="RenewBefore"/>), the video decoded at the
/// job's rate, faces detected and followed with the camera path's tracker and quality gate, embedded and
/// matched. Each track that matched becomes one candidate alert when it ends (its time range in the video,
/// the crop and score of its best-matching face, the threshold, the top candidates), sealed like a live
/// alert and logged in its transaction. Tracks that matched nothing are dropped in memory: no row, no
/// crop, no embedding. Throws <see cref="PolicyRefusedException"/> when the policy stops the job.
/// </summary>
public sealed class RetrospectiveAnalysis(
    PolicyEngine policy,
    FacePipeline vision,
    WatchlistIndex index,
    AlertStore alerts,
    AnalysisJobStore jobs,
    AuditTrail audit,
    TimeProvider time,
    RecognitionOptions options)
{
    /// <summary>The grant is asked for again when less than this is left of it: every ~3 s with 10-second grants.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromSeconds(7);

    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(0.5);

    private readonly QualityGate quality = new(options.Quality);

    public float Threshold => options.CurrentThreshold;

    /// <summary>Runs the job to its end; <paramref name="progress"/> holds the counts so far (also when it throws).</summary>
    public async Task RunAsync(AnalysisJob job, string mediaPath, Counts progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(progress);
        var request = new PolicyRequest(job.CreatedBy, ProcessingPurpose.Retrospective, null, [job.WatchlistId], job.CaseNumber);
        var grant = await policy.RequireAsync(request, cancellationToken);
        progress.LegalBasisId = grant.LegalBasisId;
        var run = new Run(job, new FaceTracker(options.Tracking), new SceneChange(options.Tracking.SceneCutDistance));
        var lastReport = time.GetUtcNow();
        try
        {
            if (!MediaAnalyzer.IsVideo(mediaPath) && !mediaPath.Contains("://", StringComparison.Ordinal))
            {
                progress.FramesTotal = 1;
                var image = ImageCodec.Decode(await File.ReadAllBytesAsync(mediaPath, cancellationToken), job.Source);
                await FrameAsync(run, grant, image, TimeSpan.Zero, progress, cancellationToken);
            }
            else
            {
                var ingest = new IngestOptions { AnalysisFps = job.Fps, Width = job.Width }.Validate();
                if (await MediaDuration.ProbeAsync(mediaPath, ingest, cancellationToken) is { } duration)
                {
                    progress.FramesTotal = Math.Max(1, (long)Math.Ceiling(duration.TotalSeconds * job.Fps));
                }

                jobs.Report(job.Id, progress.Snapshot());
                try
                {
                    await foreach (var frame in FrameSource.ReadFileAsync(mediaPath, ingest, time, cancellationToken))
                    {
                        if (time.GetUtcNow() >= grant.ExpiresAt - RenewBefore)
                        {
                            grant = await policy.RequireAsync(request, cancellationToken);
                            progress.LegalBasisId = grant.LegalBasisId;
                        }

                        await FrameAsync(run, grant, frame.Image, frame.Position ?? TimeSpan.FromSeconds(progress.FramesDone / job.Fps), progress, cancellationToken);
                        if (time.GetUtcNow() - lastReport >= ReportEvery)
                        {
                            jobs.Report(job.Id, progress.Snapshot());
                            lastReport = time.GetUtcNow();
                        }
                    }
                }
                catch (IngestException e)
                {
                    throw new InvalidRequestException(e.Message.Replace(mediaPath, job.Source, StringComparison.Ordinal));
                }
            }

            foreach (var track in run.Tracker.EndAll())
            {
                await EndAsync(run, track, grant, progress, cancellationToken);
            }
        }
        finally
        {
            // Whatever happened, what the open tracks hold in memory goes.
            foreach (var track in run.Tracker.EndAll())
            {
                track.Forget();
            }

            run.Tracks.Clear();
        }
    }

    private async Task FrameAsync(Run run, ProcessingGrant grant, BgrImage image, TimeSpan position, Counts progress, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var faces = vision.Detect(grant, image);
        var step = run.Tracker.Update(faces.Select(f => f.Box).ToList(), run.Scene.IsCut(image));
        foreach (var ended in step.Ended)
        {
            await EndAsync(run, ended, grant, progress, cancellationToken);
        }

        for (var i = 0; i < faces.Count; i++)
        {
            var face = faces[i];
            var track = step.Assigned[i];
            var state = run.Tracks.TryGetValue(track.Id, out var known) ? known : run.Tracks[track.Id] = new TrackState(position);
            state.Until = position;
            var assessed = quality.Assess(image, face);
            if (!assessed.Accepted)
            {
                track.FramesSinceEmbedding++;
                continue;
            }

            if (!track.WantsEmbedding(assessed.Score, options.Tracking))
            {
                track.FramesSinceEmbedding++;
                continue;
            }

            var embedding = vision.Embed(grant, image, face);
            track.FramesSinceEmbedding = 0;
            // The track's fused template is matched once per improvement (a face entered its best frames).
            if (!track.Template.Add(embedding, assessed.Score))
            {
                continue;
            }

            var candidates = index.Search(grant, track.Template.Fused!, options.CurrentThreshold, options.TopCandidates);
            if (candidates.Count == 0)
            {
                continue;
            }

            progress.Matches++;
            state.MatchedFrames++;
            if (state.Best is null || candidates[0].Score > state.Best[0].Score)
            {
                state.Best = candidates;
                state.Box = face.Box;
                state.Quality = assessed.Score;
                state.FusedFrames = track.Template.Count;
                state.Crop = ImageCodec.EncodeJpeg(image, face.Box.ToPixelRect(image.Width, image.Height, 0.25f));
            }
        }

        progress.Faces += faces.Count;
        progress.FramesDone++;
    }

    // A track ended: if it matched, it becomes one candidate; either way its state in memory goes.
    private async Task EndAsync(Run run, Track track, ProcessingGrant grant, Counts progress, CancellationToken cancellationToken)
    {
        track.Forget();
        if (!run.Tracks.Remove(track.Id, out var state) || state.Best is not { } candidates || state.Crop is null || state.Box is not { } box)
        {
            return;
        }

        var best = candidates[0];
        var now = time.GetUtcNow();
        var threshold = options.CurrentThreshold;
        var jobId = run.Job.Id;
        var (_, staged) = alerts.Add(
            new NewAlert(null, best.WatchlistId, best.EntryId, best.Label, grant.LegalBasisId, grant.Id, now, best.Score, threshold, box, state.Crop, track.Id, state.MatchedFrames, state.Quality, candidates)
            {
                Retrospective = (jobId, state.From, state.Until),
                FusedFrames = state.FusedFrames,
            },
            audit,
            alertId => new AuditRecord(
                run.Job.CreatedBy,
                AnalysisJobActions.Candidate,
                "candidate",
                grant.LegalBasisId,
                run.Job.CaseNumber,
                new Dictionary<string, string>
                {
                    ["alert"] = Invariant(alertId),
                    ["job"] = Invariant(jobId),
                    ["watchlist"] = Invariant(best.WatchlistId),
                    ["entry"] = Invariant(best.EntryId),
                    ["score"] = best.Score.ToString("0.0000", CultureInfo.InvariantCulture),
                    ["threshold"] = threshold.ToString("0.0000", CultureInfo.InvariantCulture),
                    ["grant"] = grant.Id.ToString(),
                    ["track"] = track.Id.ToString("N"),
                    ["from"] = state.From.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture),
                    ["until"] = state.Until.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture),
                    ["fused"] = Invariant(state.FusedFrames),
                },
                candidates.Count));
        state.Crop = null;
        progress.Candidates++;
        await audit.CommittedAsync(staged!, cancellationToken);
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A job's counts while it runs, and the basis its grants came from.</summary>
    public sealed class Counts
    {
        public long FramesDone { get; set; }

        public long? FramesTotal { get; set; }

        public long Faces { get; set; }

        public long Matches { get; set; }

        public long Candidates { get; set; }

        public long? LegalBasisId { get; set; }

        public AnalysisProgress Snapshot() => new(FramesDone, FramesTotal, Faces, Matches, Candidates);
    }

    private sealed record Run(AnalysisJob Job, FaceTracker Tracker, SceneChange Scene)
    {
        public Dictionary<Guid, TrackState> Tracks { get; } = [];
    }

    // What a track of this job holds in memory: where it was seen, and, once it matched, its best match and crop.
    private sealed class TrackState(TimeSpan from)
    {
        public TimeSpan From { get; } = from;

        public TimeSpan Until { get; set; } = from;

        public int MatchedFrames { get; set; }

        public IReadOnlyList<MatchCandidate>? Best { get; set; }

        public FaceBox? Box { get; set; }

        public float? Quality { get; set; }

        /// <summary>How many faces the fused template that gave <see cref="Best"/> held.</summary>
        public int FusedFrames { get; set; }

        public byte[]? Crop { get; set; }
    }
}
