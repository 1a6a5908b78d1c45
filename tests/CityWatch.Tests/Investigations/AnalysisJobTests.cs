using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Ingest;
using CityWatch.Investigations;
using CityWatch.Policy;
using CityWatch.Server;
using CityWatch.Tests.Governance;
using CityWatch.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Investigations;

/// <summary>
/// Issue 10 items 1 and 2 on the real server: an analysis runs as a job longer than its grants, reports its
/// progress by polling and by server-sent events, and turns each matching track into one candidate that two
/// verifiers decide on (on a 2-minute video at 10 fps); a revoked basis stops it within seconds with the
/// reason, logged; a 1 GiB upload streams through with bounded memory (in process and to `citywatch serve`,
/// by its peak working set); an upload over the limit is refused with the limit stated and leaves nothing behind.
/// They run alone, after the parallel tests: the 1 GiB upload tests bound the whole test process's working set,
/// which other tests loading models at the same time would inflate.
/// </summary>
[Collection(Alone)]
public sealed class AnalysisJobTests
{
    public const string Alone = "analysis jobs, alone";

    private static readonly string Lin = TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png");
    private static readonly string Biden = TestPaths.Faces("ageitgey", "examples", "biden.jpg");

    [Fact]
    public async Task A_video_longer_than_the_grant_completes_and_gives_one_candidate_per_appearance_of_the_sought_person_and_none_for_the_absent_one()
    {
        await using var server = await RunningServer.StartAsync();
        var (basis, _) = await CaseAsync(server, "PD-2026-10");
        var video = await AnalysisVideo.PathAsync();

        var queued = await SubmitAsync(server, video, "PD-2026-10");
        var events = await EventsAsync(server, queued.Id);
        var done = await server.Investigator.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{queued.Id}", ApiCalls.Json);

        Assert.Equal(AnalysisJobState.Done, done!.State);
        Assert.Null(done.Reason);
        Assert.Equal(100, done.Percent);
        Assert.Equal(done.FramesTotal, done.FramesDone);
        Assert.InRange(done.FramesDone, 1180, 1210); // 2 minutes at 10 fps
        // The events went up to 100 % and ended with the finished job.
        Assert.Equal((AnalysisJobState.Done, 100.0), (events[^1].State, events[^1].Percent));
        Assert.Contains(events, e => e.State == AnalysisJobState.Running && e.FramesDone > 0 && e.FramesDone < done.FramesDone);
        Assert.Equal(events.Select(e => e.FramesDone).Order(), events.Select(e => e.FramesDone));
        // The job outlived its grants: they were asked for again under the case, enough to cover its whole run
        // (a grant lasts 10 s; one more for the submission), however fast the machine.
        var runtime = done.EndedAt!.Value - done.StartedAt!.Value;
        var grants = server.Logged(AuditActions.PolicyGrant).Count(g => g.CaseId == "PD-2026-10");
        Assert.True(grants >= 2 + (int)(runtime / PolicyEngine.GrantLifetime), $"{grants} grants for a run of {runtime}");

        var candidates = (await server.AlertsAsync()).Items.Where(a => a.AnalysisJobId == queued.Id).OrderBy(a => a.MediaFrom).ToList();
        Assert.Equal(done.Candidates, candidates.Count);
        Assert.All(candidates, c =>
        {
            Assert.Equal(("lin_manuel_miranda", AlertStore.Retrospective, AlertStore.Candidate, (long?)null, basis.Id), (c.Label, c.Source, c.Status, c.CameraId, c.LegalBasisId));
            Assert.True(c.Score >= c.Threshold, $"score {c.Score} under threshold {c.Threshold}");
            Assert.NotEmpty(c.TopCandidates);
            Assert.True(c.MediaUntil > c.MediaFrom, $"{c.MediaFrom}..{c.MediaUntil}");
        });
        // One candidate per appearance: Lin-Manuel Miranda is on screen once in each play, within its first part.
        var plays = candidates.Select(c => (int)((c.MediaFrom!.Value + c.MediaUntil!.Value) / 2 / AnalysisVideo.Play)).ToList();
        Assert.True(Enumerable.Range(0, AnalysisVideo.Plays).SequenceEqual(plays), string.Join("; ", candidates.Select(c => $"{c.MediaFrom}..{c.MediaUntil} {c.Score:0.000}")));
        Assert.All(candidates, c => Assert.True(
            c.MediaFrom!.Value.Ticks % AnalysisVideo.Play.Ticks < AnalysisVideo.Appearance.Ticks && c.MediaUntil!.Value.Ticks % AnalysisVideo.Play.Ticks <= AnalysisVideo.Appearance.Ticks,
            $"{c.MediaFrom}..{c.MediaUntil} is not within an appearance"));
        Assert.DoesNotContain(candidates, c => c.Label == "biden");
        Assert.DoesNotContain(candidates, c => c.TopCandidates.Any(t => t.Label == "biden"));

        // Non-matching faces left no trace: one sealed crop per candidate, nothing else; the upload is gone.
        Assert.Equal(candidates.Count, Directory.GetFiles(server.Options.EvidenceDirectory).Length);
        Assert.Empty(Directory.GetFiles(server.Options.UploadDirectory));
        Assert.Equal(candidates.Count, Rows(server, "SELECT COUNT(*) FROM alerts"));

        // Logged like a live alert, each candidate in its own transaction, and the job's end with its counts.
        Assert.Equal(candidates.Count, server.Logged(AnalysisJobActions.Candidate).Count(r => r.CaseId == "PD-2026-10"));
        var end = await JobEndLoggedAsync(server, "PD-2026-10");
        Assert.Equal(("investigator", "completed", basis.Id), (end.Actor, end.Outcome, end.LegalBasisId));

        // Verified by two people like a live alert; exportable only once confirmed.
        var first = candidates[0];
        using var early = await server.Investigator.PostAsJsonAsync($"/api/alerts/{first.Id}/export", new { purpose = "court", recipient = "prosecutor" }, ApiCalls.Json);
        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        foreach (var verifier in new[] { server.Verifier, server.SecondVerifier })
        {
            using var decided = await verifier.PostAsJsonAsync($"/api/alerts/{first.Id}/decisions", new { decision = "Confirm" }, ApiCalls.Json);
            Assert.Equal(HttpStatusCode.OK, decided.StatusCode);
        }

        using var export = await server.Investigator.PostAsJsonAsync($"/api/alerts/{first.Id}/export", new { purpose = "court", recipient = "prosecutor" }, ApiCalls.Json);
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        Assert.Equal(AlertStore.Confirmed, (await ApiCalls.ReadAsync<Alert>(await server.Operator.GetAsync($"/api/alerts/{first.Id}"))).Status);
    }

