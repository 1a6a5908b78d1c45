using System.Collections.Concurrent;

namespace CityWatch.Recognition;

/// <summary>
/// The threads every camera's frame loop runs on: a fixed number of dedicated threads taking work in arrival order, so
/// that a camera's turn comes round after every other camera's one frame. Code started here stays here across its
/// awaits (an <c>await</c> resumes on the current scheduler), so detection, embedding and the model pool's waits never
/// occupy the .NET thread pool.
/// </summary>
/// <remarks>
/// Why not the thread pool: at a thousand cameras the frame loops filled its queue with thousands of items of tens of
/// milliseconds each (measured with <c>dotnet-counters</c> on a <c>citywatch sim</c> worker: a queue growing by
/// hundreds a second while it completed about a hundred), and the lease renewals and the grant replies, which are also
/// thread-pool work, waited behind them for longer than their deadlines: leases lapsed and grant requests timed out
/// although the server had answered. .NET has no dedicated-thread scheduler of its own, hence this small one.
/// </remarks>
public sealed class AnalysisThreads : TaskScheduler, IDisposable
{
    private readonly BlockingCollection<Task> _work = [];
    private readonly Thread[] _threads;
    // The scheduler whose thread this is (null on any other thread).
    [ThreadStatic]
    private static AnalysisThreads? t_owner;

    private int _disposed;

    /// <param name="count">How many threads (<c>VisionOptions.AnalysisThreads</c>: the cores of the box, unless configured).</param>
    public AnalysisThreads(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _threads = [.. Enumerable.Range(0, count).Select(i => new Thread(Run) { IsBackground = true, Name = $"analysis-{i}" })];
        foreach (var thread in _threads)
        {
            thread.Start();
        }
    }

    public override int MaximumConcurrencyLevel => _threads.Length;

    /// <summary>Starts <paramref name="work"/> on these threads; its awaits resume here too.</summary>
    public Task Run(Func<Task> work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.DenyChildAttach, this).Unwrap();

    /// <summary>Lets the threads finish what is queued and end; work queued afterwards runs on the thread pool.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _work.CompleteAdding();
        foreach (var thread in _threads)
        {
            if (thread != Thread.CurrentThread)
            {
                thread.Join();
            }
        }

        _work.Dispose();
    }

    protected override void QueueTask(Task task)
    {
        try
        {
            _work.Add(task);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // Disposed: a straggler's continuation still runs, on the thread pool.
            ThreadPool.UnsafeQueueUserWorkItem(_ => TryExecuteTask(task), null);
        }
    }

    // Only on these threads: a continuation inlined onto a thread-pool thread would leave this scheduler.
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        t_owner == this && !taskWasPreviouslyQueued && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => _work.ToArray();

    private void Run()
    {
        t_owner = this;
        foreach (var task in _work.GetConsumingEnumerable())
        {
            TryExecuteTask(task);
        }
    }
}
