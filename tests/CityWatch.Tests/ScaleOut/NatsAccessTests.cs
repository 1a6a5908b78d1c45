using CityWatch.Audit;
using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// A real nats-server started with <see cref="NatsAccess.Authorization"/>: nobody gets in without a user; a worker
/// does its own work (a lease, its audit events and candidates) and nothing else: it cannot publish as another
/// worker, read or consume the candidate stream, reconfigure or delete a stream, or receive another's replies.
/// </summary>
public sealed class NatsAccessTests : IAsyncLifetime
{
    private static readonly TimeSpan Refused = TimeSpan.FromSeconds(3);
    private readonly NatsUser _server = NatsAccess.NewUser(NatsAccess.ServerUser);
    private readonly NatsUser _a = NatsAccess.NewUser("worker-a");
    private readonly NatsUser _b = NatsAccess.NewUser("worker-b");
    private NatsServer _nats = null!;

    public async Task InitializeAsync() => _nats = await NatsServer.StartAsync(NatsAccess.Authorization(_server, [_a, _b]));

    public Task DisposeAsync()
    {
        _nats.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Nobody_connects_without_a_user_or_with_a_wrong_password()
    {
        await using var anonymous = new NatsConnection(new NatsOpts { Url = _nats.Url, MaxReconnectRetry = 0 });
        await Assert.ThrowsAnyAsync<NatsException>(async () => await anonymous.ConnectAsync());
        await using var wrong = new NatsConnection(_nats.Link(_a with { Password = "guessed" }).Options("guessing") with { MaxReconnectRetry = 0 });
        await Assert.ThrowsAnyAsync<NatsException>(async () => await wrong.ConnectAsync());
    }

    [Fact]
    public async Task The_configuration_holds_bcrypt_hashes_and_not_the_passwords()
    {
        var configuration = NatsAccess.Authorization(_server, [_a, _b]);

        foreach (var user in (NatsUser[])[_server, _a, _b])
        {
            Assert.DoesNotContain(user.Password, configuration, StringComparison.Ordinal);
        }

        Assert.Equal(3, configuration.Split($"password: \"$2a${NatsAccess.BcryptCost}$").Length - 1);

        // What the file holds does not let anyone in: the hash is not the password.
        var hash = configuration.Split('"').First(part => part.StartsWith("$2a$", StringComparison.Ordinal));
        await using var withHash = new NatsConnection(_nats.Link(_a with { Password = hash }).Options("with-hash") with { MaxReconnectRetry = 0 });
        await Assert.ThrowsAnyAsync<NatsException>(async () => await withHash.ConnectAsync());
    }

    [Fact]
    public async Task A_worker_does_its_own_work_and_cannot_act_as_another_nor_read_or_change_the_streams()
    {
        await using var server = Connect(_server, null);
        var serverJs = new NatsJSContext(server);
        await AuditPublisher.EnsureStreamAsync(serverJs, AuditPublisher.DefaultStream, update: true, default);
        await CandidatePublisher.EnsureStreamAsync(serverJs, update: true, default);

        await using var a = Connect(_a, NatsAccess.InboxPrefix(_a.Name));
        var leases = await CameraLeases.OpenAsync(a, TimeSpan.FromMinutes(1), TimeProvider.System);
        var lease = await leases.TryAcquireAsync("cam-1", _a.Name);
        Assert.NotNull(lease);
        var publisher = await AuditPublisher.OpenAsync(a);
        var own = AuditEvent.Under(lease, new AuditRecord(WorkerRequests.WorkerActor(_a.Name), WorkerAuditActions.LeaseAcquired, "took cam-1"));
        Assert.False((await publisher.PublishAsync(own)).Duplicate);

        // As worker-b, on its subject: JetStream never sees it.
        var js = new NatsJSContext(a);
        var forged = AuditEvent.Under(lease, new AuditRecord(WorkerRequests.WorkerActor(_b.Name), WorkerAuditActions.LeaseAcquired, "forged")) with { Worker = _b.Name };
        await Assert.ThrowsAnyAsync<Exception>(() => Within(js.PublishAsync(AuditPublisher.Subject(_b.Name), forged.ToJson(), opts: new NatsJSPubOpts { MsgId = forged.EventId }).AsTask()));
        await Assert.ThrowsAnyAsync<Exception>(() => Within(js.PublishAsync(WorkerProtocol.CandidateSubject(_b.Name), "{}"u8.ToArray()).AsTask()));

        // Reading the candidates, consuming them, or changing the streams.
        await Assert.ThrowsAnyAsync<Exception>(() => Within(js.CreateOrUpdateConsumerAsync(WorkerProtocol.CandidateStream, new ConsumerConfig("peek")).AsTask()));
        await Assert.ThrowsAnyAsync<Exception>(() => Within(js.DeleteStreamAsync(AuditPublisher.DefaultStream).AsTask()));
        await Assert.ThrowsAnyAsync<Exception>(() => Within(js.PurgeStreamAsync(AuditPublisher.DefaultStream, new StreamPurgeRequest()).AsTask()));
        await Assert.ThrowsAnyAsync<Exception>(() => Within(js.UpdateStreamAsync(new StreamConfig(AuditPublisher.DefaultStream, [AuditPublisher.SubjectPrefix + ">"]) { MaxAge = TimeSpan.FromSeconds(1) }).AsTask()));

        // Another's replies: worker-b's inbox (and the server's) are not worker-a's to subscribe to.
        await using var b = Connect(_b, NatsAccess.InboxPrefix(_b.Name));
        await b.ConnectAsync();
        var watched = new List<string>();
        await using (var sniff = await a.SubscribeCoreAsync<byte[]>(NatsAccess.InboxPrefix(_b.Name) + ".>"))
        {
            await b.PublishAsync(NatsAccess.InboxPrefix(_b.Name) + ".reply", "for b only"u8.ToArray());
            await server.PublishAsync("_INBOX.reply", "for the server only"u8.ToArray());
            using var wait = new CancellationTokenSource(Refused);
            try
            {
                await foreach (var message in sniff.Msgs.ReadAllAsync(wait.Token))
                {
                    watched.Add(message.Subject);
                }
            }
            catch (OperationCanceledException)
            {
                // nothing more came
            }
        }

        Assert.Empty(watched);

        // What is stored is exactly worker-a's one event, and the stream is as the server made it.
        var stream = await serverJs.GetStreamAsync(AuditPublisher.DefaultStream);
        Assert.Equal(1L, stream.Info.State.Messages);
        Assert.Equal(TimeSpan.Zero, stream.Info.Config.MaxAge);
        Assert.Equal(0L, (await serverJs.GetStreamAsync(WorkerProtocol.CandidateStream)).Info.State.Messages);
    }

    private NatsConnection Connect(NatsUser user, string? inboxPrefix) =>
        new(_nats.Link(user).Options(user.Name, inboxPrefix ?? "_INBOX") with { RequestTimeout = Refused });

    // A refused publish or API call gets no answer: it fails within the request timeout, or this deadline.
    private static Task Within(Task task) => task.WaitAsync(Refused + Refused);
}
