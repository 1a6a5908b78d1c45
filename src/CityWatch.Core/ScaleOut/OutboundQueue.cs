namespace CityWatch.ScaleOut;

/// <summary>
/// A worker's events on their way to JetStream, kept in order in memory: <see cref="Enqueue"/> adds one at the tail,
/// <see cref="RunAsync"/> sends the head until the send reports it stored, then the next. An event that was not
/// stored stays at the head and goes again (the sender keeps its id, so JetStream and the server take it once); no
/// event is ever sent before an older one is stored. At most <c>maxPending</c> wait; a further one is refused and
/// counted rather than an older one dropped. What is still queued when the process ends was never acknowledged, so
/// the server never had it. Both of a worker's streams (candidates, audit events) go through one of these.
/// </summary>
/// <param name="sendAsync">Sends one event; true once JetStream stored it, false to send it again after <paramref name="retryDelay"/>.</param>
public sealed class OutboundQueue<T>(Func<T, CancellationToken, Task<bool>> sendAsync, int maxPending, TimeSpan retryDelay)
    where T : class
{
    private readonly Queue<T> _pending = new();
    private readonly SemaphoreSlim _queued = new(0);
    private long _refused;

    /// <summary>Events refused because <c>maxPending</c> were already waiting.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Events waiting to be stored.</summary>
    public int Pending
    {
        get
        {
            lock (_pending)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Queues <paramref name="item"/>; false (and counted) when <c>maxPending</c> already wait.</summary>
    public bool Enqueue(T item)
    {
        ArgumentNullException.ThrowIfNull(item);
        lock (_pending)
        {
            if (_pending.Count >= maxPending)
            {
                Interlocked.Increment(ref _refused);
                return false;
            }

            _pending.Enqueue(item);
        }

        _queued.Release();
        return true;
    }

    /// <summary>Sends what is queued, in order, until cancelled; an event not stored is sent again after the retry delay.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await _queued.WaitAsync(cancellationToken);
                while (!await SendHeadAsync(cancellationToken))
                {
                    await Task.Delay(retryDelay, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopping: what is still queued was not acknowledged, and is lost with the process (the server never had it).
        }
    }

    /// <summary>Sends the oldest queued event; true once it is stored (and removed) or when nothing is queued.</summary>
    public async Task<bool> SendHeadAsync(CancellationToken cancellationToken = default)
    {
        T? head;
        lock (_pending)
        {
            _pending.TryPeek(out head);
        }

        if (head is null || !await sendAsync(head, cancellationToken))
        {
            return head is null;
        }

        lock (_pending)
        {
            _pending.Dequeue();
        }

        return true;
    }
}
