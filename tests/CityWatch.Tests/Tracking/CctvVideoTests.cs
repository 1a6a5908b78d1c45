using System.Security.Cryptography;
using CityWatch.Alerts;
using CityWatch.Grants;
using CityWatch.Investigations;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Tests.Support;
using CityWatch.Tests.Vision;
using CityWatch.Vision;
using Xunit.Abstractions;

namespace CityWatch.Tests.Tracking;

/// <summary>
/// Issue 14's video proof: the CCTV-quality video (<see cref="CctvVideo"/>: 1280x720, faces 42-52 px, softened,
/// 300 kbit/s H.264) analysed as a retrospective job at 5 frames/s against a watchlist holding Barack Obama
/// (enrolled from another photo) and Rose Leslie (who never appears). Obama crosses the picture twice, Joe
/// Biden (not enrolled) once in between.
/// </summary>
[Collection(VisionCollection.Name)]
public sealed class CctvVideoTests(VisionFixture vision, ITestOutputHelper output)
{
    [Fact]
    public async Task A_cctv_quality_video_gives_one_fused_candidate_per_appearance_of_the_watchlisted_person_and_none_for_the_others()
    {
        using var city = new TestCity();
        var video = await CctvVideo.MakeAsync(vision.Pipeline, vision.Grant);
        var watchlist = city.Watchlists.Create(new WatchlistInput("sought", "test"), "test");
        var basis = await city.ActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Retrospective, ProcessingPurpose.Enrolment);
        await city.OpenCaseAsync(basis, "CCTV-1");
        using var pipeline = new FacePipeline(VisionFixture.Options, city.Time);
        var enrolment = new Enrolment(city.Watchlists, city.LegalBases, city.Policy, pipeline, city.Audit, city.Time);
        (string Label, string[] Photo)[] people =
        [
            ("obama", ["ageitgey", "examples", "obama.jpg"]),
            ("rose_leslie", ["ageitgey", "examples", "knn_examples", "train", "rose_leslie", "img1.jpg"]),
        ];
        foreach (var (label, photo) in people)
        {
            var path = TestPaths.Faces(photo);
            await enrolment.EnrolAsync(
                watchlist.Id, new EntryInput(label, "test", "shared test photo"), [new EnrolmentPhoto(Path.GetFileName(path), await File.ReadAllBytesAsync(path))], "test");
        }

        Assert.Null(city.Watchlists.Approve(watchlist.Id, TestCity.Approver).Refusal);
        var alerts = new AlertStore(city.Database, Path.Combine(city.Directory, "evidence"));
        var jobs = new AnalysisJobStore(city.Database, city.Audit, city.Time);
        var options = new RecognitionOptions();
        var analysis = new RetrospectiveAnalysis(city.Policy, pipeline, new WatchlistIndex(city.Watchlists, city.Time), alerts, jobs, city.Audit, city.Time, options);
        var job = await jobs.CreateAsync(
            new NewAnalysisJob("CCTV-1", watchlist.Id, "cctv-720p.mp4", video, false, 5, CctvVideo.Width, Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(video)))),
            basis.Id,
            "test-investigator");
        var counts = new RetrospectiveAnalysis.Counts();

        await analysis.RunAsync(job, video, counts, CancellationToken.None);

        var candidates = alerts.ForJob(job.Id).OrderBy(a => a.MediaFrom).ToList();
        output.WriteLine($"frames {counts.FramesDone}, faces {counts.Faces}, matching searches {counts.Matches}, candidates {counts.Candidates}");
        foreach (var c in candidates)
        {
            output.WriteLine($"{c.Label} {c.MediaFrom}..{c.MediaUntil} score {c.Score:0.000} fused {c.FusedFrames} quality {c.Quality:0.000} box {c.Box.Width:0}px");
        }

        var obama = CctvVideo.Appearances.Where(a => a.Identity == "obama").ToList();
        Assert.Equal(obama.Count, candidates.Count);
        for (var i = 0; i < obama.Count; i++)
        {
            var candidate = candidates[i];
            Assert.Equal(("obama", AlertStore.Retrospective), (candidate.Label, candidate.Source));
            // Within the appearance (analysed frames fall up to one frame interval either side of its edges).
            Assert.InRange(candidate.MediaFrom!.Value, obama[i].From - TimeSpan.FromSeconds(0.2), obama[i].Until);
            Assert.InRange(candidate.MediaUntil!.Value, obama[i].From, obama[i].Until + TimeSpan.FromSeconds(0.2));
            Assert.True(candidate.Score >= candidate.Threshold, $"score {candidate.Score}");
            // The score is the fused template's, and the template held more than one face of the track.
            Assert.InRange(candidate.FusedFrames ?? 0, 2, options.Tracking.TemplateFrames);
        }

        Assert.DoesNotContain(candidates, c => c.TopCandidates.Any(t => t.Label == "rose_leslie"));
        // Joe Biden, who is not enrolled, gave nothing; faces that matched nothing left no crop or row.
        var biden = CctvVideo.Appearances.Single(a => a.Identity == "biden");
        Assert.DoesNotContain(candidates, c => c.MediaUntil > biden.From && c.MediaFrom < biden.Until);
        Assert.Equal(candidates.Count, Directory.GetFiles(alerts.EvidenceDirectory).Length);
        Assert.Equal(candidates.Count, alerts.All().Count);
    }
}
