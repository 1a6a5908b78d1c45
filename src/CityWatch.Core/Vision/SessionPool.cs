namespace CityWatch.Vision;

/// <summary>
/// Up to <see cref="Capacity"/> instances of one model (each holding its own ONNX Runtime session and
/// buffers), each lent to one thread at a time. An instance is made the first time every made one is busy
/// and fewer than Capacity exist, so a pipeline used by one thread keeps one session; a thread that finds
/// all Capacity instances busy waits for one to come back.
/// </summary>
internal sealed class SessionPool<T> : IDisposable
    where T : class, IDisposable
{
    private readonly Func<T> create;
    private readonly SemaphoreSlim available;
    private readonly Stack<T> idle = new();
    private readonly List<T> made = [];
    private readonly Lock gate = new();
    private bool disposed;

    /// <summary>A pool holding <paramref name="first"/>, which further instances are made like by <paramref name="create"/>.</summary>
    public SessionPool(T first, Func<T> create, int capacity)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(create);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        this.create = create;
        Capacity = capacity;
        available = new SemaphoreSlim(capacity, capacity);
        idle.Push(first);
        made.Add(first);
    }

    /// <summary>The most instances this pool makes, and so the most threads using the model at once.</summary>
    public int Capacity { get; }

    /// <summary>The first instance made (for names and sizes, which every instance shares).</summary>
    public T First
    {
        get
        {
            lock (gate)
            {
                return made[0];
            }
        }
    }

    /// <summary>The instances made so far.</summary>
    public int Count
    {
        get
        {
            lock (gate)
            {
                return made.Count;
            }
        }
    }

    /// <summary>The sum of <paramref name="value"/> over every instance made so far.</summary>
    public long Sum(Func<T, long> value)
    {
        lock (gate)
        {
            var sum = 0L;
            foreach (var instance in made)
            {
                sum += value(instance);
            }

            return sum;
        }
    }

    /// <summary>An instance for this thread alone until the lease is disposed.</summary>
    public Lease Rent()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        available.Wait();
        lock (gate)
        {
            if (idle.TryPop(out var instance))
            {
                return new Lease(this, instance);
            }
        }

        try
        {
            // The semaphore let this thread in and no instance is idle, so fewer than Capacity exist.
            var instance = create();
            lock (gate)
            {
                made.Add(instance);
            }

            return new Lease(this, instance);
        }
        catch
        {
            available.Release();
            throw;
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (disposed)
            {
                return;
            }

            disposed = true;
            foreach (var instance in made)
            {
                instance.Dispose();
            }

            made.Clear();
            idle.Clear();
        }

        available.Dispose();
    }

    private void Return(T instance)
    {
        lock (gate)
        {
            if (disposed)
            {
                return;
            }

            idle.Push(instance);
        }

        available.Release();
    }

    /// <summary>One instance lent to the calling thread; disposing it gives the instance back.</summary>
    public readonly struct Lease(SessionPool<T> pool, T instance) : IDisposable
    {
        public T Value => instance;

        public void Dispose() => pool.Return(instance);
    }
}