    [Fact]
    public async Task Revoking_the_basis_midway_stops_the_job_within_seconds_with_the_reason_and_logs_it()
    {
        await using var server = await RunningServer.StartAsync();
        var (basis, _) = await CaseAsync(server, "PD-2026-11");
        var video = await AnalysisVideo.PathAsync();

        var queued = await SubmitAsync(server, video, "PD-2026-11");
        AnalysisJob? job = null;
        await RunningServer.WaitUntilAsync(
            async () => (job = await GetAsync(server, queued.Id)).FramesDone >= job.FramesTotal / 2 || job.IsFinal, TimeSpan.FromMinutes(5), "the job to be halfway");
        Assert.Equal(AnalysisJobState.Running, job!.State);
        Assert.True(job.Candidates >= 1, $"{job.Candidates} candidates before the revocation");
        await ApiCalls.ReadAsync<LegalBasis>(await server.Dpo.PostAsync($"/api/legal-bases/{basis.Id}/revoke", null));
        // Grants are asked for again every ~3 s: the job stops within that and one frame.
        await RunningServer.WaitUntilAsync(async () => (job = await GetAsync(server, queued.Id)).IsFinal, TimeSpan.FromSeconds(10), "the job to stop after the revocation");

        Assert.Equal(AnalysisJobState.Failed, job.State);
        Assert.StartsWith("stopped by policy: ", job.Reason, StringComparison.Ordinal);
        Assert.True(job.FramesDone < job.FramesTotal, $"{job.FramesDone} of {job.FramesTotal} frames");
        var end = await JobEndLoggedAsync(server, "PD-2026-11");
        Assert.Equal("failed", end.Outcome);
        Assert.Contains(job.Reason!, end.Body, StringComparison.Ordinal);
        Assert.Contains(server.Logged(AuditActions.PolicyRefusal), r => r.CaseId == "PD-2026-11");
        Assert.Empty(Directory.GetFiles(server.Options.UploadDirectory));
    }

