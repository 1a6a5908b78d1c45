using System.Globalization;
using System.Security.Cryptography;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Ingest;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Vision;

namespace CityWatch.Recognition;

/// <summary>One face found in supplied media, with the watchlist entries it matched (best first; empty if none).</summary>
public sealed record FaceFinding(long Frame, TimeSpan Position, FaceBox Box, float DetectorScore, IReadOnlyList<MatchCandidate> Matches);

/// <summary>What an analysis of an image or a video found. Held in memory and shown; never stored.</summary>
public sealed record MediaReport(string File, bool IsVideo, long Frames, IReadOnlyList<FaceFinding> Faces)
{
    public int Matches => Faces.Count(f => f.Matches.Count > 0);
}

/// <summary>
/// Retrospective analysis of supplied media (an image, or a video decoded by ffmpeg at the analysis
/// rate) against one watchlist, for a case, under a retrospective grant from the policy engine (asked
/// again whenever it expires during a long video). The act is logged with its case id and result counts.
/// </summary>
public sealed class MediaAnalyzer(PolicyEngine policy, FacePipeline vision, WatchlistIndex index, AuditTrail audit, TimeProvider time, RecognitionOptions options)
{
    private static readonly string[] VideoExtensions = [".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts", ".m4v"];

    public static bool IsVideo(string path) => VideoExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    public async Task<MediaReport> AnalyzeAsync(
        string path, long watchlistId, string? caseId, string actor, IngestOptions videoOptions, IProgress<TimeSpan>? progress, CancellationToken cancellationToken,
        string? displayName = null)
    {
        displayName ??= Path.GetFileName(path);
        if (!File.Exists(path))
        {
            throw new InvalidRequestException($"No such file: {path}");
        }

        var request = new PolicyRequest(actor, ProcessingPurpose.Retrospective, null, [watchlistId], caseId);
        var grant = await policy.RequireAsync(request, cancellationToken);
        var findings = new List<FaceFinding>();
        long frames = 0;
        var video = IsVideo(path);
        if (video)
        {
            try
            {
                await foreach (var frame in FrameSource.ReadFileAsync(path, videoOptions, time, cancellationToken))
                {
                    // Renewed well before it expires, so that no frame starts on a grant that lapses mid-frame.
                    if (time.GetUtcNow() >= grant.ExpiresAt - RenewBefore)
                    {
                        grant = await policy.RequireAsync(request, cancellationToken);
                    }

                    Analyze(grant, frame.Image, frames++, frame.Position ?? TimeSpan.Zero, findings);
                    progress?.Report(frame.Position ?? TimeSpan.Zero);
                }
            }
            catch (IngestException e)
            {
                throw new InvalidRequestException(e.Message.Replace(path, displayName, StringComparison.Ordinal));
            }
        }
        else
        {
            Analyze(grant, ImageCodec.Decode(await File.ReadAllBytesAsync(path, cancellationToken), displayName), frames++, TimeSpan.Zero, findings);
        }

        var report = new MediaReport(displayName, video, frames, findings);
        await audit.AppendAsync(
            new AuditRecord(
                actor,
                AuditActions.Analysis,
                "completed",
                grant.LegalBasisId,
                caseId,
                new Dictionary<string, string>
                {
                    ["watchlist"] = watchlistId.ToString(CultureInfo.InvariantCulture),
                    ["frames"] = frames.ToString(CultureInfo.InvariantCulture),
                    ["faces"] = findings.Count.ToString(CultureInfo.InvariantCulture),
                    ["threshold"] = options.CurrentThreshold.ToString("0.0000", CultureInfo.InvariantCulture),
                },
                report.Matches,
                [$"sha256:{Convert.ToHexStringLower(await HashAsync(path, cancellationToken))}"]),
            cancellationToken);
        return report;
    }

    private static readonly TimeSpan RenewBefore = TimeSpan.FromSeconds(5);

    private void Analyze(ProcessingGrant grant, BgrImage image, long frame, TimeSpan position, List<FaceFinding> findings)
    {
        foreach (var face in vision.Detect(grant, image))
        {
            var matches = face.InterEyeDistance < options.Quality.MinInterEyeDistance
                ? []
                : index.Search(grant, vision.Embed(grant, image, face), options.CurrentThreshold, options.TopCandidates);
            findings.Add(new FaceFinding(frame, position, face.Box, face.Score, matches));
        }
    }

    private static async Task<byte[]> HashAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        return await SHA256.HashDataAsync(stream, cancellationToken);
    }
}
