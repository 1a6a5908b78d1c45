using System.Globalization;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Cameras;

/// <summary>
/// A camera's health over time, for the public register: per camera and UTC day, how many minutes it was
/// observed and how many of those it was up (frames arriving). <c>CameraMonitor</c> samples each camera it
/// ingests once a minute. Nothing personal: a camera id, a date and two counts. On either engine (<see cref="CityWatchDatabase.Connect"/>).
/// </summary>
public sealed class CameraUptime(CityWatchDatabase database, TimeProvider time)
{
    /// <summary>The window the register reports over: today (UTC) and the 29 days before it.</summary>
    public const int WindowDays = 30;

    /// <summary>Counts one minute observed for <paramref name="cameraId"/> on the UTC day of <paramref name="at"/>, up or not.</summary>
    public void Record(long cameraId, DateTimeOffset at, bool up) => Record(at, [(cameraId, up)]);

    /// <summary>
    /// Counts one minute observed on the UTC day of <paramref name="at"/> for every camera sampled, in one
    /// transaction (one disk sync for the whole register, not one per camera). A camera deleted since it was
    /// sampled is skipped: its samples went with it. Days that have left the window are deleted in the same
    /// transaction: the register never reports them, so they are not kept.
    /// </summary>
    public void Record(DateTimeOffset at, IEnumerable<(long CameraId, bool Up)> samples)
    {
        var day = Day(at);
        using var connection = database.Connect();
        using var transaction = connection.BeginTransaction();
        connection.Execute(
            """
            INSERT INTO camera_health_days (camera_id, day, minutes_observed, minutes_up)
            SELECT id, @day, 1, @up FROM cameras WHERE id = @cameraId
            ON CONFLICT (camera_id, day) DO UPDATE SET minutes_observed = camera_health_days.minutes_observed + 1,
                minutes_up = camera_health_days.minutes_up + excluded.minutes_up
            """,
            samples.Select(s => new { cameraId = s.CameraId, day, up = s.Up ? 1 : 0 }),
            transaction);
        connection.Execute(
            "DELETE FROM camera_health_days WHERE day <= @before",
            new { before = Day(at.AddDays(-WindowDays)) },
            transaction);
        transaction.Commit();
    }

    /// <summary>
    /// Each camera's share (0 to 1) of its observed minutes in the last <see cref="WindowDays"/> UTC days
    /// (today included) that it was up; a camera with no sample in the window is absent.
    /// </summary>
    public IReadOnlyDictionary<long, double> Shares()
    {
        var today = time.GetUtcNow();
        using var connection = database.Connect();
        return connection.Query<(long CameraId, long Observed, long Up)>(
                """
                SELECT camera_id, SUM(minutes_observed), SUM(minutes_up) FROM camera_health_days
                WHERE day > @from AND day <= @to GROUP BY camera_id HAVING SUM(minutes_observed) > 0
                """,
                new { from = Day(today.AddDays(-WindowDays)), to = Day(today) })
            .ToDictionary(r => r.CameraId, r => (double)r.Up / r.Observed);
    }

    private static string Day(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
