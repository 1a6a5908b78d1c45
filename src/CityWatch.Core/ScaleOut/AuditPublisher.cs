using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace CityWatch.ScaleOut;

/// <summary>What JetStream answered to a stored event: its stream sequence, and whether it was a duplicate of an id already stored.</summary>
public sealed record AuditEventAck(ulong StreamSequence, bool Duplicate);

/// <summary>
/// The worker's side of the audit relay: it needs no database. Each <see cref="AuditEvent"/> goes as JSON to the
/// subject <c>citywatch.audit.&lt;worker&gt;</c> of the file-backed stream <see cref="DefaultStream"/>, with its
/// event id as the JetStream message id (<c>Nats-Msg-Id</c>), and <see cref="PublishAsync"/> returns only once
/// JetStream has acknowledged it, that is, stored it. Without that acknowledgement it throws
/// <see cref="AuditEventNotStoredException"/>: the caller keeps the event and publishes it again, with the same id.
/// </summary>
public sealed class AuditPublisher
{
    /// <summary>The stream of events from workers to the server.</summary>
    public const string DefaultStream = "CITYWATCH_EVENTS";

    /// <summary>Audit events are published to this prefix followed by the worker's name.</summary>
    public const string SubjectPrefix = "citywatch.audit.";

    /// <summary>How long JetStream remembers a message id to drop a republished copy (the server's event-id table covers any later copy).</summary>
    public static readonly TimeSpan DuplicateWindow = TimeSpan.FromMinutes(10);

    private readonly INatsJSContext _js;

    private AuditPublisher(INatsJSContext js, string stream)
    {
        _js = js;
        Stream = stream;
    }

    /// <summary>The stream the events are stored in.</summary>
    public string Stream { get; }

    /// <summary>Opens the publisher, creating the stream first if it is missing.</summary>
    public static async Task<AuditPublisher> OpenAsync(INatsConnection nats, string stream = DefaultStream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nats);
        var js = new NatsJSContext(nats);
        await EnsureStreamAsync(js, stream, update: false, cancellationToken);
        return new AuditPublisher(js, stream);
    }

    /// <summary>The subject an event of <paramref name="worker"/> is published to.</summary>
    public static string Subject(string worker) =>
        AuditEvent.WorkerPattern().IsMatch(worker ?? string.Empty)
            ? SubjectPrefix + worker
            : throw new ArgumentException($"Worker name '{worker}' is not usable in a subject (1 to 64 letters, digits, '-' or '_').", nameof(worker));

    /// <summary>
    /// Publishes <paramref name="auditEvent"/> and waits for JetStream's acknowledgement. An event already stored
    /// under the same id (a retry) is acknowledged as a duplicate and stored once.
    /// </summary>
    public async Task<AuditEventAck> PublishAsync(AuditEvent auditEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        if (auditEvent.Problem() is { } problem)
        {
            throw new ArgumentException($"The audit event cannot be published: {problem}.", nameof(auditEvent));
        }

        PubAckResponse ack;
        try
        {
            ack = await _js.PublishAsync(
                Subject(auditEvent.Worker),
                auditEvent.ToJson(),
                opts: new NatsJSPubOpts { MsgId = auditEvent.EventId },
                cancellationToken: cancellationToken);
        }
        catch (NatsException e)
        {
            throw new AuditEventNotStoredException(auditEvent.EventId, e.Message, e);
        }
        catch (TimeoutException e)
        {
            throw new AuditEventNotStoredException(auditEvent.EventId, e.Message, e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AuditEventNotStoredException(auditEvent.EventId, e.Message, e);
        }

        // (The client's IsSuccess counts a duplicate as a failure; here a duplicate is a retry that is already stored.)
        if (ack.Error is { } error)
        {
            throw new AuditEventNotStoredException(auditEvent.EventId, $"{error.Description} ({error.Code})");
        }

        if (ack.Stream != Stream)
        {
            throw new AuditEventNotStoredException(auditEvent.EventId, $"acknowledged by stream '{ack.Stream}', not '{Stream}'");
        }

        return new AuditEventAck(ack.Seq, ack.Duplicate);
    }

    /// <summary>
    /// The events stream: every <c>citywatch.audit.&gt;</c> subject, kept on disk (it survives a nats-server restart),
    /// the default limits retention with no age or size limit yet (acknowledged events stay until removed by an
    /// operator), message ids remembered for <see cref="DuplicateWindow"/>. The server (<paramref name="update"/>)
    /// creates it or brings its configuration up to date; a worker only creates it when it is missing
    /// (<see cref="EnsureStreamAsync(INatsJSContext, StreamConfig, bool, CancellationToken)"/>).
    /// </summary>
    internal static Task EnsureStreamAsync(INatsJSContext js, string stream, bool update, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stream);
        var config = new StreamConfig(stream, [SubjectPrefix + ">"])
        {
            Description = "CityWatch events from workers to the server (audit events: citywatch.audit.<worker>)",
            Storage = StreamConfigStorage.File,
            DuplicateWindow = DuplicateWindow,
        };
        return EnsureStreamAsync(js, config, update, cancellationToken);
    }

    /// <summary>
    /// The server's way (<paramref name="update"/>): create the stream or update it to <paramref name="config"/>. A
    /// worker's: look it up, and create it only when it is missing. A worker's NATS user may not update, purge or
    /// delete these streams (<see cref="NatsAccess"/>), so a worker that started first cannot keep a configuration of
    /// its own: the server's start puts its own in place.
    /// </summary>
    internal static async Task EnsureStreamAsync(INatsJSContext js, StreamConfig config, bool update, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(js);
        ArgumentNullException.ThrowIfNull(config);
        if (update)
        {
            await js.CreateOrUpdateStreamAsync(config, cancellationToken);
            return;
        }

        try
        {
            await js.GetStreamAsync(config.Name!, cancellationToken: cancellationToken);
        }
        catch (NatsJSApiException e) when (e.Error.Code == 404)
        {
            await js.CreateStreamAsync(config, cancellationToken);
        }
    }
}
