using CityWatch.ScaleOut;

namespace CityWatch.Tests.ScaleOut;

/// <summary>The worker's ordered send queue: the head goes again until stored, nothing overtakes it, and a full queue refuses the new event.</summary>
public sealed class OutboundQueueTests
{
    [Fact]
    public async Task An_event_not_stored_stays_at_the_head_and_nothing_overtakes_it()
    {
        var sent = new List<string>();
        var refuseNext = 2;
        var queue = new OutboundQueue<string>(
            (item, _) =>
            {
                sent.Add(item);
                return Task.FromResult(item != "a" || refuseNext-- <= 0);
            },
            maxPending: 10,
            retryDelay: TimeSpan.FromMilliseconds(1));
        Assert.True(queue.Enqueue("a"));
        Assert.True(queue.Enqueue("b"));

        Assert.False(await queue.SendHeadAsync());
        Assert.False(await queue.SendHeadAsync());
        Assert.Equal(2, queue.Pending);
        Assert.True(await queue.SendHeadAsync());
        Assert.True(await queue.SendHeadAsync());
        Assert.True(await queue.SendHeadAsync());

        Assert.Equal(["a", "a", "a", "b"], sent);
        Assert.Equal(0, queue.Pending);
    }

    [Fact]
    public async Task A_full_queue_refuses_the_new_event_and_keeps_the_older_ones()
    {
        var sent = new List<string>();
        var queue = new OutboundQueue<string>((item, _) => { sent.Add(item); return Task.FromResult(true); }, maxPending: 2, retryDelay: TimeSpan.FromMilliseconds(1));

        Assert.True(queue.Enqueue("a"));
        Assert.True(queue.Enqueue("b"));
        Assert.False(queue.Enqueue("c"));
        using var stop = new CancellationTokenSource();
        var running = queue.RunAsync(stop.Token);
        for (var i = 0; i < 200 && queue.Pending > 0; i++)
        {
            await Task.Delay(10);
        }

        await stop.CancelAsync();
        await running;
        Assert.Equal(1, queue.Refused);
        Assert.Equal(["a", "b"], sent);
    }
}
