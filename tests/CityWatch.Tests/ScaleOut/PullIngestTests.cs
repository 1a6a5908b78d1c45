using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace CityWatch.Tests.ScaleOut;

/// <summary>The pull loop the ingests share, against a real nats-server: a burst arrives as batches, and a batch that fails in a way nobody foresaw stops nothing.</summary>
public sealed class PullIngestTests : IAsyncLifetime
{
    private const string Stream = "PULL_TEST";
    private NatsServer _server = null!;
    private NatsConnection _nats = null!;

    public async Task InitializeAsync()
    {
        _server = await NatsServer.StartAsync();
        _nats = new NatsConnection(new NatsOpts { Url = _server.Url });
        await _nats.ConnectAsync();
    }

    public async Task DisposeAsync()
    {
        await _nats.DisposeAsync();
        _server.Dispose();
    }

    [Fact]
    public async Task A_batch_that_throws_unforeseen_is_delivered_again_and_the_loop_goes_on()
    {
        var js = new NatsJSContext(_nats);
        await js.CreateStreamAsync(new StreamConfig(Stream, ["pull.test"]));
        var consumer = await js.CreateOrUpdateConsumerAsync(Stream, new ConsumerConfig("pull-test")
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
}
