using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using CityWatch.Alerts;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.ScaleOut;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;

namespace CityWatch.Recognition;

/// <summary>
/// A worker's client of the server over NATS (<see cref="WorkerProtocol"/>), and the recognition link and camera source
/// its analyser and monitor run against instead of the stores. It holds no database and writes nothing to disk.
/// <list type="bullet">
/// <item><see cref="RegisterAsync"/> asks for the register's streaming cameras (<see cref="Streaming"/>).</item>
/// <item><see cref="GrantAsync"/> asks for a grant for a camera this worker holds the lease of (the lease's revision from
/// <c>CameraLeaseKeeper</c> in the request) and trusts it only once <see cref="GrantVerifier"/> has checked it against the
/// grant-signing public key this worker was configured with (never a key from the wire), for this worker, now, for live
/// processing of that camera. It then asks for the gallery the grant covers (<see cref="ReleasedGallery"/>), again when the
/// server's gallery version or the grant's watchlists change. A refusal, a verification failure, a missing lease or a
/// server that does not answer drops the camera's grant and gallery at once: the analyser has no grant and does nothing
/// biometric (fail closed). The analyser asks again 2 s before a grant expires, so a silent server stops the camera
/// within the grant's lifetime.</item>
/// <item>Raised, improved and touched candidates and counted faces go to <see cref="CandidatePublisher"/> as
/// <see cref="CandidateEvent"/>s, fenced with the camera's lease revision at the time (the last one held, once the lease
/// is gone), crops sealed to the grant
/// reply's crop key with the alert key as associated data.</item>
/// </list>
/// </summary>
public sealed partial class ServerLink : IRecognitionLink, IStreamingCameras
{
    /// <summary>How long a request to the server may take before it counts as unanswered.</summary>
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(2);

    private readonly INatsConnection _nats;
    private readonly GrantVerifier _verifier;
    private readonly Func<long, CameraLease?> _leases;
    private readonly CandidatePublisher _candidates;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _timeout;
    private readonly ConcurrentDictionary<long, CameraGrant> _grants = new();
    private readonly ConcurrentDictionary<long, Signed> _lastSigned = new();
    private readonly ConcurrentDictionary<long, ulong> _tokens = new();
    private volatile IReadOnlyList<StreamingCamera> _cameras = [];
    private long _granted;
    private long _refused;
    private long _unanswered;
    private long _unusable;

    /// <param name="grantKey">The server's grant-signing public key (raw 32 bytes; configuration <c>ScaleOut:GrantKey</c>, as in the log's <c>key.create</c> record).</param>
    /// <param name="leases">The lease this worker holds on a camera now (<c>CameraLeaseKeeper.Lease</c>), or null.</param>
    public ServerLink(
        INatsConnection nats,
        string worker,
        ReadOnlySpan<byte> grantKey,
        Func<long, CameraLease?> leases,
        CandidatePublisher candidates,
        TimeProvider time,
        ILogger? logger = null,
        TimeSpan? requestTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(nats);
        ArgumentNullException.ThrowIfNull(leases);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(time);
        _ = WorkerProtocol.GrantSubject(worker);
        _nats = nats;
        Worker = worker;
        _verifier = new GrantVerifier(grantKey, worker, time);
        _leases = leases;
        _candidates = candidates;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _timeout = requestTimeout ?? DefaultRequestTimeout;
    }

    public string Worker { get; }

    /// <summary>The version of the camera list from the last successful <see cref="RegisterAsync"/> (null before one).</summary>
    public long? RegisterVersion { get; private set; }

    /// <summary>Cameras holding a verified grant (and its gallery) now.</summary>
    public int GrantedCameras
    {
        get
        {
            DropLapsed(_time.GetUtcNow());
            return _grants.Count;
        }
    }

    /// <summary>How the grant requests sent so far ended: counts since this link was made.</summary>
    public GrantAnswers Answers => new(
        Interlocked.Read(ref _granted), Interlocked.Read(ref _refused), Interlocked.Read(ref _unanswered), Interlocked.Read(ref _unusable));

