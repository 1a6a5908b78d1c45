using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Investigations;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Tests.Investigations;
using CityWatch.Tests.Portal;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Playwright;

namespace CityWatch.Tests.OperatorConsole;

/// <summary>
/// The console's analysis jobs in real Chromium against the real server: a job started through the API shows
/// its progress growing on its page over server-sent events and ends "completed" there, without a reload; the
/// investigator cancels a running job from its page; an investigator scoped to other cameras and an operator
/// are refused (403, as the API refuses them); both pages are axe-clean.
/// </summary>
public sealed class ConsoleJobsTests(Chromium chromium) : IClassFixture<Chromium>
{
    private static readonly string Lin = TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png");

    [Fact]
    public async Task A_job_started_through_the_API_shows_its_progress_growing_and_ends_completed_on_its_page_without_reload()
    {
        await using var server = await RunningServer.StartAsync();
        var (caseId, _) = await CaseAsync(server, "PD-2026-51");
        var job = await SubmitAsync(server, "PD-2026-51", fps: 4);

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "investigator");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = "Analysis jobs" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, "/console/jobs").ToString());
        await Assertions.Expect(visitor.Page.Locator($"tr[data-job='{job.Id}'] td").First).ToHaveTextAsync("PD-2026-51");
        await visitor.AssertAccessibleAsync();
        await visitor.ScreenshotAsync("console-jobs");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = $"Job {job.Id}" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, $"/console/jobs/{job.Id}").ToString());

        // Mark the document, and write down every count of frames the page shows from now on.
        await visitor.Page.EvaluateAsync(
            """
            () => {
              window.jobFrames = [];
              window.notReloaded = true;
              const seen = () => { const p = document.getElementById("job-progress"); if (p) window.jobFrames.push(Number(p.dataset.frames)); };
              seen();
              new MutationObserver(seen).observe(document.getElementById("job-live"), { childList: true, subtree: true });
            }
            """);
        await visitor.AssertAccessibleAsync();
        await Assertions.Expect(visitor.Page.Locator("#job-state")).ToHaveTextAsync("completed", new() { Timeout = 600_000 });

        var done = await server.Investigator.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{job.Id}", ApiCalls.Json);
        Assert.Equal(AnalysisJobState.Done, done!.State);
        Assert.True(await visitor.Page.EvaluateAsync<bool>("() => window.notReloaded === true"), "the page was reloaded");
        var frames = await visitor.Page.EvaluateAsync<long[]>("() => window.jobFrames");
        Assert.True(frames.Distinct().Count() >= 3, $"the page showed the frames {string.Join(", ", frames)}");
        Assert.Equal(frames.Order(), frames);
        Assert.Equal(done.FramesDone, frames[^1]);
        await Assertions.Expect(visitor.Page.Locator("#job-progress")).ToHaveTextAsync(
            string.Create(CultureInfo.InvariantCulture, $"{done.FramesDone} of {done.FramesDone} frames (100 %)"));
        await Assertions.Expect(visitor.Page.Locator("#job-candidates")).ToHaveTextAsync(done.Candidates.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(0, await visitor.Page.Locator("#cancel-job").CountAsync());
        await visitor.AssertAccessibleAsync();

        // The case page's job row links to the job.
        await visitor.OpenAsync(server.Address, $"/console/cases/{caseId}");
        await Assertions.Expect(visitor.Page.Locator($"#jobs tr[data-job='{job.Id}'] td.state")).ToHaveTextAsync("completed");
        await visitor.Page.GetByRole(AriaRole.Link, new() { Name = $"Job {job.Id}" }).ClickAsync();
        await visitor.Page.WaitForURLAsync(new Uri(server.Address, $"/console/jobs/{job.Id}").ToString());
        await Assertions.Expect(visitor.Page.Locator("#job-state")).ToHaveTextAsync("completed");
        visitor.AssertNoProblems();
    }

    [Fact]
    public async Task The_investigator_cancels_a_running_job_from_its_page_and_a_role_outside_scope_is_refused()
    {
        await using var server = await RunningServer.StartAsync();
        var (_, elsewhere) = await CaseAsync(server, "PD-2026-52");
        var job = await SubmitAsync(server, "PD-2026-52", fps: AnalysisVideo.Fps);

        // An investigator scoped to another camera neither sees the job nor opens, follows or cancels it; an operator opens no job page.
        var outsider = await server.AccountAsync("scoped-elsewhere", new RoleGrantInput(Role.Investigator, CameraIds: [elsewhere]));
        using (var list = await outsider.GetAsync("/console/jobs"))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            Assert.DoesNotContain("PD-2026-52", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        foreach (var path in new[] { $"/console/jobs/{job.Id}", $"/console/jobs/{job.Id}/stream" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { { "Accept", "text/event-stream" } } };
            using var refused = await outsider.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        using (var cancel = await outsider.PostAsync($"/console/jobs/{job.Id}/cancel", new FormUrlEncodedContent([])))
        {
            Assert.Equal(HttpStatusCode.Forbidden, cancel.StatusCode);
        }

        Assert.Contains(server.Logged(SessionAuthentication.Denied), d => d.Actor == "scoped-elsewhere" && d.Body.Contains($"Analysis job {job.Id}", StringComparison.Ordinal));
        foreach (var path in new[] { "/console/jobs", $"/console/jobs/{job.Id}" })
        {
            using var refused = await server.Operator.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        await using var visitor = await chromium.VisitorAsync();
        await visitor.SignInAsync(server, "investigator");
        await visitor.OpenAsync(server.Address, $"/console/jobs/{job.Id}");
        // The page follows the job from queued to running over its stream, then the running job is cancelled.
        await Assertions.Expect(visitor.Page.Locator("#job-state")).ToHaveTextAsync("running", new() { Timeout = 120_000 });
        await visitor.ScreenshotAsync("console-job");
        await visitor.Page.GetByRole(AriaRole.Button, new() { Name = $"Cancel job {job.Id}" }).ClickAsync();
        await Assertions.Expect(visitor.Page.Locator("#job-state")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^cancelled"), new() { Timeout = 30_000 });
        Assert.Equal(AnalysisJobState.Cancelled, (await server.Investigator.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{job.Id}", ApiCalls.Json))!.State);
        var end = Assert.Single(server.Logged(AuditActions.Analysis), r => r.CaseId == "PD-2026-52");
        Assert.Equal(("investigator", "cancelled"), (end.Actor, end.Outcome));
        Assert.Equal(0, await visitor.Page.Locator("#cancel-job").CountAsync());
        await visitor.AssertAccessibleAsync();
        visitor.AssertNoProblems();
    }

    // A case on the first of two cameras, under a basis for both, with the sought person enrolled; the case's id and the other camera.
    private static async Task<(long CaseId, long Elsewhere)> CaseAsync(RunningServer server, string number)
    {
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var elsewhere = await server.AddCameraAsync("CAM-2", null);
        var basis = await server.AddActiveBasisAsync([camera.Id, elsewhere.Id], [watchlist.Id], ProcessingPurpose.Enrolment, ProcessingPurpose.Retrospective);
        using (var enrolled = await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", Lin))
        {
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        }

        return ((await server.OpenCaseAsync(basis, number, camera.Id)).Id, elsewhere.Id);
    }

    private static async Task<AnalysisJob> SubmitAsync(RunningServer server, string caseNumber, double fps)
    {
        var path = await AnalysisVideo.PathAsync();
        await using var stream = File.OpenRead(path);
        using var form = new MultipartFormDataContent { { new StreamContent(stream), "file", Path.GetFileName(path) } };
        using var response = await server.Investigator.PostAsync(string.Create(CultureInfo.InvariantCulture, $"/api/analyses?watchlist=sought&case={caseNumber}&fps={fps}"), form);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<AnalysisJob>(ApiCalls.Json))!;
    }
}
