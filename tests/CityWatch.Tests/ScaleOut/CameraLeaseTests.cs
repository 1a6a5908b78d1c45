using CityWatch.ScaleOut;
using CityWatch.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.Core;

namespace CityWatch.Tests.ScaleOut;

/// <summary>Camera leases against a real nats-server with JetStream, one server per test.</summary>
public sealed class CameraLeaseTests : IAsyncLifetime
{
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
    public async Task A_second_worker_is_refused_a_camera_whose_lease_is_live()
    {
        var leases = await CameraLeases.OpenAsync(_nats, TimeSpan.FromMinutes(1), TimeProvider.System);

        var first = await leases.TryAcquireAsync("cam-1", "worker-a");
        var second = await leases.TryAcquireAsync("cam-1", "worker-b");
        var again = await leases.TryAcquireAsync("cam-1", "worker-a");
        var other = await leases.TryAcquireAsync("cam-2", "worker-b");

        Assert.NotNull(first);
        Assert.Equal("worker-a", first.Worker);
        Assert.Null(second);
        Assert.Null(again);
        Assert.NotNull(other);
    }

    [Fact]
    public async Task A_renew_with_a_stale_revision_is_refused()
    {
        var leases = await CameraLeases.OpenAsync(_nats, TimeSpan.FromMinutes(1), TimeProvider.System);
        var lease = await leases.TryAcquireAsync("cam-1", "worker-a");
        Assert.NotNull(lease);

        var renewed = await leases.TryRenewAsync(lease);
        var stale = await leases.TryRenewAsync(lease);
        var current = await leases.TryRenewAsync(renewed!);

        Assert.NotNull(renewed);
        Assert.True(renewed.Revision > lease.Revision);
        Assert.Null(stale);
        Assert.NotNull(current);
        Assert.False(await leases.ReleaseAsync(lease));
        Assert.True(await leases.ReleaseAsync(current));
        Assert.NotNull(await leases.TryAcquireAsync("cam-1", "worker-b"));
    }

    [Fact]
    public async Task A_lease_not_renewed_lapses_and_another_worker_takes_it_with_a_higher_revision()
    {
        var ttl = TimeSpan.FromSeconds(1);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.Zero));
        var leases = await CameraLeases.OpenAsync(_nats, ttl, clock);
        var lease = await leases.TryAcquireAsync("cam-1", "worker-a");
        Assert.NotNull(lease);
        Assert.Equal(clock.GetUtcNow() + ttl, lease.ExpiresAt);
        Assert.True(leases.StillHeld(lease));
        Assert.Null(await leases.TryAcquireAsync("cam-1", "worker-b"));

        // The server removes the key once it is older than the bucket's MaxAge; poll until worker B gets it.
        CameraLease? taken = null;
        for (var attempt = 0; attempt < 100 && taken is null; attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200));
            taken = await leases.TryAcquireAsync("cam-1", "worker-b");
        }

        clock.Advance(ttl);
        Assert.NotNull(taken);
        Assert.Equal("worker-b", taken.Worker);
        Assert.True(taken.Revision > lease.Revision);
        Assert.False(leases.StillHeld(lease));
        Assert.Null(await leases.TryRenewAsync(lease));
        Assert.NotNull(await leases.TryRenewAsync(taken));
    }
}
