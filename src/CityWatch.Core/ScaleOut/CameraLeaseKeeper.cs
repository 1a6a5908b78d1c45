using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace CityWatch.ScaleOut;

/// <summary>How many leases a keeper has taken, given up and lost since it started.</summary>
public readonly record struct LeaseMoves(long Acquired, long Released, long Lost);

/// <summary>What happened to one of a keeper's leases.</summary>
public enum LeaseMoveKind
{
    /// <summary>Taken: the camera may run on this worker now.</summary>
    Acquired,

    /// <summary>Given up (above the share, gone from the register, or the worker leaving); the camera was stopped first.</summary>
    Released,

    /// <summary>Refused at renew or expired on the keeper's clock; the camera was stopped at once.</summary>
    Lost,
}

/// <summary>One lease move, with the lease as it was (its revision is the fencing token) and, when lost or released, why.</summary>
public sealed record LeaseMove(CameraLease Lease, LeaseMoveKind Kind, string? Reason);

/// <summary>
/// One per worker process: holds this worker's share of the cameras through <see cref="CameraLeases"/>. Every
/// <see cref="Round"/> (a third of the TTL) it announces the worker as live in <see cref="LiveBucket"/> (MaxAge =
/// TTL, key = worker name), renews every lease it holds (a refused renew stops that camera at once), computes its
/// fair share (the live workers sorted by name split the cameras as evenly as possible, the first ones taking one
/// more: 10 cameras over 3 workers is 4/3/3, and every worker computes the same), releases leases above that share
/// and acquires free cameras up to it. A round that hangs (NATS silent) is cut off after one <see cref="Round"/>.
/// Between rounds, every <see cref="TopUp"/>, a keeper below its share acquires cameras that came free.
/// <see cref="MayRun"/> is false as soon as a lease's <see cref="CameraLease.ExpiresAt"/> passes on this keeper's
/// clock, whether or not any round noticed: the worker fails closed when NATS is silent.
/// </summary>
public sealed partial class CameraLeaseKeeper
{
    /// <summary>The bucket in which workers announce themselves.</summary>
    public const string LiveBucket = "citywatch-live-workers";

    /// <summary>How many renews, or acquires, a round keeps in flight at once.</summary>
    public const int InFlight = 32;

    private readonly INatsConnection _nats;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _leaseBucket;
    private readonly string _liveBucket;
    private readonly ConcurrentDictionary<string, CameraLease> _held = new(StringComparer.Ordinal);
    private volatile string[] _cameras = [];
    private CameraLeases? _leases;
    private INatsKVStore? _live;
    private long _acquired;
    private long _released;
    private long _lost;

