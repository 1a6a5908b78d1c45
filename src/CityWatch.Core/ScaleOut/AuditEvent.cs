using System.Text.Json;
using System.Text.RegularExpressions;
using CityWatch.Audit;

namespace CityWatch.ScaleOut;

/// <summary>
/// An act a worker did on a leased camera, on its way to the server's audit log over JetStream.
/// <see cref="EventId"/> is the JetStream message id and the server's idempotency key: a worker that retries a
/// publish must send the same id, so the event is logged once however often it arrives.
/// <see cref="FencingToken"/> is the revision of the worker's lease on <see cref="CameraId"/>
/// (<see cref="CameraLease.Revision"/>) when it acted; the server drops an event whose token is lower than one it
/// has already accepted for that camera.
/// </summary>
public sealed partial record AuditEvent(string EventId, string CameraId, ulong FencingToken, string Worker, AuditRecord Record)
{
    /// <summary>The longest event id accepted.</summary>
    public const int MaxEventIdLength = 128;

    private static readonly JsonSerializerOptions Wire = new(JsonSerializerDefaults.Web)
    {
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>A new event, with a fresh id, for an act done under <paramref name="lease"/>.</summary>
    public static AuditEvent Under(CameraLease lease, AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(record);
        return new AuditEvent(Guid.NewGuid().ToString("N"), lease.CameraId, lease.Revision, lease.Worker, record);
    }

    /// <summary>The event as it travels: UTF-8 JSON.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Wire);

    /// <summary>
    /// Reads an event off the wire and checks it (<see cref="Problem"/>); throws <see cref="MalformedAuditEventException"/>
    /// naming what is wrong.
    /// </summary>
    public static AuditEvent Parse(ReadOnlySpan<byte> json)
    {
        AuditEvent? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize<AuditEvent>(json, Wire);
        }
        catch (JsonException e)
        {
            throw new MalformedAuditEventException("not an audit event: " + e.Message);
        }

        if (parsed is null)
        {
            throw new MalformedAuditEventException("not an audit event: the message is JSON null");
        }

        return parsed.Problem() is { } problem ? throw new MalformedAuditEventException(problem) : parsed;
    }

    /// <summary>What makes this event unusable, or null: ids and names limited to what a subject and a table hold, a token a lease can have, a record the log accepts.</summary>
    public string? Problem()
    {
        if (EventId is null || !EventIdPattern().IsMatch(EventId))
        {
            return $"the event id must be 1 to {MaxEventIdLength} letters, digits, '-' or '_'";
        }

        if (Worker is null || !WorkerPattern().IsMatch(Worker))
        {
            return "the worker name must be 1 to 64 letters, digits, '-' or '_'";
        }

        try
        {
            _ = CameraLeases.Key(CameraId);
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }

        if (FencingToken is 0 or > long.MaxValue)
        {
            return $"the fencing token {FencingToken} is not a lease revision";
        }

        if (Record is null)
        {
            return "the event carries no audit record";
        }

        try
        {
            AuditRecordLimits.Check(Record);
        }
        catch (InvalidRequestException e)
        {
            return e.Message;
        }

        return null;
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,128}$")]
    private static partial Regex EventIdPattern();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    internal static partial Regex WorkerPattern();
}

/// <summary>A message on the audit subjects that is not a usable <see cref="AuditEvent"/>.</summary>
public sealed class MalformedAuditEventException(string message) : Exception(message);

/// <summary>JetStream did not acknowledge an audit event: it may not be stored. Keep the event and publish it again with the same id.</summary>
public sealed class AuditEventNotStoredException(string eventId, string message, Exception? inner = null)
    : Exception($"audit event {eventId} was not acknowledged by JetStream: {message}", inner)
{
    public string EventId { get; } = eventId;
}
