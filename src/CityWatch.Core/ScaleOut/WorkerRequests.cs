using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;

namespace CityWatch.ScaleOut;

/// <summary>
/// The server's answers to its workers (<see cref="WorkerProtocol"/>): the register's streaming cameras; a live grant,
/// signed for the worker, for a camera it holds the lease of at exactly the revision it names; and the gallery a
/// grant covers, sealed to a key the worker made, and sent only once its release is logged
/// (<see cref="GalleryReleaseAction"/>). Nothing is granted or released otherwise: a refusal carries its reason, and a request that is not
/// one is answered with a refusal, never an exception on the bus. Grants come from the <see cref="PolicyEngine"/>
/// exactly as the in-process analyser asks for them, so each is logged by the engine (actor <c>worker:NAME</c>).
/// </summary>
public sealed partial class WorkerRequests(
    CameraStore cameras,
    PolicyEngine policy,
    WatchlistStore watchlists,
    CameraLeases leases,
    CropSealing crops,
    AuditTrail audit,
    CityWatchDatabase database,
    Func<float> threshold,
    TimeProvider time,
    ILogger<WorkerRequests>? logger = null)
{
    /// <summary>The actor of the records the server itself logs about its workers (a gallery release).</summary>
    public const string Actor = "scaleout-server";

    /// <summary>A gallery released to a worker: worker, grant, watchlists, entries and the recipient key's fingerprint.</summary>
    public const string GalleryReleaseAction = "gallery.release";

    /// <summary>The queue group the servers answer in, so that one server answers each request.</summary>
    public const string QueueGroup = "citywatch-server";

    private const int MaxConcurrent = 32;

    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>The actor a worker's grants are asked for under, in the policy engine's log records.</summary>
    public static string WorkerActor(string worker) => "worker:" + worker;

    /// <summary>The associated data a gallery is sealed with: the grant id's UTF-8 bytes ("D" format).</summary>
    public static byte[] GalleryAssociatedData(Guid grantId) => Encoding.UTF8.GetBytes(grantId.ToString("D"));

    /// <summary>A key's fingerprint in the log: the first 8 bytes of its SHA-256, in lower-case hex.</summary>
    public static string Fingerprint(ReadOnlySpan<byte> publicKey) => Convert.ToHexStringLower(SHA256.HashData(publicKey)[..8]);

    /// <summary>The register's streaming cameras with their ingest URLs (credentials opened), and a version that changes when they do.</summary>
    public RegisterReply Register(RegisterRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var list = new List<WorkerCamera>();
        foreach (var camera in cameras.Streaming())
        {
            if (cameras.IngestUrl(camera) is { } url)
            {
                list.Add(new WorkerCamera(camera.Id, url, camera.AnalysisFps, camera.AnalysisWidth, camera.FaceRecognitionAllowed));
            }
        }

        return new RegisterReply(VersionOf(WorkerProtocol.ToJson(list)), list);
    }

    /// <summary>
    /// A live grant for <paramref name="request"/>'s camera, signed for the worker, if the worker asks on its own
    /// subject, holds the camera's lease now (at <see cref="GrantRequest.LeaseRevision"/> or a later renew), and the policy engine
    /// grants (as it does for the in-process analyser: every watchlist, partial allowed). Otherwise the refusal's reason.
    /// </summary>
    public async Task<GrantReply> GrantAsync(string subjectWorker, GrantRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Worker != subjectWorker)
        {
            return GrantRefused($"worker '{request.Worker}' asked on the subject of '{subjectWorker}'");
        }

        var camera = request.CameraId.ToString(CultureInfo.InvariantCulture);
        var holder = await leases.HolderAsync(camera, cancellationToken);
        if (holder is not { } held)
        {
            return GrantRefused($"camera {camera} is not leased to anyone");
        }

        // The worker must hold the lease now, at the revision it names or a later one: its keeper renews every TTL/3,
        // and a renew that lands while the request waits moves the revision on (it is bucket-wide). An older revision
        // of the same holder proves as much as the current one; a revision never issued to it proves nothing.
        if (held.Worker != request.Worker || request.LeaseRevision == 0 || request.LeaseRevision > held.Revision)
        {
            return GrantRefused($"camera {camera} is leased to '{held.Worker}' at revision {held.Revision}, not to '{request.Worker}' at revision {request.LeaseRevision} or before");
        }

        var all = watchlists.List().Select(w => w.Id).ToList();
        var decision = await policy.AuthorizeAsync(
            new PolicyRequest(WorkerActor(request.Worker), ProcessingPurpose.Live, request.CameraId, all, AllowPartial: true), cancellationToken);
        if (decision.Grant is not { } grant)
        {
            return GrantRefused(decision.RefusalReason ?? "refused");
        }

        var signed = policy.Sign(grant, request.Worker);
        return new GrantReply(signed.ToString(), null, threshold(), crops.PublicKeyBase64, GalleryVersion(grant.WatchlistIds));
    }

    /// <summary>
    /// The templates of the grant's watchlists sealed to the worker's <see cref="GalleryRequest.RecipientKey"/>
    /// (associated data the grant id), if the grant is this server's, for this worker, live and still valid. They are
    /// read in one snapshot; the reply is sent only once its <see cref="GalleryReleaseAction"/> record is logged.
    /// </summary>
    public async Task<GalleryReply> GalleryAsync(string subjectWorker, GalleryRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Worker != subjectWorker)
        {
            return GalleryRefused($"worker '{request.Worker}' asked on the subject of '{subjectWorker}'");
        }

        ProcessingGrant grant;
        try
        {
            grant = new GrantVerifier(policy.GrantSigningPublicKey, request.Worker, time).Verify(request.Grant);
        }
        catch (Exception e) when (e is GrantVerificationException or GrantExpiredException)
        {
            return GalleryRefused("the grant is not usable: " + e.Message);
        }

        if (grant.Purpose != ProcessingPurpose.Live || grant.CameraId is null)
        {
            return GalleryRefused($"grant {grant.Id} is not a live grant on a camera");
        }

        byte[] recipient;
        try
        {
            recipient = Convert.FromBase64String(request.RecipientKey);
        }
        catch (FormatException)
        {
            return GalleryRefused("the recipient key is not base64");
        }

        if (recipient.Length != 32)
        {
            return GalleryRefused($"the recipient key is {recipient.Length} bytes, not an X25519 public key (32)");
        }

        // One read snapshot for the templates and the digests the version is computed from, holding no write lock
        // (SqlDialect.BeginRead, either engine): at a thousand cameras, releases that each took SQLite's one writer
        // queued behind each other and behind the sequencer until the workers' requests timed out. The release record
        // goes through the sequencer's group commit, and nothing leaves the server before it is logged, so a release
        // is never unrecorded.
        IReadOnlyList<(WatchlistEntry Entry, float[] Template)> templates;
        GallerySnapshot snapshot;
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginRead(connection))
        {
            templates = watchlists.Templates(connection, transaction, grant.WatchlistIds, $"gallery release to worker {request.Worker}");
            snapshot = new GallerySnapshot(
                GalleryVersion(grant.WatchlistIds.Select(id => WatchlistStore.Digest(connection, transaction, id))),
                grant.Id,
                [.. templates.Select(t => new GalleryTemplate(t.Entry.WatchlistId, t.Entry.Id, t.Entry.Label, Convert.ToBase64String(TemplateBytes(t.Template))))]);
        }

        byte[] sealedGallery;
        try
        {
            sealedGallery = SealedBox.Seal(recipient, WorkerProtocol.ToJson(snapshot), GalleryAssociatedData(grant.Id));
        }
        catch (CryptographicException e)
        {
            return GalleryRefused("the recipient key is not usable: " + e.Message);
        }

        await audit.AppendAsync(
            new AuditRecord(
                Actor,
                GalleryReleaseAction,
                "released",
                grant.LegalBasisId,
                Parameters: new Dictionary<string, string>
                {
                    ["worker"] = request.Worker,
                    ["grant"] = grant.Id.ToString(),
                    ["camera"] = grant.CameraId.Value.ToString(CultureInfo.InvariantCulture),
                    ["watchlists"] = string.Join(',', grant.WatchlistIds.Select(id => id.ToString(CultureInfo.InvariantCulture))),
                    ["entries"] = templates.Count.ToString(CultureInfo.InvariantCulture),
                    ["version"] = snapshot.Version.ToString(CultureInfo.InvariantCulture),
                    ["recipient"] = Fingerprint(recipient),
                },
                ResultCount: templates.Count),
            cancellationToken);
        return new GalleryReply(Convert.ToBase64String(sealedGallery), null);
    }

    /// <summary>
    /// Answers register, grant and gallery requests on <paramref name="nats"/> (in the <see cref="QueueGroup"/>) until
    /// cancelled, up to a few of each at a time. A grant or gallery request that does not parse is answered with a
    /// refusal; a register request that does not parse, or one the server fails on, is logged and not answered (the
    /// worker's request times out and it asks again).
    /// </summary>
    public Task ServeAsync(INatsConnection nats, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nats);
        return Task.WhenAll(
            ServeSubjectAsync(nats, WorkerProtocol.RegisterSubject, AnswerRegisterAsync, cancellationToken),
            ServeSubjectAsync(nats, WorkerProtocol.AllGrantSubjects, AnswerGrantAsync, cancellationToken),
            ServeSubjectAsync(nats, WorkerProtocol.AllGallerySubjects, AnswerGalleryAsync, cancellationToken));
    }

    private async Task ServeSubjectAsync(
        INatsConnection nats, string subject, Func<NatsMsg<byte[]>, CancellationToken, Task<byte[]?>> answer, CancellationToken cancellationToken)
    {
        using var slots = new SemaphoreSlim(MaxConcurrent);
        try
        {
            await foreach (var message in nats.SubscribeAsync<byte[]>(subject, queueGroup: QueueGroup, cancellationToken: cancellationToken))
            {
                await slots.WaitAsync(cancellationToken);
                _ = Task.Run(() => AnswerAsync(message, answer, slots, cancellationToken), CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the answers under way finish below.
        }

        for (var i = 0; i < MaxConcurrent; i++)
        {
            await slots.WaitAsync(CancellationToken.None);
        }
    }

    private async Task AnswerAsync(NatsMsg<byte[]> message, Func<NatsMsg<byte[]>, CancellationToken, Task<byte[]?>> answer, SemaphoreSlim slots, CancellationToken cancellationToken)
    {
        try
        {
            if (await answer(message, cancellationToken) is { } reply && message.ReplyTo is not null)
            {
                await message.ReplyAsync(reply, cancellationToken: cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
#pragma warning disable CA1031 // One failed answer (the database busy, NATS gone) must not end the responder: the worker asks again.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogAnswerFailed(_logger, message.Subject, e.Message);
        }
        finally
        {
            slots.Release();
        }
    }

    private Task<byte[]?> AnswerRegisterAsync(NatsMsg<byte[]> message, CancellationToken cancellationToken)
    {
        try
        {
            return Task.FromResult<byte[]?>(WorkerProtocol.ToJson(Register(WorkerProtocol.Parse<RegisterRequest>(message.Data ?? []))));
        }
        catch (MalformedWorkerMessageException e)
        {
            LogRefused(_logger, "register", e.Message);
            return Task.FromResult<byte[]?>(null);
        }
    }

    private async Task<byte[]?> AnswerGrantAsync(NatsMsg<byte[]> message, CancellationToken cancellationToken)
    {
        GrantRequest request;
        try
        {
            request = WorkerProtocol.Parse<GrantRequest>(message.Data ?? []);
        }
        catch (MalformedWorkerMessageException e)
        {
            return WorkerProtocol.ToJson(GrantRefused(e.Message));
        }

        return WorkerProtocol.ToJson(await GrantAsync(WorkerOf(message.Subject), request, cancellationToken));
    }

    private async Task<byte[]?> AnswerGalleryAsync(NatsMsg<byte[]> message, CancellationToken cancellationToken)
    {
        GalleryRequest request;
        try
        {
            request = WorkerProtocol.Parse<GalleryRequest>(message.Data ?? []);
        }
        catch (MalformedWorkerMessageException e)
        {
            return WorkerProtocol.ToJson(GalleryRefused(e.Message));
        }

        return WorkerProtocol.ToJson(await GalleryAsync(WorkerOf(message.Subject), request, cancellationToken));
    }

    // The worker a per-worker subject belongs to: its last token.
    private static string WorkerOf(string subject) => subject[(subject.LastIndexOf('.') + 1)..];

    private GrantReply GrantRefused(string reason)
    {
        LogRefused(_logger, "grant", reason);
        return new GrantReply(null, reason, 0, null, 0);
    }

    private GalleryReply GalleryRefused(string reason)
    {
        LogRefused(_logger, "gallery", reason);
        return new GalleryReply(null, reason);
    }

    private long GalleryVersion(IReadOnlyList<long> watchlistIds)
    {
        var digests = watchlists.Digests().ToDictionary(d => d.WatchlistId);
        return GalleryVersion(watchlistIds.Select(id => digests.TryGetValue(id, out var d) ? d : new WatchlistDigest(id, string.Empty, 0, [])));
    }

    // The gallery's version: a hash of the covered watchlists' digests (entry ids and template hashes), so any
    // enrolment or removal in them changes it, and every server computes the same.
    private static long GalleryVersion(IEnumerable<WatchlistDigest> digests)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> id = stackalloc byte[8];
        foreach (var digest in digests.OrderBy(d => d.WatchlistId))
        {
            BinaryPrimitives.WriteInt64BigEndian(id, digest.WatchlistId);
            hash.AppendData(id);
            hash.AppendData(digest.RootHash);
        }

        return VersionOf(hash.GetHashAndReset());
    }

    private static long VersionOf(ReadOnlySpan<byte> bytes) =>
        BinaryPrimitives.ReadInt64BigEndian(SHA256.HashData(bytes)) & long.MaxValue;

    private static byte[] TemplateBytes(float[] template)
    {
        var bytes = new byte[template.Length * sizeof(float)];
        for (var i = 0; i < template.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), template[i]);
        }

        return bytes;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Worker requests: a request on {Subject} was not answered ({Reason})")]
    private static partial void LogAnswerFailed(ILogger logger, string subject, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker requests: {Kind} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string kind, string reason);
}