    /// <summary>The gallery held for <paramref name="cameraId"/> while its grant is live, or null.</summary>
    public ReleasedGallery? Gallery(long cameraId)
    {
        DropLapsed(_time.GetUtcNow());
        return _grants.TryGetValue(cameraId, out var held) ? held.Gallery : null;
    }

    /// <summary>Asks the server for its streaming cameras; true when the list changed. NATS errors and timeouts as they come.</summary>
    public async Task<bool> RegisterAsync(CancellationToken cancellationToken)
    {
        var reply = await RequestAsync<RegisterRequest, RegisterReply>(WorkerProtocol.RegisterSubject, new RegisterRequest(Worker), cancellationToken);
        var changed = RegisterVersion != reply.Version;
        RegisterVersion = reply.Version;
        _cameras = [.. reply.Cameras.OrderBy(c => c.Id).Select(c => new StreamingCamera(c.Id, c.AnalysisFps, c.AnalysisWidth, c.FaceRecognitionAllowed, c))];
        return changed;
    }

    public IReadOnlyList<StreamingCamera> Streaming() => _cameras;

    public string IngestUrl(StreamingCamera camera)
    {
        ArgumentNullException.ThrowIfNull(camera);
        return ((WorkerCamera)camera.Entry).Url;
    }

    public async Task<LinkGrant> GrantAsync(long cameraId, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        DropLapsed(now);
        if (_leases(cameraId) is not { } lease)
        {
            return Refuse(cameraId, $"worker {Worker} holds no lease on camera {Invariant(cameraId)}");
        }

        GrantReply reply;
        try
        {
            reply = await RequestAsync<GrantRequest, GrantReply>(WorkerProtocol.GrantSubject(Worker), new GrantRequest(Worker, cameraId, lease.Revision), cancellationToken);
        }
        catch (Exception e) when (Unanswered(e, cancellationToken))
        {
            return Refuse(cameraId, "no grant from the server: " + e.Message, ref _unanswered);
        }

        if (reply.Grant is null)
        {
            return Refuse(cameraId, "the server refused a grant: " + (reply.Refusal ?? "no reason given"), ref _refused);
        }

        ProcessingGrant grant;
        try
        {
            grant = _verifier.Verify(reply.Grant);
        }
        catch (Exception e) when (e is GrantVerificationException or GrantExpiredException)
        {
            return Refuse(cameraId, "the grant does not verify: " + e.Message, ref _unusable);
        }

        if (grant.Purpose != ProcessingPurpose.Live || grant.CameraId != cameraId)
        {
            return Refuse(cameraId, $"grant {grant.Id} is for {grant.Purpose} on camera {grant.CameraId?.ToString(CultureInfo.InvariantCulture) ?? "none"}, not live processing of camera {Invariant(cameraId)}", ref _unusable);
        }

        if (CropKey(reply.CropKey) is not { } cropKey)
        {
            return Refuse(cameraId, $"grant {grant.Id} came without a usable crop key", ref _unusable);
        }

        var gallery = _grants.TryGetValue(cameraId, out var held) && held.Gallery.Version == reply.GalleryVersion
            && held.Signed.Grant.WatchlistIds.Order().SequenceEqual(grant.WatchlistIds.Order())
            ? held.Gallery
            : null;
        if (gallery is null)
        {
            try
            {
                gallery = await ReleasedGallery.RequestAsync(_nats, Worker, grant, reply.Grant, _timeout, cancellationToken);
            }
            catch (Exception e) when (e is GalleryRefusedException || Unanswered(e, cancellationToken))
            {
                return Refuse(cameraId, "no gallery: " + e.Message, ref e is GalleryRefusedException ? ref _unusable : ref _unanswered);
            }
        }

        var signed = new Signed(grant, reply.Grant);
        _ = Token(cameraId);
        _grants[cameraId] = new CameraGrant(signed, reply.Threshold, cropKey, gallery);
        _lastSigned[cameraId] = signed;
        Interlocked.Increment(ref _granted);
        return new LinkGrant(grant, null);
    }

    public float Threshold(ProcessingGrant grant) => Held(grant).Threshold;

    public IReadOnlyList<MatchCandidate> Search(ProcessingGrant grant, ReadOnlySpan<float> probe, float threshold, int top) =>
        Held(grant).Gallery.Search(grant, _time.GetUtcNow(), probe, threshold, top);