    /// <summary>
    /// A keeper for <paramref name="worker"/> (letters, digits, '-', '_'; at most 64) over <paramref name="nats"/>.
    /// Nothing is sent until <see cref="RunAsync"/> or <see cref="RoundAsync"/>; the buckets are opened (created if
    /// needed) by the first round that reaches NATS.
    /// </summary>
    public CameraLeaseKeeper(
        INatsConnection nats,
        string worker,
        TimeSpan ttl,
        TimeProvider time,
        ILogger? logger = null,
        string leaseBucket = CameraLeases.DefaultBucket,
        string liveBucket = LiveBucket)
    {
        ArgumentNullException.ThrowIfNull(nats);
        ArgumentNullException.ThrowIfNull(time);
        if (!IsValidWorkerName(worker))
        {
            throw new ArgumentException($"Worker name '{worker}' is not usable (letters, digits, '-', '_'; at most 64).", nameof(worker));
        }

        if (ttl < TimeSpan.FromMilliseconds(300))
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "A lease TTL under 300 ms is not usable.");
        }

        _nats = nats;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _leaseBucket = leaseBucket;
        _liveBucket = liveBucket;
        Worker = worker;
        Ttl = ttl;
    }

    /// <summary>Raised (on the round's thread) after a lease is acquired: the camera may run now.</summary>
    public event Action<CameraLease>? CameraStarted;

    /// <summary>
    /// Raised (on the round's thread) once this keeper no longer holds the camera: released (raised before the
    /// release is sent), refused at renew, or found expired. <see cref="MayRun"/> is already false.
    /// </summary>
    public event Action<string>? CameraStopped;

    /// <summary>
    /// Raised (on the round's thread) after <see cref="CameraStarted"/> and <see cref="CameraStopped"/>, with the lease and
    /// what became of it: what a worker reports to the server's log (<see cref="LeaseAudit"/>).
    /// </summary>
    public event Action<LeaseMove>? LeaseMoved;

    public string Worker { get; }

    public TimeSpan Ttl { get; }

    /// <summary>A third of the TTL: the time between rounds and the most one round may take.</summary>
    public TimeSpan Round => Ttl / 3;

    /// <summary>Leases acquired, released and lost (refused at renew or expired) so far.</summary>
    public LeaseMoves Moves => new(Interlocked.Read(ref _acquired), Interlocked.Read(ref _released), Interlocked.Read(ref _lost));

    /// <summary>The cameras this keeper holds a lease on that has not yet expired by its clock.</summary>
    public IReadOnlyList<string> Held()
    {
        var now = _time.GetUtcNow();
        return [.. _held.Values.Where(l => now < l.ExpiresAt).Select(l => l.CameraId).Order(StringComparer.Ordinal)];
    }

    /// <summary>Whether a worker name is usable as a NATS key and subject token: letters, digits, '-', '_'; at most 64.</summary>
    public static bool IsValidWorkerName(string? worker) => worker is not null && AuditEvent.WorkerPattern().IsMatch(worker);

    /// <summary>
    /// Whether this worker may analyse <paramref name="cameraId"/> now: it holds the lease and the lease's
    /// <see cref="CameraLease.ExpiresAt"/> has not passed by this keeper's clock.
    /// </summary>
    public bool MayRun(string cameraId) =>
        _held.TryGetValue(cameraId, out var lease) && _time.GetUtcNow() < lease.ExpiresAt;

    /// <summary>The lease on <paramref name="cameraId"/> while <see cref="MayRun"/> holds (its revision is the fencing token).</summary>
    public CameraLease? Lease(string cameraId) =>
        _held.TryGetValue(cameraId, out var lease) && _time.GetUtcNow() < lease.ExpiresAt ? lease : null;

    /// <summary>
    /// The cameras to share out (every worker must be given the same set, e.g. the register's streaming cameras).
    /// Leases on cameras no longer in the set are released at the next round.
    /// </summary>
    public void SetCameras(IEnumerable<string> cameraIds)
    {
        ArgumentNullException.ThrowIfNull(cameraIds);
        var cameras = cameraIds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        foreach (var camera in cameras)
        {
            _ = CameraLeases.Key(camera);
        }

        _cameras = cameras;
    }

    /// <summary>
    /// The fair share of worker <paramref name="index"/> among <paramref name="workers"/> live workers (sorted by
    /// name) over <paramref name="cameras"/> cameras: the first <c>cameras % workers</c> take one more.
    /// </summary>
    public static int FairShare(int cameras, int workers, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cameras);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workers);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, workers);
        return (cameras / workers) + (index < cameras % workers ? 1 : 0);
    }

    /// <summary>
    /// A quarter of <see cref="Round"/>: between rounds, a keeper below its share looks this often for cameras that
    /// came free (<see cref="TopUpAsync"/>).
    /// </summary>
    public TimeSpan TopUp => Round / 4;

    /// <summary>
    /// Runs a round every <see cref="Round"/> and a top-up every <see cref="TopUp"/> between them until cancelled;
    /// then releases every lease and removes the live key. A failed round or top-up (NATS down, cut off) is logged
    /// and the next one comes on time.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TopUp, _time);
        var nextRound = _time.GetUtcNow();
        try
        {
            do
            {
                try
                {
                    if (_time.GetUtcNow() >= nextRound)
                    {
                        nextRound = _time.GetUtcNow() + Round;
                        await RoundAsync(cancellationToken);
                    }
                    else
                    {
                        await TopUpAsync(cancellationToken);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    LogRoundFailed(_logger, Worker, e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            await LeaveAsync();
        }
    }

    /// <summary>
    /// One round: announce, renew, compute the share, release above it, acquire up to it. Leases that expire by
    /// this keeper's clock are dropped first, whether NATS answers or not. The round is cut off after
    /// <see cref="Round"/> (an <see cref="OperationCanceledException"/>).
    /// </summary>
    public async Task RoundAsync(CancellationToken cancellationToken = default)
    {
        DropExpired();
        using var limit = new CancellationTokenSource(Round, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token);
        var ct = linked.Token;
        try
        {
            var (leases, live) = await OpenAsync(ct);
            await live.PutAsync(Worker, _time.GetUtcNow().ToString("O", System.Globalization.CultureInfo.InvariantCulture), cancellationToken: ct);
            await RenewAsync(leases, ct);

            var cameras = _cameras;
            var wanted = new HashSet<string>(cameras, StringComparer.Ordinal);
            var share = await ShareAsync(live, cameras.Length, ct);

            // Cameras gone from the set first, then the ones above the share (the highest ids, so the choice is stable).
            var surplus = _held.Keys.Where(c => !wanted.Contains(c))
                .Concat(_held.Keys.Where(wanted.Contains).Order(StringComparer.Ordinal).Skip(share).Reverse())
                .ToList();
            foreach (var camera in surplus)
            {
                await ReleaseAsync(leases, camera, wanted.Contains(camera), ct);
            }

            if (_held.Count < share)
            {
                await AcquireAsync(leases, cameras, share, ct);
            }
        }
        finally
        {
            DropExpired();
        }
    }

    /// <summary>
    /// Between rounds: when the live workers' share gives this keeper more cameras than it holds, acquires free ones
    /// up to it, and nothing else (no announce, renew or release). A dead worker's leases lapse at one moment on the
    /// NATS server's clock, and waiting for the next round added up to a whole <see cref="Round"/> to the failover;
    /// a top-up takes them within a <see cref="TopUp"/>. Cut off after <see cref="TopUp"/>; does nothing before the
    /// first round has opened the buckets.
    /// </summary>
    public async Task TopUpAsync(CancellationToken cancellationToken = default)
    {
        DropExpired();
        if (_leases is not { } leases || _live is not { } live)
        {
            return;
        }

        using var limit = new CancellationTokenSource(TopUp, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token);
        var cameras = _cameras;
        var share = await ShareAsync(live, cameras.Length, linked.Token);
        if (_held.Count < share)
        {
            await AcquireAsync(leases, cameras, share, linked.Token);
        }
    }

    // This keeper's fair share among the live workers (the live bucket's keys, and itself), sorted by name.
    private async Task<int> ShareAsync(INatsKVStore live, int cameras, CancellationToken ct)
    {
        var workers = new List<string>();
        await foreach (var key in live.GetKeysAsync(new NatsKVWatchOpts { IgnoreDeletes = true, MetaOnly = true }, ct))
        {
            workers.Add(key);
        }

        if (!workers.Contains(Worker, StringComparer.Ordinal))
        {
            workers.Add(Worker);
        }

        workers.Sort(StringComparer.Ordinal);
        return FairShare(cameras, workers.Count, workers.IndexOf(Worker));
    }

    private async Task<(CameraLeases Leases, INatsKVStore Live)> OpenAsync(CancellationToken ct)
    {
        if (_leases is null || _live is null)
        {
            var leases = await CameraLeases.OpenAsync(_nats, Ttl, _time, _leaseBucket, ct);
            var kv = new NatsKVContext(new NatsJSContext(_nats));
            var live = await kv.CreateStoreAsync(
                new NatsKVConfig(_liveBucket)
                {
                    Description = "CityWatch live workers: key = worker, MaxAge = lease TTL",
                    History = 1,
                    MaxAge = Ttl,
                    Storage = NatsKVStorageType.File,
                },
                ct);
            (_leases, _live) = (leases, live);
        }

        return (_leases, _live);
    }

    // Renews every lease held, InFlight at a time. One at a time, a worker with hundreds of cameras on a loaded box did
    // not renew them all within a round: the round was cut off, always before the same tail of leases, which then
    // expired and moved (the 1,000-camera sim's churn). A NATS error fails the round, as before, once every finished
    // renew is applied.
    private async Task RenewAsync(CameraLeases leases, CancellationToken ct)
    {
        var held = _held.Values.ToList();
        var (outcomes, stopped) = await ManyAsync(held, leases.TryRenewAsync, ct);
        for (var i = 0; i < held.Count; i++)
        {
            if (!outcomes[i].Done || outcomes[i].Error is not null)
            {
                continue;
            }

            if (outcomes[i].Value is { } renewed)
            {
                // Only if nothing dropped it meanwhile (expired while the renew was in flight: it stays lost).
                _held.TryUpdate(held[i].CameraId, renewed, held[i]);
            }
            else
            {
                Lose(held[i], "renew refused");
            }
        }

        ThrowIfFailed(outcomes, stopped);
    }

    // Tries the first free cameras up to the share, InFlight at a time (a camera someone else took meanwhile is tried
    // by nobody here until the next round).
    private async Task AcquireAsync(CameraLeases leases, IEnumerable<string> cameras, int share, CancellationToken ct)
    {
        var taken = await leases.LeasedCamerasAsync(ct);
        var free = cameras.Where(c => !taken.Contains(c) && !_held.ContainsKey(c)).Take(share - _held.Count).ToList();
        var (outcomes, stopped) = await ManyAsync(free, (camera, token) => leases.TryAcquireAsync(camera, Worker, token), ct);
        for (var i = 0; i < free.Count; i++)
        {
            if (outcomes[i] is { Done: true, Value: { } lease })
            {
                _held[free[i]] = lease;
                Interlocked.Increment(ref _acquired);
                Raise(CameraStarted, lease);
                Raise(LeaseMoved, new LeaseMove(lease, LeaseMoveKind.Acquired, null));
            }
        }

        ThrowIfFailed(outcomes, stopped);
    }

    /// <summary>One call of <see cref="ManyAsync"/>: not done (the round was cut off first), its result, or its error.</summary>
    private readonly record struct Outcome(bool Done, CameraLease? Value, Exception? Error);

    // Calls `call` for every item, InFlight at a time on the one connection (which pipelines them), and keeps every
    // outcome, so that the round applies what finished, in order and on its own flow (the events are raised as before),
    // whether the round was cut off or a call failed.
    private static async Task<(Outcome[] Outcomes, OperationCanceledException? Stopped)> ManyAsync<T>(
        IReadOnlyList<T> items, Func<T, CancellationToken, Task<CameraLease?>> call, CancellationToken ct)
    {
        var outcomes = new Outcome[items.Count];
        try
        {
            await Parallel.ForEachAsync(
                Enumerable.Range(0, items.Count),
                new ParallelOptions { MaxDegreeOfParallelism = InFlight, CancellationToken = ct },
                async (i, token) =>
                {
                    try
                    {
                        outcomes[i] = new Outcome(true, await call(items[i], token), null);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        outcomes[i] = new Outcome(true, null, e);
                    }
                });
            return (outcomes, null);
        }
        catch (OperationCanceledException e)
        {
            return (outcomes, e);
        }
    }

    // The round's cut-off first (as when the calls ran one by one), else the first call's error.
    private static void ThrowIfFailed(Outcome[] outcomes, OperationCanceledException? stopped)
    {
        if (stopped is not null)
        {
            ExceptionDispatchInfo.Throw(stopped);
        }

        if (outcomes.FirstOrDefault(o => o.Error is not null).Error is { } failed)
        {
            ExceptionDispatchInfo.Throw(failed);
        }
    }

    private async Task ReleaseAsync(CameraLeases leases, string camera, bool wanted, CancellationToken ct)
    {
        if (_held.TryRemove(camera, out var lease))
        {
            // Stop first, then let go: nobody can take the camera before this worker has stopped it.
            Interlocked.Increment(ref _released);
            Raise(CameraStopped, camera);
            Raise(LeaseMoved, new LeaseMove(lease, LeaseMoveKind.Released, wanted ? "above this worker's share" : "no longer in the register"));
            await leases.ReleaseAsync(lease, ct);
        }
    }

    private void DropExpired()
    {
        var now = _time.GetUtcNow();
        foreach (var lease in _held.Values.Where(l => now >= l.ExpiresAt).ToList())
        {
            Lose(lease, "expired");
        }
    }

    private void Lose(CameraLease lease, string why)
    {
        if (_held.TryRemove(new KeyValuePair<string, CameraLease>(lease.CameraId, lease)))
        {
            Interlocked.Increment(ref _lost);
            LogLost(_logger, Worker, lease.CameraId, why);
            Raise(CameraStopped, lease.CameraId);
            Raise(LeaseMoved, new LeaseMove(lease, LeaseMoveKind.Lost, why));
        }
    }

    private async Task LeaveAsync()
    {
        var leases = _leases;
        var held = _held.Values.ToList();
        foreach (var lease in held)
        {
            if (_held.TryRemove(new KeyValuePair<string, CameraLease>(lease.CameraId, lease)))
            {
                Interlocked.Increment(ref _released);
                Raise(CameraStopped, lease.CameraId);
                Raise(LeaseMoved, new LeaseMove(lease, LeaseMoveKind.Released, "the worker is stopping"));
            }
        }

        using var limit = new CancellationTokenSource(Round, _time);
        try
        {
            if (leases is not null)
            {
                foreach (var lease in held)
                {
                    await leases.ReleaseAsync(lease, limit.Token);
                }
            }

            if (_live is { } live)
            {
                await live.DeleteAsync(Worker, cancellationToken: limit.Token);
            }
        }
        catch (Exception e) when (e is NatsException or OperationCanceledException or TimeoutException or ObjectDisposedException)
        {
            // The leases lapse by themselves within the TTL.
            LogLeaveFailed(_logger, Worker, e.Message);
        }
    }

    private void Raise<T>(Action<T>? handler, T argument)
    {
        try
        {
            handler?.Invoke(argument);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogHandlerFailed(_logger, Worker, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease keeper {Worker}: round failed: {Reason}")]
    private static partial void LogRoundFailed(ILogger logger, string worker, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease keeper {Worker}: lost camera {Camera} ({Reason}); stopped")]
    private static partial void LogLost(ILogger logger, string worker, string camera, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease keeper {Worker}: could not release on leaving ({Reason}); the leases lapse within the TTL")]
    private static partial void LogLeaveFailed(ILogger logger, string worker, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Lease keeper {Worker}: a camera start/stop handler failed: {Reason}")]
    private static partial void LogHandlerFailed(ILogger logger, string worker, string reason);
}
