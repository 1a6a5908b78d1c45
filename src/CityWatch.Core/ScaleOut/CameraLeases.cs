using System.Text.RegularExpressions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace CityWatch.ScaleOut;

/// <summary>
/// A worker's hold on one camera. <see cref="Revision"/> is the fencing token: the KV revision of the last write
/// that made this worker the holder; anything the worker writes on the camera's behalf should carry it, so that a
/// writer can refuse a token lower than one it has already seen. <see cref="ExpiresAt"/> is when the holder must
/// count the lease as lost if it has not renewed it: the bucket's TTL measured from just before the last write
/// was sent (by the holder's <see cref="TimeProvider"/>), so the holder gives up no later than the server forgets.
/// </summary>
public sealed record CameraLease(string CameraId, string Worker, ulong Revision, DateTimeOffset ExpiresAt);

/// <summary>
/// Camera leases in a NATS JetStream KV bucket, so that each camera is analysed by one worker at a time.
/// nats-server 2.9 has no per-key TTL, so the bucket's MaxAge is the lease TTL: a key not rewritten within it is
/// removed by the server, and then another worker can create it. Acquire is a KV create (refused while the key
/// exists); renew is a KV update against the last revision (refused when someone else has written since, or the
/// key has lapsed): a refused renew means the worker must stop that camera at once.
/// </summary>
public sealed partial class CameraLeases
{
    /// <summary>The bucket the leases live in unless told otherwise.</summary>
    public const string DefaultBucket = "citywatch-camera-leases";

    private const string KeyPrefix = "camera.";

    private readonly INatsKVStore _store;
    private readonly TimeProvider _time;

    private CameraLeases(INatsKVStore store, TimeSpan ttl, TimeProvider time)
    {
        _store = store;
        _time = time;
        Ttl = ttl;
    }

    /// <summary>How long a lease lasts without a renew (the bucket's MaxAge).</summary>
    public TimeSpan Ttl { get; }

    /// <summary>
    /// Opens (creating if needed) the lease bucket with MaxAge = <paramref name="ttl"/> and one value per key.
    /// Fails if the bucket exists with another configuration: all workers must agree on the TTL.
    /// </summary>
    public static async Task<CameraLeases> OpenAsync(
        INatsConnection nats, TimeSpan ttl, TimeProvider time, string bucket = DefaultBucket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nats);
        ArgumentNullException.ThrowIfNull(time);
        if (ttl < TimeSpan.FromMilliseconds(100))
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "A lease TTL under 100 ms is not usable.");
        }

        var kv = new NatsKVContext(new NatsJSContext(nats));
        var config = new NatsKVConfig(bucket)
        {
            Description = "CityWatch camera leases: key = camera, value = worker, MaxAge = lease TTL",
            History = 1,
            MaxAge = ttl,
            Storage = NatsKVStorageType.File,
        };
        var store = await kv.CreateStoreAsync(config, cancellationToken);
        return new CameraLeases(store, ttl, time);
    }

    /// <summary>Takes the camera for <paramref name="worker"/>, or null when another lease on it is still live.</summary>
    public async Task<CameraLease?> TryAcquireAsync(string cameraId, string worker, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        var key = Key(cameraId);
        // A create that finds the key looks it up to see whether it is only a delete marker; when the server
        // expires the key between those two steps, the client reports "key not found". The key is gone then,
        // so the create is tried once more.
        for (var attempt = 1; ; attempt++)
        {
            var sentAt = _time.GetUtcNow();
            var result = await _store.TryCreateAsync(key, worker, cancellationToken: cancellationToken);
            if (result.Success)
            {
                return new CameraLease(cameraId, worker, result.Value, sentAt + Ttl);
            }

            switch (result.Error)
            {
                case NatsKVCreateException:
                    return null;
                case NatsKVKeyNotFoundException when attempt < 3:
                    continue;
                default:
                    throw result.Error;
            }
        }
    }

    /// <summary>
    /// Extends <paramref name="lease"/> by one TTL and returns it with its new revision, or null when the lease is
    /// lost (it lapsed, or another worker holds it now): the caller must stop the camera at once.
    /// </summary>
    public async Task<CameraLease?> TryRenewAsync(CameraLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var sentAt = _time.GetUtcNow();
        var result = await _store.TryUpdateAsync(Key(lease.CameraId), lease.Worker, lease.Revision, cancellationToken: cancellationToken);
        if (!result.Success)
        {
            return result.Error is NatsKVWrongLastRevisionException ? null : throw result.Error;
        }

        return lease with { Revision = result.Value, ExpiresAt = sentAt + Ttl };
    }

    /// <summary>
    /// Gives the camera up, if <paramref name="lease"/> is still the latest write (a stale lease deletes nothing).
    /// Returns whether it was released.
    /// </summary>
    public async Task<bool> ReleaseAsync(CameraLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var result = await _store.TryDeleteAsync(Key(lease.CameraId), new NatsKVDeleteOpts { Revision = lease.Revision }, cancellationToken);
        if (!result.Success)
        {
            return result.Error is NatsKVWrongLastRevisionException ? false : throw result.Error;
        }

        return true;
    }

    /// <summary>
    /// The cameras that have a live lease now (by anyone): the bucket's keys, deletes left out. A key that lapsed
    /// is gone from the bucket, so it is not listed.
    /// </summary>
    public async Task<IReadOnlySet<string>> LeasedCamerasAsync(CancellationToken cancellationToken = default)
    {
        var leased = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var key in _store.GetKeysAsync(new NatsKVWatchOpts { IgnoreDeletes = true, MetaOnly = true }, cancellationToken))
        {
            if (key.StartsWith(KeyPrefix, StringComparison.Ordinal))
            {
                leased.Add(key[KeyPrefix.Length..]);
            }
        }

        return leased;
    }

    /// <summary>
    /// Who holds the camera now and at which revision (the bucket's value and its revision), or null when no live
    /// lease exists. The server checks a worker's request against it: the worker must be the holder at exactly the
    /// revision it names.
    /// </summary>
    public async Task<(string Worker, ulong Revision)?> HolderAsync(string cameraId, CancellationToken cancellationToken = default)
    {
        var result = await _store.TryGetEntryAsync<string>(Key(cameraId), cancellationToken: cancellationToken);
        if (!result.Success)
        {
            return result.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? null : throw result.Error;
        }

        return result.Value.Value is { Length: > 0 } worker ? (worker, result.Value.Revision) : null;
    }

    /// <summary>Whether the holder may still act on <paramref name="lease"/> by its own clock (before <see cref="CameraLease.ExpiresAt"/>).</summary>
    public bool StillHeld(CameraLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return _time.GetUtcNow() < lease.ExpiresAt;
    }

    /// <summary>The KV key for a camera; camera ids are limited to what a KV key can hold literally.</summary>
    internal static string Key(string cameraId)
    {
        ArgumentNullException.ThrowIfNull(cameraId);
        if (!CameraIdPattern().IsMatch(cameraId))
        {
            throw new ArgumentException($"Camera id '{cameraId}' is not a usable lease key (letters, digits, '-', '_', '=' only).", nameof(cameraId));
        }

        return KeyPrefix + cameraId;
    }

    [GeneratedRegex("^[A-Za-z0-9_=-]{1,200}$")]
    private static partial Regex CameraIdPattern();
}
