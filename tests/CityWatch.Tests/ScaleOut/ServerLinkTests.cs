using System.Security.Cryptography;
using CityWatch.Alerts;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// The worker's link to the server against a real nats-server, with the server's side answered by
/// <see cref="TestServerResponder"/> from a test city's real policy engine: a grant is trusted only once it verifies
/// against the configured key, for this worker, now; the released gallery opens and matches; candidates are fenced,
/// sealed and stored once; with NATS gone the camera loses its grant.
/// </summary>
public sealed class ServerLinkTests : IAsyncLifetime
{
    private const string Worker = "worker-a";
    private const ulong Revision = 7;

    private NatsServer _server = null!;
    private NatsConnection _nats = null!;
    private TestCity _city = null!;
    private TestServerResponder _responder = null!;
    private long _camera;
    private long _watchlist;
    private bool _leased = true;

    public async Task InitializeAsync()
    {
        _server = await NatsServer.StartAsync();
        _nats = new NatsConnection(new NatsOpts { Url = _server.Url });
        await _nats.ConnectAsync();
        _city = new TestCity();
        _camera = _city.AddCamera("CAM-W").Id;
        _watchlist = _city.Watchlists.Create(new WatchlistInput("sought", "test"), "test").Id;
        var basis = await _city.ActiveBasisAsync([_camera], [_watchlist]);
        await _city.DeployAsync(basis.Id, [_camera], [_watchlist]);
        _responder = await TestServerResponder.StartAsync(_nats, _city, Worker);
        _responder.Templates = id => id == _watchlist ? [new GalleryTemplate(id, 41, "person-41", ReleasedGallery.Encode(Unit(0)))] : [];
    }

    public async Task DisposeAsync()
    {
        await _responder.DisposeAsync();
        await _nats.DisposeAsync();
        _server.Dispose();
        _city.Dispose();
    }

    [Fact]
    public async Task A_verified_grant_lets_the_camera_run_with_a_gallery_that_matches()
    {
        var link = await LinkAsync(_city.Time);

        var decision = await link.GrantAsync(_camera, CancellationToken.None);

        var grant = Assert.IsAssignableFrom<ProcessingGrant>(decision.Grant);
        Assert.Null(decision.Refusal);
        Assert.Equal(_camera, grant.CameraId);
        Assert.Equal(ProcessingPurpose.Live, grant.Purpose);
        Assert.Equal(1, link.GrantedCameras);
        Assert.Equal(1, link.Gallery(_camera)!.Templates);
        var match = Assert.Single(link.Search(grant, Unit(0), link.Threshold(grant), 3));
        Assert.Equal((_watchlist, 41L, "person-41"), (match.WatchlistId, match.EntryId, match.Label));
        Assert.InRange(match.Score, 0.999f, 1.001f);
        Assert.Empty(link.Search(grant, Unit(1), link.Threshold(grant), 3));
        Assert.Equal(1, _responder.GalleryReleases);

        // A renewal with the same gallery version keeps the gallery it has.
        var renewed = await link.GrantAsync(_camera, CancellationToken.None);
        Assert.NotNull(renewed.Grant);
        Assert.Equal(1, _responder.GalleryReleases);
    }

    [Fact]
    public async Task A_grant_signed_with_another_key_is_refused_and_the_camera_gets_no_gallery()
    {
        using var forger = new GrantSigner(RandomNumberGenerator.GetBytes(32));
        _responder.OtherSigner = forger;
        var link = await LinkAsync(_city.Time);

        var decision = await link.GrantAsync(_camera, CancellationToken.None);

        Assert.Null(decision.Grant);
        Assert.Contains("does not verify", decision.Refusal, StringComparison.Ordinal);
        Assert.Equal(0, link.GrantedCameras);
        Assert.Null(link.Gallery(_camera));
        Assert.Equal(0, _responder.GalleryReleases);
    }

    [Fact]
    public async Task A_grant_for_another_worker_is_refused()
    {
        _responder.Audience = "worker-b";
        var link = await LinkAsync(_city.Time);

        var decision = await link.GrantAsync(_camera, CancellationToken.None);

        Assert.Null(decision.Grant);
        Assert.Contains("worker-b", decision.Refusal, StringComparison.Ordinal);
        Assert.Equal(0, link.GrantedCameras);
    }

    [Fact]
    public async Task An_expired_grant_is_refused()
    {
        // The worker's clock is past the grant's lifetime when the grant arrives.
        var late = new FakeTimeProvider(_city.Time.GetUtcNow() + PolicyEngine.GrantLifetime + TimeSpan.FromSeconds(1));
        var link = await LinkAsync(late);

        var decision = await link.GrantAsync(_camera, CancellationToken.None);

        Assert.Null(decision.Grant);
        Assert.Contains("not at", decision.Refusal, StringComparison.Ordinal);
        Assert.Equal(0, link.GrantedCameras);
    }

