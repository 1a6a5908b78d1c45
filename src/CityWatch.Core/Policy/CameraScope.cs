using System.Data.Common;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Policy;

/// <summary>
/// Whether a camera is inside a legal basis's scope: named in its camera list, or at a site inside its
/// area polygon (site coordinates, latitude and longitude in degrees; ray casting, edges as straight lines
/// in degrees, which is exact enough at city scale). On both engines: the site is read over
/// <see cref="CityWatchDatabase.Connect"/>, or in the caller's transaction.
/// </summary>
public sealed class CameraScope(CityWatchDatabase database)
{
    public bool Covers(LegalBasis basis, long cameraId)
    {
        ArgumentNullException.ThrowIfNull(basis);
        if (basis.CameraIds.Contains(cameraId))
        {
            return true;
        }

        if (basis.Area is not { Count: >= 3 })
        {
            return false;
        }

        using var connection = database.Connect();
        return Covers(connection, null, basis, cameraId);
    }

    /// <summary>Whether <paramref name="basis"/> covers camera <paramref name="cameraId"/> as <paramref name="transaction"/> sees the register (either engine).</summary>
    internal static bool Covers(DbConnection connection, DbTransaction? transaction, LegalBasis basis, long cameraId) =>
        basis.CameraIds.Contains(cameraId) || (basis.Area is { Count: >= 3 } area && SiteInside(connection, transaction, area, cameraId));

    /// <summary>Whether the site of camera <paramref name="cameraId"/>, as <paramref name="transaction"/> sees it (either engine), is inside <paramref name="area"/>; no such camera: false.</summary>
    internal static bool SiteInside(DbConnection connection, DbTransaction? transaction, IReadOnlyList<GeoPoint> area, long cameraId)
    {
        var site = connection.QuerySingleOrDefault<(double Latitude, double Longitude)?>(
            "SELECT s.latitude, s.longitude FROM cameras c JOIN sites s ON s.id = c.site_id WHERE c.id = @cameraId", new { cameraId }, transaction);
        return site is { } point && Contains(area, point.Latitude, point.Longitude);
    }

    /// <summary>Point in polygon by the even-odd rule.</summary>
    public static bool Contains(IReadOnlyList<GeoPoint> polygon, double latitude, double longitude)
    {
        ArgumentNullException.ThrowIfNull(polygon);
        var inside = false;
        for (int i = 0, j = polygon.Count - 1; i < polygon.Count; j = i++)
        {
            var (a, b) = (polygon[i], polygon[j]);
            if ((a.Latitude > latitude) != (b.Latitude > latitude)
                && longitude < ((b.Longitude - a.Longitude) * (latitude - a.Latitude) / (b.Latitude - a.Latitude)) + a.Longitude)
            {
                inside = !inside;
            }
        }

        return inside;
    }
}
