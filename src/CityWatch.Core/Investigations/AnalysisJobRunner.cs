using System.Threading.Channels;
using CityWatch.Policy;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CityWatch.Investigations;

/// <summary>
/// Runs queued analysis jobs in the background, one at a time, in the order queued. A job ends done,
/// failed (the policy stopped it, the media could not be decoded: the reason says which) or cancelled;
/// each end is logged with the job's counts, and a temporary upload is deleted then, whatever the end.
/// Jobs a previous process left queued or running are ended as failed when the server starts.
/// </summary>
public sealed partial class AnalysisJobRunner(
    AnalysisJobStore jobs,
    RetrospectiveAnalysis analysis,
    CaseStore cases,
    ILogger<AnalysisJobRunner> logger) : BackgroundService
{
    public const string ServerStopped = "the server stopped before the job ended";

    private readonly Channel<long> queue = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock gate = new();
    private (long Id, CancellationTokenSource Stop)? current;

    public void Enqueue(long jobId) => queue.Writer.TryWrite(jobId);

    /// <summary>Asks a job to stop: a queued one never starts, a running one stops after its current frame.</summary>
    public AnalysisJob Cancel(long jobId)
    {
        var job = jobs.RequestCancel(jobId);
        lock (gate)
        {
            if (current is { } running && running.Id == jobId)
            {
                running.Stop.Cancel();
            }
        }

        return job;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var left in jobs.Unfinished())
        {
            await EndAsync(left.Id, AnalysisJobState.Failed, ServerStopped, new RetrospectiveAnalysis.Counts(), CancellationToken.None);
        }

        try
        {
            await foreach (var id in queue.Reader.ReadAllAsync(stoppingToken))
            {
                await RunAsync(id, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping: the job that was running has been ended already
        }
    }

    private async Task RunAsync(long id, CancellationToken stoppingToken)
    {
        var counts = new RetrospectiveAnalysis.Counts();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        lock (gate)
        {
            current = (id, stop);
        }

        try
        {
            if (!jobs.Start(id))
            {
                await EndAsync(id, AnalysisJobState.Cancelled, "cancelled before it started", counts, CancellationToken.None);
                return;
            }

            var job = jobs.Get(id);
            await analysis.RunAsync(job, jobs.MediaOf(id).Path, counts, stop.Token);
            await EndAsync(id, AnalysisJobState.Done, null, counts, CancellationToken.None);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            await EndAsync(id, AnalysisJobState.Failed, ServerStopped, counts, CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            await EndAsync(id, AnalysisJobState.Cancelled, "cancelled on request", counts, CancellationToken.None);
        }
        catch (PolicyRefusedException e)
        {
            await EndAsync(id, AnalysisJobState.Failed, $"stopped by policy: {e.Message}", counts, CancellationToken.None);
        }
        catch (InvalidRequestException e)
        {
            await EndAsync(id, AnalysisJobState.Failed, e.Message, counts, CancellationToken.None);
        }
        catch (Exception e)
        {
            LogJobFailed(logger, id, e);
            await EndAsync(id, AnalysisJobState.Failed, "internal error (see the server log)", counts, CancellationToken.None);
        }
        finally
        {
            lock (gate)
            {
                current = null;
            }
        }
    }

    private async Task EndAsync(long id, AnalysisJobState state, string? reason, RetrospectiveAnalysis.Counts counts, CancellationToken cancellationToken)
    {
        var job = jobs.Get(id);
        var basis = counts.LegalBasisId ?? cases.Find(job.CaseNumber)?.LegalBasisId;

        // An upload is deleted before the job reads as ended, so that whoever sees it ended never finds the
        // media still on disk; a crash in between leaves a job that the next start ends as failed.
        var (path, owned) = jobs.MediaOf(id);
        if (owned)
        {
            File.Delete(path);
        }

        await jobs.FinishAsync(id, state, reason, counts.Snapshot(), basis, analysis.Threshold, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Analysis job {Job} failed")]
    private static partial void LogJobFailed(ILogger logger, long job, Exception error);
}
