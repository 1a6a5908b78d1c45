using System.Text;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using NATS.Client.Core;
using NSec.Cryptography;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// The server's side of <see cref="WorkerProtocol"/> as a worker test needs it, answered from a <see cref="TestCity"/>:
/// the register's streaming cameras, grants from the city's real <see cref="PolicyEngine"/> signed with its grant-signing
/// key (or, to test refusals, another signer or audience), and the gallery the grant covers sealed to the worker's key.
/// It stands in for the server role's responders; it checks no lease.
/// </summary>
public sealed class TestServerResponder : IAsyncDisposable
{
    private readonly NatsConnection _nats;
    private readonly TestCity _city;
    private readonly string _worker;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    private TestServerResponder(NatsConnection nats, TestCity city, string worker)
    {
        _nats = nats;
        _city = city;
        _worker = worker;
    }

    /// <summary>The key crops are sealed to (the server's side of it).</summary>
    public Key CropKey { get; } = SealedBox.NewRecipientKey();

    /// <summary>Signs with this instead of the engine's key (a forged grant).</summary>
    public GrantSigner? OtherSigner { get; set; }

    /// <summary>Signs for this audience instead of the asking worker.</summary>
    public string? Audience { get; set; }

    /// <summary>The templates released per watchlist; by default the store's.</summary>
    public Func<long, IReadOnlyList<GalleryTemplate>>? Templates { get; set; }

    /// <summary>The cameras the register lists, with their ingest URLs; by default the city's streaming cameras.</summary>
    public Func<IReadOnlyList<WorkerCamera>>? Cameras { get; set; }

    public int GrantRequests { get; private set; }

    public int GalleryReleases { get; private set; }

    /// <summary>The engine's public key, as a worker is configured with it.</summary>
    public byte[] GrantKey => _city.Policy.GrantSigningPublicKey;

    public static async Task<TestServerResponder> StartAsync(NatsConnection nats, TestCity city, string worker)
    {
        var responder = new TestServerResponder(nats, city, worker);
        var subscriptions = new[]
        {
            await nats.SubscribeCoreAsync<byte[]>(WorkerProtocol.RegisterSubject),
            await nats.SubscribeCoreAsync<byte[]>(WorkerProtocol.GrantSubject(worker)),
            await nats.SubscribeCoreAsync<byte[]>(WorkerProtocol.GallerySubject(worker)),
        };
        responder._loops.Add(responder.ServeAsync(subscriptions[0], responder.Register));
        responder._loops.Add(responder.ServeAsync(subscriptions[1], responder.GrantAsync));
        responder._loops.Add(responder.ServeAsync(subscriptions[2], responder.Gallery));
        await nats.PingAsync();
        return responder;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_loops);
        }
        catch (OperationCanceledException)
        {
            // stopped
        }

        CropKey.Dispose();
        _stop.Dispose();
    }

    private async Task ServeAsync(INatsSub<byte[]> subscription, Func<byte[], Task<byte[]>> answer)
    {
        await using (subscription)
        {
            await foreach (var message in subscription.Msgs.ReadAllAsync(_stop.Token))
            {
                await message.ReplyAsync(await answer(message.Data ?? []), cancellationToken: _stop.Token);
            }
        }
    }

    private Task<byte[]> Register(byte[] request)
    {
        _ = WorkerProtocol.Parse<RegisterRequest>(request);
        var cameras = Cameras?.Invoke()
            ?? [.. _city.Cameras.Streaming().Select(c => new WorkerCamera(c.Id, c.StreamUrl!, c.AnalysisFps, c.AnalysisWidth, c.FaceRecognitionAllowed))];
        return Task.FromResult(WorkerProtocol.ToJson(new RegisterReply(cameras.Count, cameras)));
    }

    private async Task<byte[]> GrantAsync(byte[] json)
    {
        GrantRequests++;
        var request = WorkerProtocol.Parse<GrantRequest>(json);
        var all = _city.Watchlists.List().Select(w => w.Id).ToList();
        var decision = await _city.Policy.AuthorizeAsync(
            new PolicyRequest(FrameAnalyzer.CameraActor, ProcessingPurpose.Live, request.CameraId, all, AllowPartial: true));
        if (decision.Grant is null)
        {
            return WorkerProtocol.ToJson(new GrantReply(null, decision.RefusalReason, 0, null, 0));
        }

        var audience = Audience ?? request.Worker;
        var signed = OtherSigner?.Sign(decision.Grant, audience) ?? _city.Policy.Sign(decision.Grant, audience);
        return WorkerProtocol.ToJson(new GrantReply(
            signed.ToString(), null, new RecognitionOptions().Threshold, Convert.ToBase64String(SealedBox.PublicKeyOf(CropKey)), 1));
    }

    private Task<byte[]> Gallery(byte[] json)
    {
        var request = WorkerProtocol.Parse<GalleryRequest>(json);
        var claims = SignedGrant.Parse(request.Grant).Claims;
        GalleryReleases++;
        var templates = claims.WatchlistIds.SelectMany(id => Templates?.Invoke(id) ?? StoredTemplates(id)).ToList();
        var snapshot = new GallerySnapshot(1, claims.Id, templates);
        var sealedBox = SealedBox.Seal(Convert.FromBase64String(request.RecipientKey), WorkerProtocol.ToJson(snapshot), ReleasedGallery.AssociatedData(claims.Id));
        return Task.FromResult(WorkerProtocol.ToJson(new GalleryReply(Convert.ToBase64String(sealedBox), null)));
    }

    private IReadOnlyList<GalleryTemplate> StoredTemplates(long watchlistId) =>
        [.. _city.Watchlists.Templates(watchlistId).Select(t => new GalleryTemplate(watchlistId, t.Entry.Id, t.Entry.Label, ReleasedGallery.Encode(t.Template)))];

    /// <summary>Opens a crop sealed to <see cref="CropKey"/> for <paramref name="alertKey"/>.</summary>
    public byte[] OpenCrop(string sealedCrop, string alertKey) =>
        SealedBox.Open(CropKey, Convert.FromBase64String(sealedCrop), Encoding.UTF8.GetBytes(alertKey));
}
