using System.Collections.Frozen;
using System.Globalization;
using CityWatch.Audit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;

namespace CityWatch.ScaleOut;

/// <summary>
/// What a worker may write into the server's log through the audit relay: only the moves of its own camera leases,
/// only under its own name. The server's <see cref="AuditIngest"/> refuses (records and terminates) any other event,
/// so a worker, or anyone who can publish on its subject, cannot put a "match" or a "policy.grant" in the log, or
/// log as another actor: the records of biometric acts are the server's to write, beside the acts themselves.
/// </summary>
public static class WorkerAuditActions
{
    /// <summary>A worker took a camera's lease and may run it.</summary>
    public const string LeaseAcquired = "lease.acquired";

    /// <summary>A worker gave a camera's lease up, having stopped the camera.</summary>
    public const string LeaseReleased = "lease.released";

    /// <summary>A worker lost a camera's lease (refused at renew, or expired) and stopped the camera.</summary>
    public const string LeaseLost = "lease.lost";

    /// <summary>Every action a worker may log.</summary>
    public static readonly FrozenSet<string> All = FrozenSet.Create(StringComparer.Ordinal, LeaseAcquired, LeaseReleased, LeaseLost);

    /// <summary>Why the ingest refuses <paramref name="auditEvent"/>'s record, or null when a worker may log it.</summary>
    public static string? Problem(AuditEvent auditEvent)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        var actor = WorkerRequests.WorkerActor(auditEvent.Worker);
        if (!string.Equals(auditEvent.Record.Actor, actor, StringComparison.Ordinal))
        {
            return $"a worker logs only as itself ('{actor}'), not as '{auditEvent.Record.Actor}'";
        }

        return All.Contains(auditEvent.Record.Action)
            ? null
            : $"a worker may not log '{auditEvent.Record.Action}' (only {string.Join(", ", All.Order(StringComparer.Ordinal))})";
    }
}

/// <summary>
/// The worker's side of the lease log: every <see cref="LeaseMove"/> of its <see cref="CameraLeaseKeeper"/> becomes an
/// <see cref="AuditEvent"/> under that lease (the lease's revision as fencing token), queued in order and published
/// through <see cref="AuditPublisher"/> until JetStream acknowledges it (same id on every retry). So the public log shows
/// which worker ran which camera when, and why it stopped. A worker killed outright sends nothing more: the lease lapses
/// on the server's clock and the next holder's <c>lease.acquired</c> (with a higher revision) is what the log shows.
/// </summary>
public sealed partial class LeaseAudit
{
    /// <summary>The most lease events kept waiting for an acknowledgement.</summary>
    public const int MaxPending = 4096;

    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly AuditPublisher _publisher;
    private readonly ILogger _logger;
    private readonly OutboundQueue<AuditEvent> _queue;
    private long _acknowledged;
    private long _stored;

    private LeaseAudit(AuditPublisher publisher, ILogger logger)
    {
        _publisher = publisher;
        _logger = logger;
        _queue = new OutboundQueue<AuditEvent>(TrySendAsync, MaxPending, RetryDelay);
    }

    /// <summary>Lease events acknowledged by JetStream so far.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Lease events JetStream acknowledged as newly stored (not as a duplicate): what its stream must hold.</summary>
    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Lease events waiting for an acknowledgement.</summary>
    public int Pending => _queue.Pending;

    /// <summary>Lease events refused because <see cref="MaxPending"/> were already waiting.</summary>
    public long Refused => _queue.Refused;

    /// <summary>Opens the events stream (creating it if needed) and starts listening to <paramref name="keeper"/>'s moves.</summary>
    public static async Task<LeaseAudit> OpenAsync(INatsConnection nats, CameraLeaseKeeper keeper, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keeper);
        var audit = new LeaseAudit(await AuditPublisher.OpenAsync(nats, cancellationToken: cancellationToken), logger ?? NullLogger.Instance);
        keeper.LeaseMoved += move => audit.Record(move);
        return audit;
    }

    /// <summary>The record a move becomes: the worker as actor, the move as action, the camera, revision and reason as parameters.</summary>
    public static AuditEvent EventFor(LeaseMove move)
    {
        ArgumentNullException.ThrowIfNull(move);
        var lease = move.Lease;
        var (action, verb) = move.Kind switch
        {
            LeaseMoveKind.Acquired => (WorkerAuditActions.LeaseAcquired, "took"),
            LeaseMoveKind.Released => (WorkerAuditActions.LeaseReleased, "gave up"),
            LeaseMoveKind.Lost => (WorkerAuditActions.LeaseLost, "lost"),
            _ => throw new ArgumentOutOfRangeException(nameof(move), move.Kind, "not a lease move"),
        };
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["camera"] = lease.CameraId,
            ["revision"] = lease.Revision.ToString(CultureInfo.InvariantCulture),
        };
        if (move.Reason is { } reason)
        {
            parameters["reason"] = reason;
        }

        // The worker (the actor) and the camera are committed in the public leaf; the outcome names neither.
        var outcome = $"{verb} a camera's lease (revision {lease.Revision})" + (move.Reason is null ? "" : $": {move.Reason}");
        return AuditEvent.Under(lease, new AuditRecord(WorkerRequests.WorkerActor(lease.Worker), action, outcome, Parameters: parameters));
    }

    /// <summary>Queues the event for <paramref name="move"/>; false (counted and logged) when <see cref="MaxPending"/> already wait.</summary>
    public bool Record(LeaseMove move) => Enqueue(EventFor(move));

    /// <summary>Sends what is queued, in order, until cancelled.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => _queue.RunAsync(cancellationToken);

    /// <summary>
    /// Sends what is still queued (the releases of a worker that is stopping) for at most <paramref name="within"/>;
    /// returns how many were left unsent.
    /// </summary>
    public async Task<int> DrainAsync(TimeSpan within)
    {
        using var limit = new CancellationTokenSource(within);
        try
        {
            while (_queue.Pending > 0)
            {
                if (!await _queue.SendHeadAsync(limit.Token))
                {
                    await Task.Delay(RetryDelay, limit.Token);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // out of time: the rest is not sent.
        }

        return _queue.Pending;
    }

    private bool Enqueue(AuditEvent auditEvent)
    {
        if (_queue.Enqueue(auditEvent))
        {
            return true;
        }

        LogRefused(_logger, auditEvent.Record.Action, auditEvent.CameraId, MaxPending);
        return false;
    }

    private async Task<bool> TrySendAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        // A client cut off from nats-server waits for the reconnect: bounded here, so the event stays queued and goes again.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(CandidatePublisher.PublishTimeout);
        try
        {
            var ack = await _publisher.PublishAsync(auditEvent, limit.Token);
            Interlocked.Increment(ref _acknowledged);
            if (!ack.Duplicate)
            {
                Interlocked.Increment(ref _stored);
            }

            return true;
        }
        catch (AuditEventNotStoredException e)
        {
            LogNotStored(_logger, e.Message);
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogNotStored(_logger, $"no acknowledgement within {CandidatePublisher.PublishTimeout.TotalSeconds:0} s");
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease event not stored yet, sending it again: {Reason}")]
    private static partial void LogNotStored(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Lease event {Action} on camera {Camera} refused: {Max} events already wait for JetStream")]
    private static partial void LogRefused(ILogger logger, string action, string camera, int max);
}