    [Fact]
    public async Task A_cancelled_job_stops_is_logged_like_a_finished_one_and_its_upload_is_deleted()
    {
        await using var server = await RunningServer.StartAsync();
        await CaseAsync(server, "PD-2026-13");
        var queued = await SubmitAsync(server, await AnalysisVideo.PathAsync(), "PD-2026-13");
        AnalysisJob? job = null;
        await RunningServer.WaitUntilAsync(
            async () => (job = await GetAsync(server, queued.Id)).FramesDone >= 20 || job.IsFinal, TimeSpan.FromMinutes(3), "the job to be under way");

        using var cancel = await server.Investigator.PostAsync($"/api/analyses/{queued.Id}/cancel", null);
        cancel.EnsureSuccessStatusCode();
        await RunningServer.WaitUntilAsync(async () => (job = await GetAsync(server, queued.Id)).IsFinal, TimeSpan.FromSeconds(10), "the job to stop after the cancel");

        Assert.Equal((AnalysisJobState.Cancelled, "cancelled on request"), (job!.State, job.Reason));
        Assert.True(job.FramesDone < job.FramesTotal, $"{job.FramesDone} of {job.FramesTotal} frames");
        var end = Assert.Single(server.Logged(AuditActions.Analysis), r => r.CaseId == "PD-2026-13");
        Assert.Equal(("investigator", "cancelled"), (end.Actor, end.Outcome));
        Assert.Empty(Directory.GetFiles(server.Options.UploadDirectory));
        using var again = await server.Investigator.PostAsync($"/api/analyses/{queued.Id}/cancel", null);
        Assert.Equal(AnalysisJobState.Cancelled, (await ApiCalls.ReadAsync<AnalysisJob>(again)).State);
    }