    [Fact]
    public async Task The_link_counts_how_each_grant_request_ended()
    {
        var unbased = _city.AddCamera("CAM-NO-BASIS").Id; // leased, but no legal basis covers it
        var link = await LinkAsync(_city.Time);

        Assert.NotNull((await link.GrantAsync(_camera, CancellationToken.None)).Grant);
        Assert.NotNull((await link.GrantAsync(_camera, CancellationToken.None)).Grant);
        Assert.Contains("refused", (await link.GrantAsync(unbased, CancellationToken.None)).Refusal, StringComparison.Ordinal);
        Assert.Equal(new GrantAnswers(Granted: 2, Refused: 1, Unanswered: 0, Unusable: 0), link.Answers);

        _responder.OtherSigner = new GrantSigner(RandomNumberGenerator.GetBytes(32));
        Assert.Contains("does not verify", (await link.GrantAsync(_camera, CancellationToken.None)).Refusal, StringComparison.Ordinal);
        _responder.OtherSigner.Dispose();
        _leased = false;
        Assert.Contains("no lease", (await link.GrantAsync(_camera, CancellationToken.None)).Refusal, StringComparison.Ordinal);
        _leased = true;
        await _server.StopAsync();
        Assert.Contains("no grant from the server", (await link.GrantAsync(_camera, CancellationToken.None)).Refusal, StringComparison.Ordinal);
        await _server.StartAgainAsync();

        // A request not sent for want of a lease is in none of the counts.
        Assert.Equal(new GrantAnswers(Granted: 2, Refused: 1, Unanswered: 1, Unusable: 1), link.Answers);
    }

    [Fact]
    public async Task A_camera_without_this_workers_lease_gets_no_grant()
    {
        _leased = false;
        var link = await LinkAsync(_city.Time);

        var decision = await link.GrantAsync(_camera, CancellationToken.None);

        Assert.Null(decision.Grant);
        Assert.Contains("no lease", decision.Refusal, StringComparison.Ordinal);
        Assert.Equal(0, _responder.GrantRequests);
    }

    [Fact]
    public async Task A_raised_candidate_is_fenced_sealed_and_stored_once_however_often_it_is_sent()
    {
        var publisher = await CandidatePublisher.OpenAsync(_nats);
        var link = await LinkAsync(_city.Time, publisher);
        var grant = (await link.GrantAsync(_camera, CancellationToken.None)).Grant!;
        var crop = new byte[] { 0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9 };
        var candidates = new List<MatchCandidate> { new(_watchlist, 41, "person-41", 0.9f) };
        var track = Guid.NewGuid();

        var alert = await link.RaiseAsync(
            grant,
            new NewAlert(_camera, _watchlist, 41, "person-41", grant.LegalBasisId, grant.Id, _city.Time.GetUtcNow(), 0.9f, 0.45f, new FaceBox(0.1f, 0.2f, 0.3f, 0.4f), crop, track, 2, 0.8f, candidates),
            new CandidateTrace(_camera, track, 1, 0.45f, candidates),
            CancellationToken.None);
        Assert.Null(alert.Stored);
        Assert.Equal(1, publisher.Pending);
        Assert.True(await publisher.SendHeadAsync());
        Assert.Equal(0, publisher.Pending);

        var stored = await StoredCandidatesAsync();
        var message = Assert.Single(stored);
        var sent = WorkerProtocol.Parse<CandidateEvent>(message.Data!);
        Assert.Equal(sent.EventId, message.Headers!["Nats-Msg-Id"].ToString());
        Assert.Equal((CandidateKind.Raised, _camera, Revision, Worker, alert.Key), (sent.Kind, sent.CameraId, sent.FencingToken, sent.Worker, sent.AlertKey));
        Assert.Equal(grant.Id, new GrantVerifier(_responder.GrantKey, Worker, _city.Time).Verify(sent.Grant).Id);
        Assert.Equal((41L, 0.9f, track, 2), (sent.Raised!.EntryId, sent.Raised.Score, sent.Raised.TrackId, sent.Raised.Frames));
        Assert.Equal(crop, _responder.OpenCrop(sent.Raised.SealedCrop, alert.Key));
        Assert.ThrowsAny<CryptographicException>(() => _responder.OpenCrop(sent.Raised.SealedCrop, Guid.NewGuid().ToString("N")));
        Assert.DoesNotContain(Convert.ToBase64String(crop), System.Text.Encoding.UTF8.GetString(message.Data!), StringComparison.Ordinal);

        // Sent again with the same id (no acknowledgement seen): JetStream keeps one copy.
        var again = await publisher.PublishAsync(sent);
        Assert.True(again.Duplicate);
        Assert.Equal(message.Metadata!.Value.Sequence.Stream, again.StreamSequence);
        Assert.Single(await StoredCandidatesAsync());

        // Touches follow under the same alert key and fence.
        link.Touch(alert, _city.Time.GetUtcNow(), 5);
        Assert.True(await publisher.SendHeadAsync());
        var touched = WorkerProtocol.Parse<CandidateEvent>((await StoredCandidatesAsync())[1].Data!);
        Assert.Equal((CandidateKind.Touched, alert.Key, 5), (touched.Kind, touched.AlertKey, touched.Touched!.Frames));
    }