    public Task<LinkedAlert> RaiseAsync(ProcessingGrant grant, NewAlert alert, CandidateTrace trace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alert);
        ArgumentNullException.ThrowIfNull(trace);
        var held = Held(grant);
        var key = Guid.NewGuid().ToString("N");
        Send(new CandidateEvent(
            NewId(), CandidateKind.Raised, trace.CameraId, Token(trace.CameraId), Worker, held.Signed.Wire, alert.At, key,
            Raised: new RaisedCandidate(
                alert.WatchlistId, alert.EntryId, alert.Score, alert.Threshold, Wire(alert.Box), Seal(held.CropKey, alert.CropJpeg, key),
                alert.TrackId ?? trace.TrackId, alert.Frames, alert.Quality, Wire(alert.TopCandidates ?? trace.Candidates), alert.CapturedAt,
                alert.FusedFrames ?? trace.FusedFrames)));
        return Task.FromResult(new LinkedAlert(key, null) { Origin = held.Signed });
    }

    public Task<LinkedAlert> ImproveAsync(ProcessingGrant grant, LinkedAlert alert, AlertImprovement update, CandidateTrace trace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alert);
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(trace);
        var held = Held(grant);
        Send(new CandidateEvent(
            NewId(), CandidateKind.Improved, trace.CameraId, Token(trace.CameraId), Worker, held.Signed.Wire, update.LastSeen, alert.Key,
            Improved: new ImprovedCandidate(
                update.Score, Wire(update.Box), Seal(held.CropKey, update.CropJpeg, alert.Key), update.LastSeen, update.Frames, update.Quality,
                Wire(update.TopCandidates ?? trace.Candidates), update.FusedFrames ?? trace.FusedFrames)));
        return Task.FromResult(alert with { Origin = held.Signed });
    }

    public void Touch(LinkedAlert alert, DateTimeOffset lastSeen, int frames)
    {
        ArgumentNullException.ThrowIfNull(alert);
        if (alert.Origin is not Signed origin)
        {
            throw new ArgumentException($"Alert {alert.Key} was not raised through this worker's link.", nameof(alert));
        }

        // The grant in force when the face was last seen: the camera's latest if it covers that moment, else the alert's own.
        var signed = _lastSigned.TryGetValue(origin.Grant.CameraId ?? 0, out var latest) && latest.Grant.IssuedAt <= lastSeen && lastSeen < latest.Grant.ExpiresAt
            ? latest
            : origin;
        Send(new CandidateEvent(
            NewId(), CandidateKind.Touched, signed.Grant.CameraId ?? 0, Token(signed.Grant.CameraId ?? 0), Worker, signed.Wire, lastSeen, alert.Key,
            Touched: new TouchedCandidate(lastSeen, frames)));
    }

    public void AddFaces(DateTimeOffset since, long cameraId, long legalBasisId, long faces)
    {
        if (faces <= 0)
        {
            return;
        }

        if (!_lastSigned.TryGetValue(cameraId, out var signed) || signed.Grant.LegalBasisId != legalBasisId)
        {
            LogFacesUncounted(_logger, faces, cameraId);
            return;
        }

        // Counted under that grant: the event is dated within its window.
        var now = _time.GetUtcNow();
        var at = now < signed.Grant.ExpiresAt ? now : signed.Grant.ExpiresAt.AddMilliseconds(-1);
        Send(new CandidateEvent(
            NewId(), CandidateKind.Faces, cameraId, Token(cameraId), Worker, signed.Wire, at, Faces: new FacesCounted(since, legalBasisId, faces)));
    }

    private LinkGrant Refuse(long cameraId, string reason, ref long counter)
    {
        Interlocked.Increment(ref counter);
        return Refuse(cameraId, reason);
    }

    private LinkGrant Refuse(long cameraId, string reason)
    {
        if (_grants.TryRemove(cameraId, out _))
        {
            LogGrantDropped(_logger, cameraId, reason);
        }

        return new LinkGrant(null, reason);
    }

    // A grant that has lapsed takes its gallery with it.
    private void DropLapsed(DateTimeOffset now)
    {
        foreach (var (camera, held) in _grants)
        {
            if (now >= held.Signed.Grant.ExpiresAt)
            {
                _grants.TryRemove(new KeyValuePair<long, CameraGrant>(camera, held));
            }
        }
    }

    // Biometric steps need the grant this link holds for the camera, still valid, and the camera's lease still held.
    private CameraGrant Held(ProcessingGrant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        grant.EnsureValid(_time.GetUtcNow());
        if (grant.CameraId is not { } camera || !_grants.TryGetValue(camera, out var held) || held.Signed.Grant.Id != grant.Id)
        {
            throw new GrantScopeException($"Grant {grant.Id} is not a grant this worker holds for a camera now.");
        }

        if (_leases(camera) is null)
        {
            Refuse(camera, $"worker {Worker} no longer holds the lease on camera {Invariant(camera)}");
            throw new GrantScopeException($"Grant {grant.Id}: worker {Worker} no longer holds the lease on camera {Invariant(camera)}.");
        }

        return held;
    }

    // The fencing token of an event: the lease's revision now (it grows with every renew), or the last one this worker
    // held when the lease is gone (the server drops the event if another worker has since written for the camera).
    private ulong Token(long camera)
    {
        var token = _leases(camera)?.Revision ?? 0;
        return _tokens.AddOrUpdate(camera, token, (_, last) => Math.Max(last, token));
    }

    private void Send(CandidateEvent candidate)
    {
        if (!_candidates.Enqueue(candidate))
        {
            throw new InvalidOperationException($"Candidate event {candidate.EventId} was not queued: {CandidatePublisher.MaxPending} events already wait for JetStream.");
        }
    }

    private async Task<TReply> RequestAsync<TRequest, TReply>(string subject, TRequest request, CancellationToken cancellationToken)
        where TReply : class
    {
        // A client cut off from nats-server waits for the reconnect before it sends: bounded too, so a silent server is a refusal.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_timeout);
        var reply = await _nats.RequestAsync<byte[], byte[]>(
            subject, WorkerProtocol.ToJson(request), replyOpts: new NatsSubOpts { Timeout = _timeout }, cancellationToken: limit.Token);
        return WorkerProtocol.Parse<TReply>(reply.Data ?? []);
    }

    private static bool Unanswered(Exception e, CancellationToken cancellationToken) =>
        e is NatsException or TimeoutException or MalformedWorkerMessageException
        || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private static byte[]? CropKey(string? base64)
    {
        try
        {
            return base64 is not null && Convert.FromBase64String(base64) is { Length: 32 } key ? key : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static string Seal(byte[] cropKey, byte[] jpeg, string alertKey) =>
        Convert.ToBase64String(SealedBox.Seal(cropKey, jpeg, Encoding.UTF8.GetBytes(alertKey)));

    private static string NewId() => Guid.NewGuid().ToString("N");

    private static WireBox Wire(Vision.FaceBox box) => new(box.X, box.Y, box.Width, box.Height);

    private static List<WireMatch> Wire(IReadOnlyList<MatchCandidate> candidates) =>
        [.. candidates.Select(c => new WireMatch(c.WatchlistId, c.EntryId, c.Label, c.Score))];

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A verified grant and its wire form (what events carry).</summary>
    private sealed record Signed(ProcessingGrant Grant, string Wire);

    private sealed record CameraGrant(Signed Signed, float Threshold, byte[] CropKey, ReleasedGallery Gallery);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Camera {Camera}: grant and gallery dropped, biometric processing stopped: {Reason}")]
    private static partial void LogGrantDropped(ILogger logger, long camera, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Faces} faces on camera {Camera} not counted: no grant of theirs to send them under")]
    private static partial void LogFacesUncounted(ILogger logger, long faces, long camera);
}

/// <summary>
/// How a worker's grant requests ended: granted (verified, with its gallery), refused by the server, unanswered (no
/// reply to the grant or gallery request in time), or unusable (the grant did not verify or was not for live
/// processing of that camera, no crop key, the gallery refused). A request the worker did not send for want of a
/// lease is in none of them.
/// </summary>
public readonly record struct GrantAnswers(long Granted, long Refused, long Unanswered, long Unusable);