    [Fact]
    public async Task An_upload_over_the_limit_is_refused_with_the_limit_stated_and_nothing_stored()
    {
        const long limit = 1024 * 1024;
        await using var server = await RunningServer.StartAsync(configure: o => o with { MaxUploadBytes = limit });
        await CaseAsync(server, "PD-2026-12");
        var tooBig = new byte[(3 * limit) + 1];

        // Declared too big (multipart with a length), and found too big while streaming (chunked, no length).
        using var form = new MultipartFormDataContent { { new ByteArrayContent(tooBig), "file", "big.mp4" } };
        using var declared = await server.Investigator.PostAsync("/api/analyses?watchlist=sought&case=PD-2026-12", form);
        using var chunked = new StreamContent(new UnknownLengthStream(tooBig));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var streamed = await server.Investigator.PostAsync("/api/analyses?watchlist=sought&case=PD-2026-12&name=big.mp4", chunked);

        foreach (var response in new[] { declared, streamed })
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            Assert.Contains($"limit of {limit} bytes (1 MiB", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Empty((await server.Investigator.GetFromJsonAsync<List<AnalysisJob>>("/api/analyses", ApiCalls.Json))!);
        Assert.Equal(0, Rows(server, "SELECT COUNT(*) FROM analysis_jobs"));
        Assert.False(Directory.Exists(server.Options.UploadDirectory) && Directory.EnumerateFileSystemEntries(server.Options.UploadDirectory).Any());
        Assert.Empty(server.Logged(AnalysisJobActions.Queued));
    }

    [Fact]
    public async Task A_1_GiB_upload_streams_to_disk_with_bounded_memory_and_a_body_that_is_no_video_fails_with_the_reason()
    {
        const long size = 1L << 30;
        await using var server = await RunningServer.StartAsync(configure: o => o with { MaxUploadBytes = size + (1 << 20) });
        await CaseAsync(server, "PD-2026-15");
        var client = server.NewClient(server.Tokens["investigator"]);
        client.Timeout = TimeSpan.FromMinutes(10);

        // The test process holds client and server both: its working set, sampled while the gigabyte goes
        // through, bounds what the server holds.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var sampler = new PeakMemory();
        using var body = new GeneratedContent(size);
        using var response = await client.PostAsync("/api/analyses?watchlist=sought&case=PD-2026-15&name=big.mp4", body);
        var (workingSetGrowth, managedGrowth) = sampler.Stop();
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var queued = (await response.Content.ReadFromJsonAsync<AnalysisJob>(ApiCalls.Json))!;

        Assert.Equal(size, body.Written);
        Assert.True(workingSetGrowth < 200L << 20, $"the working set grew by {workingSetGrowth >> 20} MiB during a {size >> 20} MiB upload");
        Assert.True(managedGrowth < 100L << 20, $"the managed heap grew by {managedGrowth >> 20} MiB during a {size >> 20} MiB upload");
        Console.WriteLine($"1 GiB upload: working set +{workingSetGrowth >> 20} MiB, managed heap +{managedGrowth >> 20} MiB at peak");

        // The bytes are no video: the job fails with ffmpeg's reason, is logged, and the gigabyte is deleted.
        AnalysisJob? job = null;
        await RunningServer.WaitUntilAsync(async () => (job = await GetAsync(server, queued.Id)).IsFinal, TimeSpan.FromMinutes(2), "the job to end");
        Assert.Equal(AnalysisJobState.Failed, job!.State);
        Assert.False(string.IsNullOrWhiteSpace(job.Reason));
        Assert.DoesNotContain("internal error", job.Reason, StringComparison.Ordinal);
        Console.WriteLine($"the job failed: {job.Reason}");
        Assert.Equal("failed", Assert.Single(server.Logged(AuditActions.Analysis), r => r.CaseId == "PD-2026-15").Outcome);
        Assert.Empty(Directory.GetFiles(server.Options.UploadDirectory));
    }

    [Fact]
    public async Task A_1_GiB_upload_to_the_served_server_raises_its_peak_working_set_by_far_less_than_the_upload()
    {
        const long size = 1L << 30;
        var data = TestPaths.NewScratchDirectory();
        string secret;
        long? lastStep;
        await using (var setUp = await RunningServer.StartAsync(dataDirectory: data))
        {
            await CaseAsync(setUp, "PD-2026-16");
            secret = setUp.TotpSecret("investigator");
            var store = setUp.Services.GetRequiredService<CityWatch.Identity.IdentityStore>();
            lastStep = store.Credentials(store.FindByName("investigator")!.Id).TotpLastStep;
        }

        // The same data served by `citywatch serve` in its own process, whose peak working set (VmHWM) the kernel keeps.
        var port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port}");
        await using var served = ProcessRunner.Start(
            "dotnet",
            [Path.Combine(AppContext.BaseDirectory, "citywatch.dll"), "serve", "--data", data, "--models", TestPaths.Models, "--urls", address.ToString().TrimEnd('/'), "--kek-file", TestPaths.KekFileFor(data), "--max-upload-mib", "1025"]);
        var draining = served.StandardOutput.CopyToAsync(Stream.Null);
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = address, Timeout = TimeSpan.FromMinutes(10) };
        await RunningServer.WaitUntilAsync(async () => await AnswersAsync(client) || served.HasExited, TimeSpan.FromMinutes(2), "citywatch serve to answer");
        Assert.False(served.HasExited, string.Join(" ", served.ErrorLines));
        var step = Math.Max((TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() / 30) - 1, (lastStep ?? 0) + 1);
        var signedIn = await ApiCalls.ReadAsync<CityWatch.Identity.SignedIn>(await client.PostAsJsonAsync(
            "/api/auth/sign-in", new { username = "investigator", password = RunningServer.Password, totp = RunningServer.Code(secret, DateTimeOffset.FromUnixTimeSeconds(step * 30)) }));
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", signedIn.Token);

