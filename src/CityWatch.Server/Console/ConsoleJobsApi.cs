using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using CityWatch.Cameras;
using CityWatch.Identity;
using CityWatch.Investigations;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Server.Identity;
using CityWatch.Server.Investigations;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The console's analysis jobs: the list and one job's page for investigators, as <c>GET /api/analyses</c> and
/// <c>GET /api/analyses/{id}</c> admit them (the same camera-scope rule, <see cref="AnalysisJobApi.Sees"/>, and
/// the same recorded 403 for a job outside it). A running job's page follows its progress over server-sent
/// events (an htmx <c>sse-swap</c>) until the job ends; cancelling goes through <see cref="AnalysisJobRunner.Cancel"/>,
/// the code behind <c>POST /api/analyses/{id}/cancel</c>, after the form's antiforgery token is checked.
/// </summary>
internal static class ConsoleJobsApi
{
    /// <summary>How often the progress stream looks at the job again, as the API's own event stream does.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    private const string ListPath = "/console/jobs";

    public static IEndpointRouteBuilder MapConsoleJobs(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/jobs", (AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, IAntiforgery antiforgery, HttpContext http) =>
        {
            var scope = AnalysisJobApi.Scope(http, cameras);
            var shown = jobs.List(1000).Where(j => AnalysisJobApi.Sees(scope, cases, j)).ToList();
            return ConsoleApi.Page<JobsPage>(http, new JobsPageModel(ConsoleApi.Viewer(antiforgery, http), shown));
        }).Allow(Role.Investigator);
        console.MapGet("/jobs/{id:long}", (AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, WatchlistStore watchlists, IAntiforgery antiforgery, HttpContext http, long id) =>
        {
            var job = AnalysisJobApi.InScope(jobs.Get(id), http, cases, cameras);
            return ConsoleApi.Page<JobPage>(http, new JobPageModel(ConsoleApi.Viewer(antiforgery, http), job, WatchlistName(watchlists, job.WatchlistId), cases.Find(job.CaseNumber)?.Id));
        }).Allow(Role.Investigator);
        console.MapGet("/jobs/{id:long}/stream", (AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, ILoggerFactory logs, HttpContext http, long id, CancellationToken ct) =>
        {
            if (!http.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidRequestException("This is an event stream: open it with EventSource (Accept: text/event-stream).");
            }

            var first = AnalysisJobApi.InScope(jobs.Get(id), http, cases, cameras); // 404 or 403 before the stream starts
            return TypedResults.ServerSentEvents(ProgressAsync(jobs, first, logs, http, ct));
        }).Allow(Role.Investigator);
        console.MapPost("/jobs/{id:long}/cancel", async Task<IResult> (AnalysisJobRunner runner, AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, IAntiforgery antiforgery, HttpContext http, long id) =>
        {
            AnalysisJobApi.InScope(jobs.Get(id), http, cases, cameras); // a job outside the caller's scope is refused whatever the form holds
            await ConsoleApi.FormAsync(antiforgery, http);
            runner.Cancel(id);
            return TypedResults.Redirect($"{ListPath}/{id}");
        }).Allow(Role.Investigator);
        return app;
    }

    /// <summary>The job page's cancel form, replaced out of band (htmx) by nothing once the job has ended.</summary>
    private const string NoCancelForm = "<div id=\"job-cancel\" hx-swap-oob=\"true\"></div>";

    /// <summary>
    /// The job's progress as HTML (event <c>progress</c>) whenever it changes, then <c>end</c> once it is final, after
    /// which the stream closes (and the page's <c>sse-close</c> keeps the browser from opening it again).
    /// </summary>
    private static async IAsyncEnumerable<SseItem<string>> ProgressAsync(
        AnalysisJobStore jobs, AnalysisJob first, ILoggerFactory logs, HttpContext http, [EnumeratorCancellation] CancellationToken ct)
    {
        await using var renderer = new HtmlRenderer(http.RequestServices, logs);
        var job = first;
        AnalysisJob? sent = null;
        while (true)
        {
            if (job != sent)
            {
                var shown = job;
                var html = await renderer.Dispatcher.InvokeAsync(async () =>
                    (await renderer.RenderComponentAsync<JobProgress>(ParameterView.FromDictionary(new Dictionary<string, object?> { ["Job"] = shown }))).ToHtmlString());
                yield return new SseItem<string>(html.ReplaceLineEndings(" ") + (job.IsFinal ? NoCancelForm : ""), "progress");
                sent = job;
            }

            if (job.IsFinal)
            {
                yield return new SseItem<string>(JobText.State(job), "end");
                yield break;
            }

            try
            {
                await Task.Delay(ProgressInterval, ct);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }

            job = jobs.Get(job.Id);
        }
    }

    private static string WatchlistName(WatchlistStore watchlists, long id)
    {
        try
        {
            return watchlists.Get(id).Name;
        }
        catch (NotFoundException)
        {
            return $"watchlist {id} (removed)";
        }
    }
}

/// <summary>How the console states where an analysis job stands: a finished job is "completed", as its audit record says.</summary>
internal static class JobText
{
    public static string State(AnalysisJob job) => job.State switch
    {
        AnalysisJobState.Queued => "queued",
        AnalysisJobState.Running => "running",
        AnalysisJobState.Done => "completed",
        AnalysisJobState.Failed => $"failed{(job.Reason is null ? "" : $": {job.Reason}")}",
        AnalysisJobState.Cancelled => $"cancelled{(job.Reason is null ? "" : $": {job.Reason}")}",
        _ => job.State.ToString(),
    };

    /// <summary>Frames done of the total (once ffprobe has told it), and the share.</summary>
    public static string Progress(AnalysisJob job) => job.FramesTotal is { } total
        ? FormattableString.Invariant($"{job.FramesDone} of {total} frames ({job.Percent:0.#} %)")
        : FormattableString.Invariant($"{job.FramesDone} frames (total not known yet)");
}
