using CityWatch.Audit;
using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// Audit events from workers over JetStream into the server's log, against a real nats-server (one per test) and
/// a fresh data folder: logged once however often they are published or delivered, dropped when fenced off,
/// malformed ones terminated, acknowledged ones kept across a nats-server restart; the log verifies after each.
/// </summary>
public sealed class AuditRelayTests : IAsyncLifetime
{
    private NatsServer _server = null!;
    private NatsConnection _nats = null!;
    private TestCity _city = null!;

    public async Task InitializeAsync()
    {
        _server = await NatsServer.StartAsync();
        _nats = new NatsConnection(new NatsOpts { Url = _server.Url });
        await _nats.ConnectAsync();
        _city = new TestCity();
    }

    public async Task DisposeAsync()
    {
        await _nats.DisposeAsync();
        _server.Dispose();
        _city.Dispose();
    }

    [Fact]
    public async Task An_acknowledged_event_reaches_the_log_once_saying_where_it_came_from()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var ingest = await OpenIngestAsync();
        var lease = await AcquireAsync("cam-1", "worker-a");

        var ack = await publisher.PublishAsync(AuditEvent.Under(lease, Act("worker-a", "match on cam-1")));
        await IngestUntilAsync(ingest, c => c.Accepted == 1);

        Assert.False(ack.Duplicate);
        Assert.Equal(0, await ingest.ProcessAvailableAsync());
        var act = Assert.Single(await LoggedAsync("match on cam-1"));
        Assert.Equal("worker:worker-a", act.Actor);
        Assert.Contains("scaleout.fence", act.Body, StringComparison.Ordinal);
        Assert.Contains($"\"{lease.Revision}\"", act.Body, StringComparison.Ordinal);
        Assert.Equal(new AuditIngestCounts(1, 0, 0, 0, 0), ingest.Counts);
        // What the public reads commits to the camera and the worker (the act's actor), in its provenance too.
        var published = Assert.Single(_city.Audit.ReadSigned(0, 10_000), a => a.Outcome == "match on cam-1");
        Assert.StartsWith("c:", Parameter(published, "scaleout.camera"), StringComparison.Ordinal);
        Assert.StartsWith("c:", Parameter(published, "scaleout.worker"), StringComparison.Ordinal);
        Assert.DoesNotContain("worker-a", published.Body, StringComparison.Ordinal);
        Assert.Equal("cam-1", Parameter(act, "scaleout.camera"));
        Assert.Equal("worker-a", Parameter(act, "scaleout.worker"));
        AssertLogVerifies();
    }

    [Fact]
    public async Task The_same_event_published_twice_and_delivered_twice_is_logged_once()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var ingest = await OpenIngestAsync();
        var auditEvent = AuditEvent.Under(await AcquireAsync("cam-1", "worker-a"), Act("worker-a", "one act"));

        var first = await publisher.PublishAsync(auditEvent);
        var retry = await publisher.PublishAsync(auditEvent);

        Assert.False(first.Duplicate);
        Assert.True(retry.Duplicate);
        Assert.Equal(first.StreamSequence, retry.StreamSequence);

        // A server that committed and died before its ack: JetStream delivers the message again after the ack wait.
        var consumer = await new NatsJSContext(_nats).GetConsumerAsync(AuditPublisher.DefaultStream, AuditIngest.DefaultConsumer);
        await foreach (var message in consumer.FetchNoWaitAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 10 }))
        {
            Assert.Equal(IngestOutcome.Accepted, ingest.Record(message));
        }

        await IngestUntilAsync(ingest, c => c.Duplicates == 1);

        // A second consumer over the stream (a consumer recreated from scratch) delivers it once more.
        var second = await OpenIngestAsync("citywatch-audit-ingest-2");
        await IngestUntilAsync(second, c => c.Duplicates == 1);

        Assert.Equal(new AuditIngestCounts(1, 1, 0, 0, 0), ingest.Counts);
        Assert.Equal(new AuditIngestCounts(0, 1, 0, 0, 0), second.Counts);
        Assert.Single(await LoggedAsync("one act"));
        using var connection = _city.Database.Open();
        Assert.Equal(1, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM scaleout_received"));
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_batch_is_one_transaction_a_duplicate_within_it_changes_nothing_and_one_the_database_refuses_holds_up_only_itself()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var ingest = await OpenIngestAsync();
        var lease = await AcquireAsync("cam-1", "worker-a");
        await publisher.PublishAsync(AuditEvent.Under(lease, Act("worker-a", "first act")));
        var consumer = await new NatsJSContext(_nats).GetConsumerAsync(AuditPublisher.DefaultStream, AuditIngest.DefaultConsumer);
        var fetched = new List<INatsJSMsg<byte[]>>();
        await foreach (var message in consumer.FetchNoWaitAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 10 }))
        {
            fetched.Add(message);
        }

        // The same message twice in one batch: the second finds the first's event id, written in the same transaction.
        var first = Assert.Single(fetched);
        Assert.Equal([IngestOutcome.Accepted, IngestOutcome.Duplicate], ingest.RecordAll([first, first]));
        await first.AckAsync(new AckOpts { DoubleAck = true });

        // A message the database refuses, between two it takes: the batch of three fails as a whole, leaves nothing
        // behind, and is taken again message by message, so the other two land once and only the refused one waits.
        using (var connection = _city.Database.Open())
        {
            connection.Execute(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON scaleout_received WHEN NEW.event_id = 'poison-1' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
        }

        await publisher.PublishAsync(AuditEvent.Under(lease, Act("worker-a", "before the refused one")));
        await publisher.PublishAsync(AuditEvent.Under(lease, Act("worker-a", "refused act")) with { EventId = "poison-1" });
        await publisher.PublishAsync(AuditEvent.Under(lease, Act("worker-a", "after the refused one")));
        Assert.Equal(3, await ingest.ProcessAvailableAsync());

        Assert.Equal(new AuditIngestCounts(3, 1, 0, 0, 1), ingest.Counts);
        Assert.Single(await LoggedAsync("first act"));
        Assert.Single(await LoggedAsync("before the refused one"));
        Assert.Single(await LoggedAsync("after the refused one"));
        Assert.Empty(await LoggedAsync("refused act"));
        using (var connection = _city.Database.Open())
        {
            Assert.Equal(3, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM scaleout_received"));
            connection.Execute("DROP TRIGGER refuse_poison");
        }

        // Redelivered after its nak's delay, it lands now that the database takes it.
        await IngestUntilAsync(ingest, c => c.Accepted == 4);
        Assert.Single(await LoggedAsync("refused act"));
        AssertLogVerifies();
    }

    [Fact]
    public async Task The_pull_loop_goes_on_after_a_batch_that_throws_unforeseen_and_its_messages_come_again()
    {
        var js = new NatsJSContext(_nats);
        await js.CreateStreamAsync(new StreamConfig("PULL_TEST", ["pull.test"]));
        var consumer = await js.CreateOrUpdateConsumerAsync("PULL_TEST", new ConsumerConfig("pull-test")
        {
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            AckWait = TimeSpan.FromSeconds(1),
        });
        for (var i = 0; i < 5; i++)
        {
            await js.PublishAsync("pull.test", new[] { (byte)i });
        }

        var handled = new List<int>();
        var batches = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();
        var loop = PullIngest.RunAsync(consumer, 16, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100), async (batch, ct) =>
        {
            if (Interlocked.Increment(ref batches) == 1)
            {
                throw new InvalidCastException("a failure nobody foresaw");
            }

            foreach (var message in batch)
            {
                handled.Add(message.Data![0]);
                await message.AckAsync(cancellationToken: ct);
            }

            if (handled.Distinct().Count() == 5)
            {
                done.TrySetResult();
            }
        }, NullLogger.Instance, "test", stop.Token);

        // The first batch threw and was not acked: JetStream delivers it again after the ack wait, to the same loop.
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(batches >= 2);
        Assert.Equal([0, 1, 2, 3, 4], handled.Distinct().Order());
    }

    [Fact]
    public async Task An_event_with_a_stale_fencing_token_is_dropped_recorded_and_its_refusal_logged()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var ingest = await OpenIngestAsync();
        var leases = await CameraLeases.OpenAsync(_nats, TimeSpan.FromMinutes(1), TimeProvider.System);
        var old = await leases.TryAcquireAsync("cam-1", "worker-a");
        Assert.NotNull(old);
        Assert.True(await leases.ReleaseAsync(old));
        var current = await leases.TryAcquireAsync("cam-1", "worker-b");
        Assert.NotNull(current);
        Assert.True(current.Revision > old.Revision);

        await publisher.PublishAsync(AuditEvent.Under(current, Act("worker-b", "b acts")));
        var late = AuditEvent.Under(old, Act("worker-a", "a acts after losing the camera"));
        await publisher.PublishAsync(late);
        await publisher.PublishAsync(AuditEvent.Under(current, Act("worker-b", "b acts again")));
        await IngestUntilAsync(ingest, c => c.Accepted == 2 && c.Stale == 1);

        Assert.Single(await LoggedAsync("b acts"));
        Assert.Single(await LoggedAsync("b acts again"));
        Assert.Empty(await LoggedAsync("a acts after losing the camera"));
        var refusal = Assert.Single(_city.Audit.Read(0, 10_000, AuditIngest.StaleEventAction));
        Assert.Equal(AuditIngest.Actor, refusal.Actor);
        Assert.Contains($"fencing token {old.Revision} is below {current.Revision}", refusal.Outcome, StringComparison.Ordinal);
        Assert.Contains(late.EventId, refusal.Body, StringComparison.Ordinal);
        using var connection = _city.Database.Open();
        Assert.Equal("stale", connection.ExecuteScalar<string>("SELECT outcome FROM scaleout_received WHERE event_id = @EventId", new { late.EventId }));
        Assert.Equal((long)current.Revision, connection.ExecuteScalar<long>("SELECT revision FROM camera_fences WHERE camera_id = 'cam-1'"));
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_malformed_message_is_terminated_and_recorded_and_the_next_good_one_still_lands()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var ingest = await OpenIngestAsync();
        var js = new NatsJSContext(_nats);
        var lease = await AcquireAsync("cam-1", "worker-a");

        await js.PublishAsync("citywatch.audit.worker-a", "not an event"u8.ToArray(), opts: new NatsJSPubOpts { MsgId = "garbage-1" });
        // An event that names another worker than the subject it came on.
        var forged = new AuditEvent("forged-1", "cam-1", lease.Revision, "worker-b", Act("worker-b", "forged act"));
        await js.PublishAsync("citywatch.audit.worker-a", forged.ToJson(), opts: new NatsJSPubOpts { MsgId = forged.EventId });
        await publisher.PublishAsync(AuditEvent.Under(lease, Act("worker-a", "good act")));
        await IngestUntilAsync(ingest, c => c.Malformed == 2 && c.Accepted == 1);

        Assert.Single(await LoggedAsync("good act"));
        Assert.Empty(await LoggedAsync("forged act"));
        using (var connection = _city.Database.Open())
        {
            var reasons = connection.Query<string>("SELECT reason FROM scaleout_rejected ORDER BY stream_seq").ToList();
            Assert.Equal(2, reasons.Count);
            Assert.StartsWith("not an audit event", reasons[0], StringComparison.Ordinal);
            Assert.Contains("came on the subject citywatch.audit.worker-a", reasons[1], StringComparison.Ordinal);
        }

        // Terminated (acks confirmed by the server): nothing is waiting for an ack or to be delivered.
        var consumer = await js.GetConsumerAsync(AuditPublisher.DefaultStream, AuditIngest.DefaultConsumer);
        Assert.Equal(0, consumer.Info.NumAckPending);
        Assert.Equal(0UL, consumer.Info.NumPending);
        Assert.Equal(0, await ingest.ProcessAvailableAsync());
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_worker_cannot_log_as_someone_else_nor_log_anything_but_its_lease_moves()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var ingest = await OpenIngestAsync();
        var lease = await AcquireAsync("cam-1", "worker-a");

        await publisher.PublishAsync(AuditEvent.Under(lease, new AuditRecord("admin", WorkerAuditActions.LeaseAcquired, "as the administrator")));
        await publisher.PublishAsync(AuditEvent.Under(lease, new AuditRecord("worker:worker-b", WorkerAuditActions.LeaseLost, "as another worker")));
        await publisher.PublishAsync(AuditEvent.Under(lease, new AuditRecord("worker:worker-a", AuditActions.Match, "a match the server never saw")));
        await publisher.PublishAsync(AuditEvent.Under(lease, new AuditRecord("worker:worker-a", AuditActions.PolicyGrant, "a grant the server never gave")));
        await publisher.PublishAsync(AuditEvent.Under(lease, Act("worker-a", "its own lease move")));
        await IngestUntilAsync(ingest, c => c.Malformed == 4 && c.Accepted == 1);

        Assert.Single(await LoggedAsync("its own lease move"));
        foreach (var refused in new[] { "as the administrator", "as another worker", "a match the server never saw", "a grant the server never gave" })
        {
            Assert.Empty(await LoggedAsync(refused));
        }

        using (var connection = _city.Database.Open())
        {
            var reasons = connection.Query<string>("SELECT reason FROM scaleout_rejected ORDER BY stream_seq").ToList();
            Assert.Equal(4, reasons.Count);
            Assert.Equal("a worker logs only as itself ('worker:worker-a'), not as 'admin'", reasons[0]);
            Assert.Equal("a worker logs only as itself ('worker:worker-a'), not as 'worker:worker-b'", reasons[1]);
            Assert.StartsWith("a worker may not log 'match'", reasons[2], StringComparison.Ordinal);
            Assert.StartsWith("a worker may not log 'policy.grant'", reasons[3], StringComparison.Ordinal);
            Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM scaleout_received WHERE outcome <> 'accepted'"));
        }

        AssertLogVerifies();
    }

    [Fact]
    public async Task A_workers_lease_moves_reach_the_log_under_its_name_with_their_revisions_and_reasons()
    {
        var ingest = await OpenIngestAsync();
        var keeper = new CameraLeaseKeeper(_nats, "worker-a", TimeSpan.FromMinutes(1), TimeProvider.System);
        var leaseAudit = await LeaseAudit.OpenAsync(_nats, keeper);
        var moves = new List<LeaseMove>();
        keeper.LeaseMoved += moves.Add;
        keeper.SetCameras(["cam-1", "cam-2"]);
        await keeper.RoundAsync();
        Assert.NotNull(keeper.Lease("cam-1"));
        Assert.NotNull(keeper.Lease("cam-2"));

        keeper.SetCameras(["cam-1"]);
        await keeper.RoundAsync();
        Assert.Equal(0, await leaseAudit.DrainAsync(TimeSpan.FromSeconds(10)));
        await IngestUntilAsync(ingest, c => c.Accepted == 3);

        Assert.Equal(3, leaseAudit.Acknowledged);
        Assert.Equal([LeaseMoveKind.Acquired, LeaseMoveKind.Acquired, LeaseMoveKind.Released], moves.Select(m => m.Kind));
        await _city.Audit.FlushAsync();
        var acquired = _city.Audit.Read(0, 10_000, WorkerAuditActions.LeaseAcquired);
        Assert.Equal(["cam-1", "cam-2"], acquired.Select(a => Parameter(a, "camera")).Order(StringComparer.Ordinal));
        Assert.All(acquired, a => Assert.Equal("worker:worker-a", a.Actor));
        foreach (var move in moves.Where(m => m.Kind == LeaseMoveKind.Acquired))
        {
            var logged = acquired.Single(a => Parameter(a, "camera") == move.Lease.CameraId);
            Assert.Equal(move.Lease.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture), Parameter(logged, "revision"));
        }

        // The release names the revision the lease had then (renewed since it was taken) and why it went.
        var gone = moves[^1].Lease;
        var released = Assert.Single(_city.Audit.Read(0, 10_000, WorkerAuditActions.LeaseReleased));
        Assert.Equal("cam-2", Parameter(released, "camera"));
        Assert.Equal(gone.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture), Parameter(released, "revision"));
        Assert.Equal("no longer in the register", Parameter(released, "reason"));
        Assert.Equal($"gave up a camera's lease (revision {gone.Revision}): no longer in the register", released.Outcome);
        AssertLogVerifies();
    }

    [Fact]
    public async Task Acknowledged_events_survive_a_nats_server_restart_and_reach_the_log_after_it()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var ingest = await OpenIngestAsync();
        var lease = await AcquireAsync("cam-1", "worker-a");
        for (var i = 0; i < 3; i++)
        {
            await publisher.PublishAsync(AuditEvent.Under(lease, Act("worker-a", $"before the restart {i}")));
        }

        await _server.RestartAsync();
        using var stop = new CancellationTokenSource();
        var run = ingest.RunAsync(stop.Token);
        await WaitForAsync(() => ingest.Counts.Accepted == 3);

        // Once more, with the loop running: a restart under it, then an event published (retried with its id until acknowledged).
        await _server.RestartAsync();
        var after = AuditEvent.Under(lease, Act("worker-a", "after the restarts"));
        await PublishUntilAcknowledgedAsync(publisher, after);
        await WaitForAsync(() => ingest.Counts.Accepted == 4);
        await stop.CancelAsync();
        await run;

        for (var i = 0; i < 3; i++)
        {
            Assert.Single(await LoggedAsync($"before the restart {i}"));
        }

        Assert.Single(await LoggedAsync("after the restarts"));
        Assert.Equal(0, ingest.Counts.Duplicates + ingest.Counts.Stale + ingest.Counts.Malformed);
        AssertLogVerifies();
    }

    [Fact]
    public async Task An_event_the_database_could_not_take_leaves_nothing_behind_and_lands_when_delivered_again()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        // A trail that has shut down refuses to stage: the failure comes inside the ingest's transaction.
        var stopped = new AuditTrail(_city.Database, _city.Time);
        await stopped.DisposeAsync();
        var failing = await OpenIngestAsync(audit: stopped);
        await publisher.PublishAsync(AuditEvent.Under(await AcquireAsync("cam-1", "worker-a"), Act("worker-a", "taken on the second delivery")));

        await IngestUntilAsync(failing, c => c.Failed == 1);

        using (var connection = _city.Database.Open())
        {
            Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM scaleout_received"));
            Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM camera_fences"));
        }

        var ingest = await OpenIngestAsync();
        await IngestUntilAsync(ingest, c => c.Accepted == 1);
        Assert.Single(await LoggedAsync("taken on the second delivery"));
        Assert.Equal(0, failing.Counts.Accepted);
        AssertLogVerifies();
    }

    [Fact]
    public async Task A_server_given_a_nats_url_takes_worker_events_into_its_log()
    {
        await using var server = await RunningServer.StartAsync(configure: o => o with { NatsUrl = _server.Url });
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var auditEvent = AuditEvent.Under(await AcquireAsync("cam-1", "worker-a"), Act("worker-a", "through the server"));

        await publisher.PublishAsync(auditEvent);

        var audit = server.Services.GetRequiredService<AuditTrail>();
        await RunningServer.WaitUntilAsync(
            async () =>
            {
                await audit.FlushAsync();
                return audit.Read(0, 10_000).Any(a => a.Outcome == "through the server");
            },
            TimeSpan.FromSeconds(30),
            "the worker's event in the server's log");
        Assert.Single(audit.Read(0, 10_000), a => a.Outcome == "through the server");
    }

    [Fact]
    public async Task Serve_refuses_a_nats_url_that_is_not_one_with_one_line()
    {
        var data = TestPaths.NewScratchDirectory();
        try
        {
            TestPaths.KekFor(data);
            var refused = await CliRunner.RunAsync(
                "serve", "--data", data, "--models", TestPaths.Models, "--urls", "http://127.0.0.1:0", "--kek-file", TestPaths.KekFileFor(data), "--nats", "http://127.0.0.1:4222");

            Assert.Equal(1, refused.ExitCode);
            Assert.StartsWith("error: --nats must be a nats:// URL", Assert.Single(refused.Errors), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
            TestPaths.DeleteKekOf(data);
        }
    }

    [Fact]
    public async Task Workers_and_the_server_opening_the_stream_at_once_all_succeed()
    {
        var opened = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => AuditPublisher.OpenAsync(_nats)));

        Assert.All(opened, p => Assert.Equal(AuditPublisher.DefaultStream, p.Stream));
    }

    [Fact]
    public async Task A_publish_that_JetStream_does_not_acknowledge_throws_naming_the_event()
    {
        var publisher = await AuditPublisher.OpenAsync(_nats);
        var auditEvent = AuditEvent.Under(await AcquireAsync("cam-1", "worker-a"), Act("worker-a", "never stored"));
        await new NatsJSContext(_nats).DeleteStreamAsync(AuditPublisher.DefaultStream);

        var refused = await Assert.ThrowsAsync<AuditEventNotStoredException>(() => publisher.PublishAsync(auditEvent));

        Assert.Equal(auditEvent.EventId, refused.EventId);
        Assert.Contains(auditEvent.EventId, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_event_that_is_not_usable_is_refused_before_it_is_sent()
    {
        var record = Act("worker-a", "x");

        Assert.Null(new AuditEvent("e-1", "cam-1", 3, "worker-a", record).Problem());
        Assert.Contains("worker name", new AuditEvent("e-1", "cam-1", 3, "worker.a", record).Problem(), StringComparison.Ordinal);
        Assert.Contains("fencing token 0", new AuditEvent("e-1", "cam-1", 0, "worker-a", record).Problem(), StringComparison.Ordinal);
        Assert.Contains("event id", new AuditEvent("e 1", "cam-1", 3, "worker-a", record).Problem(), StringComparison.Ordinal);
        Assert.Contains("lease key", new AuditEvent("e-1", "cam.1", 3, "worker-a", record).Problem(), StringComparison.Ordinal);
        var missing = Assert.Throws<MalformedAuditEventException>(() => AuditEvent.Parse("""{"eventId":"e-1","cameraId":"cam-1","worker":"w","record":{"actor":"a","action":"b","outcome":"c"}}"""u8));
        Assert.Contains("not an audit event", missing.Message, StringComparison.Ordinal);
    }

    // What a worker may log: a lease move, under its own name.
    private static AuditRecord Act(string worker, string outcome) => new(WorkerRequests.WorkerActor(worker), WorkerAuditActions.LeaseAcquired, outcome);

    private Task<AuditIngest> OpenIngestAsync(string consumer = AuditIngest.DefaultConsumer, AuditTrail? audit = null) =>
        AuditIngest.OpenAsync(_nats, _city.Database, audit ?? _city.Audit, _city.Time, new AuditIngestOptions
        {
            Consumer = consumer,
            AckWait = TimeSpan.FromSeconds(1),
            FetchWait = TimeSpan.FromSeconds(1),
            RetryDelay = TimeSpan.FromMilliseconds(200),
        });

    private async Task<CameraLease> AcquireAsync(string camera, string worker)
    {
        var leases = await CameraLeases.OpenAsync(_nats, TimeSpan.FromMinutes(1), TimeProvider.System);
        return await leases.TryAcquireAsync(camera, worker) ?? throw new InvalidOperationException($"{camera} is leased already");
    }

    private async Task<IReadOnlyList<LoggedAct>> LoggedAsync(string outcome)
    {
        await _city.Audit.FlushAsync();
        return [.. _city.Audit.Read(0, 10_000).Where(a => a.Outcome == outcome)];
    }

    private static string? Parameter(LoggedAct act, string key)
    {
        using var body = System.Text.Json.JsonDocument.Parse(act.Body);
        return body.RootElement.GetProperty("Parameters").TryGetProperty(key, out var value) ? value.GetString() : null;
    }

    private void AssertLogVerifies()
    {
        var verification = AuditVerifier.VerifyDatabase(_city.Database.Path);
        Assert.True(verification.Ok, verification.Message);
    }

    // Pulls what is there until the counts say done; a message awaiting redelivery comes after the ack wait.
    private static async Task IngestUntilAsync(AuditIngest ingest, Func<AuditIngestCounts, bool> done)
    {
        for (var pass = 0; pass < 150 && !done(ingest.Counts); pass++)
        {
            if (await ingest.ProcessAvailableAsync() == 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }

        Assert.True(done(ingest.Counts), $"the ingest stopped at {ingest.Counts}");
    }

    private static async Task WaitForAsync(Func<bool> done)
    {
        for (var attempt = 0; attempt < 300 && !done(); attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        Assert.True(done(), "the condition did not come true within 30 s");
    }

    private static async Task PublishUntilAcknowledgedAsync(AuditPublisher publisher, AuditEvent auditEvent)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await publisher.PublishAsync(auditEvent);
                return;
            }
            catch (AuditEventNotStoredException) when (attempt < 30)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }
        }
    }
}