    [Fact]
    public async Task A_candidate_not_acknowledged_stays_queued_and_goes_with_its_own_id_once_nats_is_back()
    {
        var publisher = await CandidatePublisher.OpenAsync(_nats);
        var candidate = new CandidateEvent(
            Guid.NewGuid().ToString("N"), CandidateKind.Touched, _camera, Revision, Worker, "grant", _city.Time.GetUtcNow(), "key",
            Touched: new TouchedCandidate(_city.Time.GetUtcNow(), 3));
        await _server.StopAsync();

        Assert.True(publisher.Enqueue(candidate));
        Assert.False(await publisher.SendHeadAsync());
        Assert.Equal(1, publisher.Pending);

        await _server.StartAgainAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!await publisher.SendHeadAsync(limit.Token))
        {
            await Task.Delay(200, limit.Token);
        }

        Assert.Equal(0, publisher.Pending);
        var message = Assert.Single(await StoredCandidatesAsync());
        Assert.Equal(candidate.EventId, WorkerProtocol.Parse<CandidateEvent>(message.Data!).EventId);
    }

    [Fact]
    public async Task With_nats_down_the_camera_loses_its_grant_and_gallery_within_the_grant_lifetime()
    {
        var link = await LinkAsync(_city.Time);
        var grant = (await link.GrantAsync(_camera, CancellationToken.None)).Grant!;
        Assert.Equal(1, link.GrantedCameras);

        await _server.StopAsync();
        // The analyser asks again 2 s before expiry: the server does not answer, and the camera stops there and then.
        var renewal = await link.GrantAsync(_camera, CancellationToken.None);

        Assert.Null(renewal.Grant);
        Assert.Contains("no grant from the server", renewal.Refusal, StringComparison.Ordinal);
        Assert.Equal(0, link.GrantedCameras);
        Assert.Null(link.Gallery(_camera));
        Assert.ThrowsAny<InvalidOperationException>(() => link.Search(grant, Unit(0), 0.45f, 3));

        // Even a grant still held is useless past its expiry.
        _city.Time.Advance(PolicyEngine.GrantLifetime);
        Assert.Throws<GrantExpiredException>(() => link.Search(grant, Unit(0), 0.45f, 3));
        await _server.StartAgainAsync();
    }

    [Fact]
    public async Task A_gallery_sealed_under_another_grant_does_not_open()
    {
        var link = await LinkAsync(_city.Time);
        var grant = (await link.GrantAsync(_camera, CancellationToken.None)).Grant!;
        var snapshot = new GallerySnapshot(1, Guid.NewGuid(), [new GalleryTemplate(_watchlist, 41, "person-41", ReleasedGallery.Encode(Unit(0)))]);

        Assert.Throws<GalleryRefusedException>(() => ReleasedGallery.Open(snapshot, grant));
        Assert.Throws<GalleryRefusedException>(() => ReleasedGallery.Open(snapshot with { GrantId = grant.Id, Templates = [new GalleryTemplate(_watchlist + 99, 1, "x", ReleasedGallery.Encode(Unit(0)))] }, grant));
    }

    private async Task<ServerLink> LinkAsync(TimeProvider time, CandidatePublisher? publisher = null)
    {
        var candidates = publisher ?? await CandidatePublisher.OpenAsync(_nats);
        return new ServerLink(
            _nats,
            Worker,
            _responder.GrantKey,
            id => _leased ? new CameraLease(id.ToString(System.Globalization.CultureInfo.InvariantCulture), Worker, Revision, DateTimeOffset.MaxValue) : null,
            candidates,
            time);
    }

    private async Task<List<INatsJSMsg<byte[]>>> StoredCandidatesAsync()
    {
        var js = new NatsJSContext(_nats);
        var consumer = await js.CreateOrderedConsumerAsync(WorkerProtocol.CandidateStream);
        var messages = new List<INatsJSMsg<byte[]>>();
        await foreach (var message in consumer.FetchNoWaitAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 100 }))
        {
            messages.Add(message);
        }

        return messages;
    }

    private static float[] Unit(int axis)
    {
        var vector = new float[512];
        vector[axis] = 1;
        return vector;
    }
}
