using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace CityWatch.ScaleOut;

/// <summary>What JetStream answered to a stored candidate event: its stream sequence, and whether its id was already stored.</summary>
public sealed record CandidateAck(ulong StreamSequence, bool Duplicate);

/// <summary>
/// The worker's side of the candidate stream: each <see cref="CandidateEvent"/> goes as JSON to
/// <see cref="WorkerProtocol.CandidateSubject"/> of the file-backed stream <see cref="WorkerProtocol.CandidateStream"/>,
/// its event id as the JetStream message id (<c>Nats-Msg-Id</c>). <see cref="PublishAsync"/> returns only on JetStream's
/// acknowledgement. <see cref="Enqueue"/> (what the analyser uses) keeps events in order in memory and
/// <see cref="RunAsync"/> sends them one by one: an event that is not acknowledged stays at the head and is sent again,
/// with the same id, until it is, so the server takes it once. At most <see cref="MaxPending"/> events wait; beyond that a
/// new one is refused (counted in <see cref="Refused"/>) rather than an older one dropped.
/// </summary>
public sealed partial class CandidatePublisher
{
    /// <summary>The most events kept waiting for an acknowledgement.</summary>
    public const int MaxPending = 4096;

    /// <summary>How long one publish waits for JetStream's acknowledgement.</summary>
    public static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly INatsJSContext _js;
    private readonly ILogger _logger;
    private readonly OutboundQueue<CandidateEvent> _queue;
    private long _acknowledged;
    private long _stored;

    private CandidatePublisher(INatsJSContext js, ILogger logger)
    {
        _js = js;
        _logger = logger;
        _queue = new OutboundQueue<CandidateEvent>(TrySendAsync, MaxPending, RetryDelay);
    }

    /// <summary>Events acknowledged by JetStream so far (duplicates included).</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Events JetStream acknowledged as newly stored (not as a duplicate of one it holds): what its stream must hold.</summary>
    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Events refused because <see cref="MaxPending"/> were already waiting.</summary>
    public long Refused => _queue.Refused;

    /// <summary>Events waiting for an acknowledgement.</summary>
    public int Pending => _queue.Pending;

    /// <summary>Opens the publisher, creating the candidate stream first if it is missing.</summary>
    public static async Task<CandidatePublisher> OpenAsync(INatsConnection nats, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nats);
        var js = new NatsJSContext(nats);
        await EnsureStreamAsync(js, update: false, cancellationToken);
        return new CandidatePublisher(js, logger ?? NullLogger.Instance);
    }

    /// <summary>
    /// The candidate stream: every <c>citywatch.candidates.&gt;</c> subject, on disk, message ids remembered for
    /// <see cref="AuditPublisher.DuplicateWindow"/> (the server's event-id table covers any later copy). The server
    /// (<paramref name="update"/>) creates it or brings it up to date; a worker creates it only when it is missing.
    /// </summary>
    public static Task EnsureStreamAsync(INatsJSContext js, bool update, CancellationToken cancellationToken)
    {
        var config = new StreamConfig(WorkerProtocol.CandidateStream, [WorkerProtocol.CandidateSubjectPrefix + ">"])
        {
            Description = "CityWatch candidates from workers to the server (citywatch.candidates.<worker>)",
            Storage = StreamConfigStorage.File,
            DuplicateWindow = AuditPublisher.DuplicateWindow,
        };
        return AuditPublisher.EnsureStreamAsync(js, config, update, cancellationToken);
    }

    /// <summary>Publishes <paramref name="candidate"/> and waits for JetStream's acknowledgement; <see cref="CandidateNotStoredException"/> without one.</summary>
    public async Task<CandidateAck> PublishAsync(CandidateEvent candidate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        PubAckResponse ack;
        // A client cut off from nats-server waits for the reconnect: bounded here, so the event stays queued and goes again.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(PublishTimeout);
        try
        {
            ack = await _js.PublishAsync(
                WorkerProtocol.CandidateSubject(candidate.Worker),
                WorkerProtocol.ToJson(candidate),
                opts: new NatsJSPubOpts { MsgId = candidate.EventId },
                cancellationToken: limit.Token);
        }
        catch (Exception e) when (e is NatsException or TimeoutException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new CandidateNotStoredException(candidate.EventId, e.Message, e);
        }

        if (ack.Error is { } error)
        {
            throw new CandidateNotStoredException(candidate.EventId, $"{error.Description} ({error.Code})");
        }

        if (ack.Stream != WorkerProtocol.CandidateStream)
        {
            throw new CandidateNotStoredException(candidate.EventId, $"acknowledged by stream '{ack.Stream}', not '{WorkerProtocol.CandidateStream}'");
        }

        Interlocked.Increment(ref _acknowledged);
        if (!ack.Duplicate)
        {
            Interlocked.Increment(ref _stored);
        }

        return new CandidateAck(ack.Seq, ack.Duplicate);
    }

    /// <summary>Queues <paramref name="candidate"/> for <see cref="RunAsync"/>; false (and counted) when <see cref="MaxPending"/> already wait.</summary>
    public bool Enqueue(CandidateEvent candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (_queue.Enqueue(candidate))
        {
            return true;
        }

        LogRefused(_logger, candidate.EventId, candidate.CameraId, MaxPending);
        return false;
    }

    /// <summary>Sends what is queued, in order, until cancelled; an unacknowledged event is sent again (same id) after a short wait.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => _queue.RunAsync(cancellationToken);

    /// <summary>Sends the oldest queued event; true once it is acknowledged (and removed) or when nothing is queued.</summary>
    public Task<bool> SendHeadAsync(CancellationToken cancellationToken = default) => _queue.SendHeadAsync(cancellationToken);

    private async Task<bool> TrySendAsync(CandidateEvent candidate, CancellationToken cancellationToken)
    {
        try
        {
            await PublishAsync(candidate, cancellationToken);
            return true;
        }
        catch (CandidateNotStoredException e)
        {
            LogNotStored(_logger, e.Message);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Candidate not stored yet, sending it again: {Reason}")]
    private static partial void LogNotStored(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Candidate event {EventId} on camera {Camera} refused: {Max} events already wait for JetStream")]
    private static partial void LogRefused(ILogger logger, string eventId, long camera, int max);
}

/// <summary>JetStream did not acknowledge a candidate event: it may not be stored. Send it again with the same id.</summary>
public sealed class CandidateNotStoredException(string eventId, string message, Exception? inner = null)
    : Exception($"candidate event {eventId} was not acknowledged by JetStream: {message}", inner)
{
    public string EventId { get; } = eventId;
}