        var before = Memory(served.Id);
        using var body = new GeneratedContent(size);
        using var response = await client.PostAsync("/api/analyses?watchlist=sought&case=PD-2026-16&name=big.mp4", body);
        var after = Memory(served.Id);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var queued = (await response.Content.ReadFromJsonAsync<AnalysisJob>(ApiCalls.Json))!;

        // The peak after, less the resident set before: what the upload can have added at most.
        var growth = after.PeakKib - before.ResidentKib;
        Console.WriteLine($"1 GiB upload to citywatch serve: resident {before.ResidentKib >> 10} MiB before, peak {after.PeakKib >> 10} MiB after (was {before.PeakKib >> 10} MiB)");
        Assert.True(growth < 200 << 10, $"the server's peak working set rose {growth >> 10} MiB above its resident set during a {size >> 20} MiB upload");

        AnalysisJob? job = null;
        await RunningServer.WaitUntilAsync(
            async () => (job = (await client.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{queued.Id}", ApiCalls.Json))!).IsFinal, TimeSpan.FromMinutes(2), "the job to end");
        Assert.Equal(AnalysisJobState.Failed, job!.State);
        Assert.Empty(Directory.GetFiles(Path.Combine(data, "uploads")));
        served.Kill();
        await served.WaitForExitAsync();
        await draining;
    }

    [Fact]
    public async Task A_recording_the_city_holds_is_analysed_in_place_and_one_outside_its_folder_is_refused()
    {
        var recordings = TestPaths.NewScratchDirectory();
        File.Copy(TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4"), Path.Combine(recordings, "cam7.mp4"));
        await using var server = await RunningServer.StartAsync(configure: o => o with { RecordingsDirectory = recordings });
        await CaseAsync(server, "PD-2026-14");

        using var outside = await server.Investigator.PostAsync($"/api/analyses?watchlist=sought&case=PD-2026-14&url={Uri.EscapeDataString("file://" + Lin)}", null);
        using var held = await server.Investigator.PostAsync("/api/analyses?watchlist=sought&case=PD-2026-14&url=cam7.mp4", null);
        var queued = await ApiCalls.ReadAsync<AnalysisJob>(held);
        AnalysisJob? job = null;
        await RunningServer.WaitUntilAsync(async () => (job = await GetAsync(server, queued.Id)).IsFinal, TimeSpan.FromMinutes(3), "the job to end");

        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);
        Assert.Contains("outside the recordings folder", await outside.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal((AnalysisJobState.Done, "cam7.mp4"), (job!.State, job.Source));
        Assert.True(job.Candidates >= 1, $"{job.Candidates} candidates");
        // A recording is read in place and never deleted.
        Assert.True(File.Exists(Path.Combine(recordings, "cam7.mp4")));
        Assert.Single(server.Logged(AnalysisJobActions.Queued));
    }

    // A watchlist "sought" with Lin-Manuel Miranda (in the clip) and Joe Biden (not in it), a basis for
    // enrolment and retrospective use, and a case for supplied media.
    /// <summary>
    /// The job's end record: staged in the transaction that ends the job, so it is durable once the job reads as
    /// ended, and in the log once the sequencer has appended it (a moment later on a loaded machine).
    /// </summary>
    private static async Task<LoggedAct> JobEndLoggedAsync(RunningServer server, string caseNumber)
    {
        await RunningServer.WaitUntilAsync(
            () => Task.FromResult(server.Logged(AuditActions.Analysis).Any(r => r.CaseId == caseNumber)), TimeSpan.FromSeconds(30), "the job's end to be logged");
        return Assert.Single(server.Logged(AuditActions.Analysis), r => r.CaseId == caseNumber);
    }

    private static async Task<(LegalBasis Basis, CityWatch.Policy.Case Case)> CaseAsync(RunningServer server, string number)
    {
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id], ProcessingPurpose.Enrolment, ProcessingPurpose.Retrospective);
        foreach (var (label, photo) in new[] { ("lin_manuel_miranda", Lin), ("biden", Biden) })
        {
            using var enrolled = await server.EnrolAsync(watchlist.Id, label, photo);
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        }

        return (basis, await server.OpenCaseAsync(basis, number));
    }

    private static async Task<AnalysisJob> SubmitAsync(RunningServer server, string path, string caseNumber)
    {
        await using var stream = File.OpenRead(path);
        using var form = new MultipartFormDataContent { { new StreamContent(stream), "file", Path.GetFileName(path) } };
        using var response = await server.Investigator.PostAsync($"/api/analyses?watchlist=sought&case={caseNumber}&fps={AnalysisVideo.Fps}", form);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<AnalysisJob>(ApiCalls.Json))!;
    }

    private static async Task<AnalysisJob> GetAsync(RunningServer server, long id) =>
        (await server.Investigator.GetFromJsonAsync<AnalysisJob>($"/api/analyses/{id}", ApiCalls.Json))!;

    // Follows the job's server-sent events to the end.
    private static async Task<List<AnalysisJob>> EventsAsync(RunningServer server, long id)
    {
        var client = server.NewClient(server.Tokens["investigator"]);
        client.Timeout = TimeSpan.FromMinutes(15);
        using var response = await client.GetAsync($"/api/analyses/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var events = new List<AnalysisJob>();
        await foreach (var item in SseParser.Create(stream, (_, data) => JsonSerializer.Deserialize<AnalysisJob>(data, ApiCalls.Json)!).EnumerateAsync())
        {
            events.Add(item.Data);
        }

        return events;
    }

    private static long Rows(RunningServer server, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={server.Options.DatabasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<bool> AnswersAsync(HttpClient client)
    {
        try
        {
            using var response = await client.GetAsync("/api/auth/me");
            return true;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    // A process's resident set now and its peak so far, in KiB, from /proc/PID/status.
    private static (long ResidentKib, long PeakKib) Memory(int pid)
    {
        var lines = File.ReadAllLines($"/proc/{pid}/status");
        long Field(string name) => long.Parse(lines.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        return (Field("VmRSS"), Field("VmHWM"));
    }

    // A body of deterministic bytes, made as it is sent: nothing of it is stored or held whole by the test.
    private sealed class GeneratedContent(long size) : HttpContent
    {
        public long Written { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var buffer = new byte[1 << 16];
            var state = 0x2545F4914F6CDD1DUL;
            while (Written < size)
            {
                for (var i = 0; i < buffer.Length; i += 8)
                {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    BitConverter.TryWriteBytes(buffer.AsSpan(i), state);
                }

                var count = (int)Math.Min(buffer.Length, size - Written);
                await stream.WriteAsync(buffer.AsMemory(0, count));
                Written += count;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = size;
            return true;
        }
    }

    // The peak growth of this process's working set and managed heap, sampled every 20 ms until stopped.
    private sealed class PeakMemory : IDisposable
    {
        private readonly long workingSetAtStart = WorkingSet();
        private readonly long managedAtStart = GC.GetTotalMemory(forceFullCollection: false);
        private readonly CancellationTokenSource stop = new();
        private readonly Task sampling;
        private long peakWorkingSet;
        private long peakManaged;

        public PeakMemory() => sampling = Task.Run(SampleAsync);

        public (long WorkingSet, long Managed) Stop()
        {
            stop.Cancel();
            sampling.Wait();
            Sample();
            return (peakWorkingSet - workingSetAtStart, peakManaged - managedAtStart);
        }

        public void Dispose()
        {
            stop.Cancel();
            stop.Dispose();
        }

        private static long WorkingSet()
        {
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            return process.WorkingSet64;
        }

        private async Task SampleAsync()
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            try
            {
                do
                {
                    Sample();
                }
                while (await timer.WaitForNextTickAsync(stop.Token));
            }
            catch (OperationCanceledException)
            {
                // stopped
            }
        }

        private void Sample()
        {
            peakWorkingSet = Math.Max(peakWorkingSet, WorkingSet());
            peakManaged = Math.Max(peakManaged, GC.GetTotalMemory(forceFullCollection: false));
        }
    }

    // A body whose length the client cannot know, so it goes chunked.
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}

[CollectionDefinition(AnalysisJobTests.Alone, DisableParallelization = true)]
public sealed class AnalysisJobsAlone;
