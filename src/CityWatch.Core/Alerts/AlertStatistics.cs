using System.Data.Common;
using System.Globalization;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Alerts;

/// <summary>
/// One day's alert counts for one camera (null: supplied media) under one legal basis. The day is the UTC
/// day the alert was raised, so that <see cref="Confirmed"/> and <see cref="Rejected"/> are the fates of
/// that day's <see cref="Raised"/> alerts (the false-alert rate of a day is Rejected / Raised).
/// </summary>
/// <param name="Faces">Faces analysed under a grant of that basis on that camera that day (the denominator of the false-alert rate against faces).</param>
public sealed record DailyAlertStatistics(DateOnly Day, long? CameraId, long LegalBasisId, int Raised, int Confirmed, int Rejected, long Faces = 0);

/// <summary>One UTC year's counts, every camera and legal basis together: alerts raised, confirmed, rejected (false alerts), faces analysed.</summary>
public sealed record YearlyAlertStatistics(int Year, long Raised, long Confirmed, long Rejected, long Faces);

/// <summary>
/// Aggregate alert counts that outlive the alerts: counted in the same transaction as the alert or the
/// decision, never deleted by retention. They hold no personal data. The report feature reads
/// <see cref="Statistics"/>.
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>): the reads and the counters, which write in the caller's
/// transaction (<see cref="Count"/>, <see cref="AddFaces(DbConnection, DbTransaction?, DateTimeOffset, long?, long, long)"/>)
/// or in their own statement. The upserts name the stored counter by its table (<c>alert_statistics.faces</c>), which
/// PostgreSQL needs where the column is also the inserted row's (<c>excluded</c>) and SQLite accepts. The sums are cast to <c>BIGINT</c>, which SQLite reads as an integer and PostgreSQL
/// keeps from turning into <c>NUMERIC</c>.
/// </para>
/// </summary>
public sealed class AlertStatistics(CityWatchDatabase database)
{
    internal const string Raised = "raised";
    internal const string Confirmed = "confirmed";
    internal const string Rejected = "rejected";

    /// <summary>The counts for the UTC days <paramref name="from"/> to <paramref name="to"/> (both included), by day, camera and legal basis.</summary>
    public IReadOnlyList<DailyAlertStatistics> Statistics(DateOnly from, DateOnly to)
    {
        if (to < from)
        {
            throw new InvalidRequestException($"The period ends ({to:yyyy-MM-dd}) before it starts ({from:yyyy-MM-dd}).");
        }

        using var connection = database.Connect();
        return connection.Query<(string Day, long CameraId, long LegalBasisId, long Raised, long Confirmed, long Rejected, long Faces)>(
            """
            SELECT day, camera_id, legal_basis_id, raised, confirmed, rejected, faces FROM alert_statistics
            WHERE day >= @from AND day <= @to ORDER BY day, camera_id, legal_basis_id
            """,
            new { from = Day(from), to = Day(to) })
            .Select(r => new DailyAlertStatistics(
                DateOnly.ParseExact(r.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture),
                r.CameraId == 0 ? null : r.CameraId,
                r.LegalBasisId,
                (int)r.Raised,
                (int)r.Confirmed,
                (int)r.Rejected,
                r.Faces))
            .AsList();
    }

    /// <summary>
    /// The counts summed per UTC year up to <paramref name="to"/>, every camera and legal basis together (live and
    /// retrospective), newest year first: the rows the annual report is drawn from, added up in the database.
    /// </summary>
    public IReadOnlyList<YearlyAlertStatistics> Years(DateOnly to)
    {
        using var connection = database.Connect();
        return connection.Query<(long Year, long Raised, long Confirmed, long Rejected, long Faces)>(
            """
            SELECT CAST(substr(day, 1, 4) AS INTEGER) AS year, CAST(SUM(raised) AS BIGINT), CAST(SUM(confirmed) AS BIGINT), CAST(SUM(rejected) AS BIGINT), CAST(SUM(faces) AS BIGINT)
            FROM alert_statistics WHERE day <= @to GROUP BY substr(day, 1, 4) ORDER BY year DESC
            """,
            new { to = Day(to) })
            .Select(r => new YearlyAlertStatistics((int)r.Year, r.Raised, r.Confirmed, r.Rejected, r.Faces))
            .AsList();
    }

    /// <summary>Adds <paramref name="faces"/> analysed faces to the day of <paramref name="at"/> for a camera and basis.</summary>
    public void AddFaces(DateTimeOffset at, long? cameraId, long legalBasisId, long faces)
    {
        if (faces <= 0)
        {
            return;
        }

        using var connection = database.Connect();
        AddFaces(connection, null, at, cameraId, legalBasisId, faces);
    }

    /// <summary>Adds analysed faces as <see cref="AddFaces(DateTimeOffset, long?, long, long)"/> does, in the caller's transaction.</summary>
    internal static void AddFaces(DbConnection connection, DbTransaction? transaction, DateTimeOffset at, long? cameraId, long legalBasisId, long faces)
    {
        if (faces <= 0)
        {
            return;
        }

        connection.Execute(
            """
            INSERT INTO alert_statistics (day, camera_id, legal_basis_id, faces) VALUES (@day, @camera, @basis, @faces)
            ON CONFLICT (day, camera_id, legal_basis_id) DO UPDATE SET faces = alert_statistics.faces + excluded.faces
            """,
            new { day = Day(DateOnly.FromDateTime(at.UtcDateTime)), camera = cameraId ?? 0, basis = legalBasisId, faces },
            transaction);
    }

    /// <summary>Adds one to <paramref name="counter"/> for the alert raised at <paramref name="raisedAt"/>, in the caller's transaction on either engine.</summary>
    internal static void Count(DbConnection connection, DbTransaction transaction, string counter, DateTimeOffset raisedAt, long? cameraId, long legalBasisId)
    {
        var column = counter switch
        {
            Raised => "raised",
            Confirmed => "confirmed",
            Rejected => "rejected",
            _ => throw new ArgumentOutOfRangeException(nameof(counter), counter, "Unknown counter."),
        };
        connection.Execute(
            $"""
            INSERT INTO alert_statistics (day, camera_id, legal_basis_id, {column}) VALUES (@day, @camera, @basis, 1)
            ON CONFLICT (day, camera_id, legal_basis_id) DO UPDATE SET {column} = alert_statistics.{column} + 1
            """,
            new { day = Day(DateOnly.FromDateTime(raisedAt.UtcDateTime)), camera = cameraId ?? 0, basis = legalBasisId },
            transaction);
    }

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
