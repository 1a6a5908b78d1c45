using System.Net;
using System.Net.Http.Json;
using CityWatch.Alerts;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Investigations;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Tests.Governance;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Investigations;

/// <summary>
/// Analysis jobs and their candidates under the investigator's camera scope, as /api/alerts applies it: a
/// scoped investigator sees, follows and cancels only jobs of cases whose cameras all lie in their scope, and
/// of a job's candidates only those from a camera in it; every refusal is a 403 recorded in the log.
/// </summary>
public sealed class AnalysisJobScopeTests
{
    private static readonly string Lin = TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png");

    [Fact]
    public async Task An_investigator_scoped_to_other_cameras_neither_sees_nor_follows_nor_cancels_the_job_and_each_refusal_is_logged()
    {
        await using var server = await RunningServer.StartAsync();
        var (job, _, elsewhere) = await FinishedJobAsync(server);
        var outsider = await server.AccountAsync("scoped-elsewhere", new RoleGrantInput(Role.Investigator, CameraIds: [elsewhere]));

        var listed = await outsider.GetFromJsonAsync<List<AnalysisJob>>("/api/analyses", ApiCalls.Json);
        Assert.DoesNotContain(listed!, j => j.Id == job.Id);
        Assert.Contains((await server.Investigator.GetFromJsonAsync<List<AnalysisJob>>("/api/analyses", ApiCalls.Json))!, j => j.Id == job.Id);

        string[] refused = [$"/api/analyses/{job.Id}", $"/api/analyses/{job.Id}/events", $"/api/analyses/{job.Id}/candidates"];
        foreach (var path in refused)
        {
            using var response = await outsider.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        using (var cancel = await outsider.PostAsync($"/api/analyses/{job.Id}/cancel", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, cancel.StatusCode);
        }

        var denials = server.Logged(SessionAuthentication.Denied).Where(d => d.Actor == "scoped-elsewhere" && d.Body.Contains($"Analysis job {job.Id}", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, denials.Count);
        Assert.Contains(denials, d => d.Body.Contains($"/api/analyses/{job.Id}/cancel", StringComparison.Ordinal));
        Assert.Equal(AnalysisJobState.Done, (await server.Investigator.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{job.Id}", ApiCalls.Json))!.State);
    }

    [Fact]
    public async Task An_investigator_scoped_to_the_cases_cameras_sees_the_job_but_only_candidates_from_a_camera_in_scope()
    {
        await using var server = await RunningServer.StartAsync();
        var (job, caseCamera, _) = await FinishedJobAsync(server);
        var insider = await server.AccountAsync("scoped-here", new RoleGrantInput(Role.Investigator, CameraIds: [caseCamera]));

        Assert.Contains((await insider.GetFromJsonAsync<List<AnalysisJob>>("/api/analyses", ApiCalls.Json))!, j => j.Id == job.Id);
        Assert.Equal(job.Id, (await insider.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{job.Id}", ApiCalls.Json))!.Id);

        // The uploaded photo came from no camera: its candidate, which the unscoped investigator sees, is
        // outside any camera scope, as the same alert is on /api/alerts.
        var all = await server.Investigator.GetFromJsonAsync<List<Alert>>($"/api/analyses/{job.Id}/candidates", ApiCalls.Json);
        var candidate = Assert.Single(all!);
        Assert.Null(candidate.CameraId);
        Assert.Empty((await insider.GetFromJsonAsync<List<Alert>>($"/api/analyses/{job.Id}/candidates", ApiCalls.Json))!);
        using var alert = await insider.GetAsync($"/api/alerts/{candidate.Id}");
        Assert.Equal(HttpStatusCode.Forbidden, alert.StatusCode);
    }

    // A finished job over one photo of the sought person, for a case on the first of two cameras.
    private static async Task<(AnalysisJob Job, long CaseCamera, long Elsewhere)> FinishedJobAsync(RunningServer server)
    {
        var watchlist = await server.AddWatchlistAsync("sought");
        var caseCamera = await server.AddCameraAsync("CAM-1", null);
        var elsewhere = await server.AddCameraAsync("CAM-2", null);
        var basis = await server.AddActiveBasisAsync([caseCamera.Id, elsewhere.Id], [watchlist.Id], ProcessingPurpose.Enrolment, ProcessingPurpose.Retrospective);
        using (var enrolled = await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", Lin))
        {
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        }

        await server.OpenCaseAsync(basis, "PD-2026-77", caseCamera.Id);
        using var form = new MultipartFormDataContent { { new ByteArrayContent(await File.ReadAllBytesAsync(Lin)), "file", "probe.png" } };
        using var response = await server.Investigator.PostAsync("/api/analyses?watchlist=sought&case=PD-2026-77", form);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = (await response.Content.ReadFromJsonAsync<AnalysisJob>(ApiCalls.Json))!;
        await RunningServer.WaitUntilAsync(
            async () => (await server.Investigator.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{job.Id}", ApiCalls.Json))!.IsFinal,
            TimeSpan.FromMinutes(2),
            "the analysis job to finish");
        return ((await server.Investigator.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{job.Id}", ApiCalls.Json))!, caseCamera.Id, elsewhere.Id);
    }
}
