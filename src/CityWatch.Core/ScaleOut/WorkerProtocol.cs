using System.Text.Json;
using System.Text.Json.Serialization;

namespace CityWatch.ScaleOut;

/// <summary>
/// What the server and its workers say to each other over NATS when the roles are split
/// (<c>serve --role server</c>, <c>serve --role worker</c>). A worker holds no database: it asks the server for the
/// register's streaming cameras, for a signed grant per leased camera and for the gallery the grant covers (sealed to a
/// key the worker made for it), and it publishes what it found to JetStream. Requests are core NATS request/reply, so a
/// server that is down answers nothing: the worker's grants lapse within their lifetime and it stops (fail closed).
/// Candidates go to the file-backed stream <see cref="CandidateStream"/>, their event id as the message id, and the
/// server takes each in one transaction with its audit record.
/// </summary>
public static class WorkerProtocol
{
    /// <summary>Request: <see cref="RegisterRequest"/>; reply: <see cref="RegisterReply"/>.</summary>
    public const string RegisterSubject = "citywatch.server.register";

    /// <summary>The stream of candidates from workers to the server (subjects <see cref="CandidateSubjectPrefix"/>&gt;).</summary>
    public const string CandidateStream = "CITYWATCH_CANDIDATES";

    public const string CandidateSubjectPrefix = "citywatch.candidates.";

    private const string GrantSubjectPrefix = "citywatch.server.grant.";

    private const string GallerySubjectPrefix = "citywatch.server.gallery.";

    /// <summary>Every worker's grant subject (the last token is the worker): what the server subscribes to.</summary>
    public const string AllGrantSubjects = GrantSubjectPrefix + "*";

    /// <summary>Every worker's gallery subject (the last token is the worker): what the server subscribes to.</summary>
    public const string AllGallerySubjects = GallerySubjectPrefix + "*";

    /// <summary>Request: <see cref="GrantRequest"/>; reply: <see cref="GrantReply"/>. One subject per worker, so that NATS permissions can bind a worker to its own.</summary>
    public static string GrantSubject(string worker) => GrantSubjectPrefix + CheckedWorker(worker);

    /// <summary>Request: <see cref="GalleryRequest"/>; reply: <see cref="GalleryReply"/>.</summary>
    public static string GallerySubject(string worker) => GallerySubjectPrefix + CheckedWorker(worker);

    /// <summary>Where <paramref name="worker"/> publishes its <see cref="CandidateEvent"/>s.</summary>
    public static string CandidateSubject(string worker) => CandidateSubjectPrefix + CheckedWorker(worker);

    /// <summary>The JSON every message of this protocol travels as: web casing, enums by name, no unknown members, required members required.</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter() },
    };

    public static byte[] ToJson<T>(T message) => JsonSerializer.SerializeToUtf8Bytes(message, Json);

    /// <summary>Reads a message; <see cref="MalformedWorkerMessageException"/> naming what is wrong if it is not a <typeparamref name="T"/>.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> json)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json)
                ?? throw new MalformedWorkerMessageException($"not a {typeof(T).Name}: the message is JSON null");
        }
        catch (JsonException e)
        {
            throw new MalformedWorkerMessageException($"not a {typeof(T).Name}: {e.Message}");
        }
    }

    /// <summary><paramref name="worker"/> if it is usable in a subject, else an <see cref="ArgumentException"/>.</summary>
    internal static string CheckedWorker(string worker) =>
        AuditEvent.WorkerPattern().IsMatch(worker ?? string.Empty)
            ? worker!
            : throw new ArgumentException($"Worker name '{worker}' is not usable in a subject (1 to 64 letters, digits, '-' or '_').", nameof(worker));
}

/// <summary>A message on a worker subject that is not what the subject carries.</summary>
public sealed class MalformedWorkerMessageException(string message) : Exception(message);

/// <summary>A worker asks for the streaming cameras it may share out with the others.</summary>
public sealed record RegisterRequest(string Worker);

/// <summary>
/// The register's streaming cameras as a worker needs them. <see cref="WorkerCamera.Url"/> is the ingest URL with its
/// credentials opened (<c>CameraStore.IngestUrl</c>): the protocol needs NATS over TLS with per-worker credentials in
/// production. <see cref="Version"/> changes whenever the list does.
/// </summary>
public sealed record RegisterReply(long Version, IReadOnlyList<WorkerCamera> Cameras);

public sealed record WorkerCamera(long Id, string Url, double AnalysisFps, int AnalysisWidth, bool FaceRecognitionAllowed);

