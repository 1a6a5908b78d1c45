using CityWatch.Cameras;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Cameras;

/// <summary>The durable per-day health samples behind the register's "up n% of the last 30 days".</summary>
public sealed class CameraUptimeTests
{
    [Fact]
    public void The_share_is_minutes_up_over_minutes_observed_in_the_last_30_utc_days_and_older_days_drop_out()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("CAM-1");
        var uptime = new CameraUptime(city.Database, city.Time);

        // The first day: 10 minutes observed, all down.
        var start = city.Time.GetUtcNow();
        for (var i = 0; i < 10; i++)
        {
            uptime.Record(camera.Id, start.AddMinutes(i), up: false);
        }

        // 29 days later (still inside the window): 3 minutes up, 1 down; 3 up of 14 observed.
        city.Time.Advance(TimeSpan.FromDays(29));
        var now = city.Time.GetUtcNow();
        uptime.Record(camera.Id, now, up: true);
        uptime.Record(camera.Id, now.AddMinutes(1), up: true);
        uptime.Record(camera.Id, now.AddMinutes(2), up: true);
        uptime.Record(camera.Id, now.AddMinutes(3), up: false);
        Assert.Equal(3.0 / 14, uptime.Shares()[camera.Id], precision: 10);

        // A day later the first day has left the window: 3 up of 4.
        city.Time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(0.75, uptime.Shares()[camera.Id], precision: 10);
    }

    [Fact]
    public void A_camera_never_sampled_or_sampled_only_long_ago_has_no_share()
    {
        using var city = new TestCity();
        var sampled = city.AddCamera("CAM-1");
        var never = city.AddCamera("CAM-2");
        var uptime = new CameraUptime(city.Database, city.Time);
        uptime.Record(sampled.Id, city.Time.GetUtcNow(), up: true);

        Assert.Equal(1.0, uptime.Shares()[sampled.Id]);
        Assert.False(uptime.Shares().ContainsKey(never.Id));

        city.Time.Advance(TimeSpan.FromDays(30));
        Assert.Empty(uptime.Shares());
    }

    [Fact]
    public void A_day_that_has_left_the_window_is_deleted_when_the_next_minute_is_recorded()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("CAM-1");
        var uptime = new CameraUptime(city.Database, city.Time);
        uptime.Record(camera.Id, city.Time.GetUtcNow(), up: false);
        Assert.Equal(1, HealthDays(city));

        city.Time.Advance(TimeSpan.FromDays(29));
        uptime.Record(camera.Id, city.Time.GetUtcNow(), up: true);
        Assert.Equal(2, HealthDays(city));

        city.Time.Advance(TimeSpan.FromDays(1));
        uptime.Record(camera.Id, city.Time.GetUtcNow(), up: true);
        Assert.Equal(2, HealthDays(city));
        Assert.Equal(1.0, uptime.Shares()[camera.Id]);
    }

    [Fact]
    public void Deleting_a_camera_deletes_its_health_samples()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("CAM-1");
        var uptime = new CameraUptime(city.Database, city.Time);
        uptime.Record(camera.Id, city.Time.GetUtcNow(), up: true);

        using (var connection = city.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            CameraStore.Remove(connection, transaction, camera.Id);
            transaction.Commit();
        }

        Assert.Empty(uptime.Shares());
    }

    private static long HealthDays(TestCity city)
    {
        using var connection = city.Database.Open();
        return Dapper.SqlMapper.ExecuteScalar<long>(connection, "SELECT COUNT(*) FROM camera_health_days");
    }
}
