using System.Collections.Concurrent;
using CityWatch.Recognition;

namespace CityWatch.Tests.Recognition;

/// <summary>
/// The cameras' frame loops run on dedicated threads: they stay there across awaits, take turns in arrival order,
/// and leave the thread pool (lease renewals, grant replies) free however busy they are.
/// </summary>
public sealed class AnalysisThreadsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Work_started_there_resumes_there_after_every_await_and_never_on_the_thread_pool()
    {
        using var threads = new AnalysisThreads(2);
        var seen = new ConcurrentQueue<(string? Name, bool Pool)>();
        void Note() => seen.Enqueue((Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));

        await threads.Run(async () =>
        {
            Note();
            await Task.Delay(TimeSpan.FromMilliseconds(20));
            Note();
            await Task.Yield();
            Note();
            await Task.Run(() => { }); // work handed to the pool comes back here
            Note();
        }).WaitAsync(Deadline);

        Assert.Equal(4, seen.Count);
        Assert.All(seen, s =>
        {
            Assert.StartsWith("analysis-", s.Name, StringComparison.Ordinal);
            Assert.False(s.Pool);
        });
    }

    [Fact]
    public async Task Cameras_take_turns_in_arrival_order_and_the_thread_pool_answers_while_every_thread_is_busy()
    {
        using var threads = new AnalysisThreads(1);
        using var hold = new ManualResetEventSlim();
        var order = new ConcurrentQueue<int>();
        var blocked = threads.Run(() =>
        {
            hold.Wait(); // a long detection on the only thread
            return Task.CompletedTask;
        });
        var queued = Enumerable.Range(0, 20).Select(i => threads.Run(() =>
        {
            order.Enqueue(i);
            return Task.CompletedTask;
        })).ToList();

        // A lease renewal's continuation on the pool is not stuck behind the queue of frames.
        Assert.Equal(42, await Task.Run(() => 42).WaitAsync(Deadline));
        Assert.Empty(order);

        hold.Set();
        await Task.WhenAll(queued.Append(blocked)).WaitAsync(Deadline);
        Assert.Equal(Enumerable.Range(0, 20), order);
    }

    [Fact]
    public async Task A_loop_still_suspended_when_the_threads_are_disposed_finishes_on_the_thread_pool()
    {
        var threads = new AnalysisThreads(1);
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ranOnPool = false;
        var loop = threads.Run(async () =>
        {
            await resume.Task;
            ranOnPool = Thread.CurrentThread.IsThreadPoolThread;
        });

        threads.Dispose();
        threads.Dispose(); // the host disposes a monitor twice
        resume.SetResult();

        await loop.WaitAsync(Deadline);
        Assert.True(ranOnPool);
    }
}