/// <summary>
/// A worker asks for a live-processing grant for a camera it holds the lease of. The server checks the lease
/// (the lease bucket's value is <see cref="Worker"/>, at revision <see cref="LeaseRevision"/> or one its renews wrote since)
/// before it asks the policy engine.
/// </summary>
public sealed record GrantRequest(string Worker, long CameraId, ulong LeaseRevision);

/// <summary>
/// The server's answer: a grant signed for the worker (<c>SignedGrant</c> wire form, audience the worker's name) or the
/// refusal's reason. With a grant: the operating threshold in force, the server's X25519 public key that crops are sealed
/// to (<see cref="SealedBox"/>, base64 of the raw 32 bytes), and the gallery version (a worker whose gallery is older
/// asks again).
/// </summary>
public sealed record GrantReply(string? Grant, string? Refusal, float Threshold, string? CropKey, long GalleryVersion);

/// <summary>
/// A worker asks for the gallery its grant covers, sealed to <see cref="RecipientKey"/> (base64 of a raw X25519 public key
/// the worker made for itself; it never leaves the process's memory). Each release is logged by the server.
/// </summary>
public sealed record GalleryRequest(string Worker, string Grant, string RecipientKey);

/// <summary>The sealed <see cref="GallerySnapshot"/> (base64 of <see cref="SealedBox"/> bytes, associated data the grant id) or the refusal's reason.</summary>
public sealed record GalleryReply(string? Sealed, string? Refusal);

/// <summary>What a released gallery holds: the templates of the grant's watchlists.</summary>
public sealed record GallerySnapshot(long Version, Guid GrantId, IReadOnlyList<GalleryTemplate> Templates);

/// <summary>One enrolled template: <see cref="Template"/> is base64 of the little-endian float32 unit vector.</summary>
public sealed record GalleryTemplate(long WatchlistId, long EntryId, string Label, string Template);

public enum CandidateKind
{
    /// <summary>A new candidate: the alert is created (<see cref="CandidateEvent.Raised"/>).</summary>
    Raised,

    /// <summary>A better score and crop for an alert the worker raised (<see cref="CandidateEvent.Improved"/>).</summary>
    Improved,

    /// <summary>Last seen and frame count of an alert the worker raised (<see cref="CandidateEvent.Touched"/>).</summary>
    Touched,

    /// <summary>Faces analysed on the camera, for the statistics (<see cref="CandidateEvent.Faces"/>).</summary>
    Faces,
}

/// <summary>
/// What a worker found on a leased camera, published to <see cref="WorkerProtocol.CandidateStream"/>.
/// <see cref="EventId"/> is the JetStream message id and the server's idempotency key; <see cref="FencingToken"/> is
/// the lease's revision (the server drops an event older than one it accepted for the camera); <see cref="Grant"/> is the
/// signed grant the worker acted under (the server verifies it was issued for this worker and camera and was valid at
/// <see cref="At"/>). <see cref="AlertKey"/> is the worker's own id for the alert (a GUID, "N" format): Improved and
/// Touched name the alert by it. Exactly the member of <see cref="Kind"/> is set.
/// </summary>
public sealed record CandidateEvent(
    string EventId,
    CandidateKind Kind,
    long CameraId,
    ulong FencingToken,
    string Worker,
    string Grant,
    DateTimeOffset At,
    string? AlertKey = null,
    RaisedCandidate? Raised = null,
    ImprovedCandidate? Improved = null,
    TouchedCandidate? Touched = null,
    FacesCounted? Faces = null);

/// <summary>A face box in the frame, as fractions of its width and height (the alert's <c>FaceBox</c>).</summary>
public sealed record WireBox(float X, float Y, float Width, float Height);

/// <summary>The best candidates at the time (best first).</summary>
public sealed record WireMatch(long WatchlistId, long EntryId, string Label, float Score);

/// <summary>
/// A new alert. <see cref="SealedCrop"/> is base64 of the JPEG crop sealed to the grant reply's <c>CropKey</c>
/// (<see cref="SealedBox"/>, associated data the event's <see cref="CandidateEvent.AlertKey"/>): only the server opens it.
/// </summary>
public sealed record RaisedCandidate(
    long WatchlistId,
    long EntryId,
    float Score,
    float Threshold,
    WireBox Box,
    string SealedCrop,
    Guid TrackId,
    int Frames,
    float? Quality,
    IReadOnlyList<WireMatch> TopCandidates,
    DateTimeOffset? CapturedAt,
    int FusedFrames);

public sealed record ImprovedCandidate(
    float Score, WireBox Box, string SealedCrop, DateTimeOffset LastSeen, int Frames, float? Quality, IReadOnlyList<WireMatch> TopCandidates, int FusedFrames);

public sealed record TouchedCandidate(DateTimeOffset LastSeen, int Frames);

public sealed record FacesCounted(DateTimeOffset Since, long LegalBasisId, long Count);
