using System.Data.Common;
using CityWatch.Data;
using Dapper;

namespace CityWatch.Cameras;

/// <summary>
/// The camera register, on either engine (SQLite or PostgreSQL: the shared code path, <see cref="SqlDialect"/>). Reads, and the writes in a caller's transaction; the governed writes
/// (update, delete, import: recorded, and stopping any deployment on a changed camera) are
/// <c>CameraRegister</c>'s. A failed import leaves nothing half-written.
/// </summary>
public sealed class CameraStore(CityWatchDatabase database)
{
    public const double DefaultAnalysisFps = 2;
    public const int DefaultAnalysisWidth = 640;
    public const int DefaultRetentionDays = 30;
    public const int MaxPageSize = 500;

    private const string CameraColumns = "id, code, site_id, name, owner, purpose, stream_url, face_recognition_allowed, analysis_fps, analysis_width, retention_days, enabled, latitude, longitude";

    public Page<Camera> List(int offset, int limit, long? siteId = null)
    {
        CheckPage(offset, limit);
        using var connection = database.Connect();
        var filter = siteId is null ? "" : "WHERE site_id = @siteId";
        var total = connection.ExecuteScalar<int>($"SELECT COUNT(*) FROM cameras {filter}", new { siteId });
        var items = connection.Query<CameraRow>(
            $"SELECT {CameraColumns} FROM cameras {filter} ORDER BY id LIMIT @limit OFFSET @offset",
            new { siteId, limit, offset }).Select(r => r.ToModel()).ToList();
        return new Page<Camera>(items, total, offset, limit);
    }

    public Page<Site> ListSites(int offset, int limit)
    {
        CheckPage(offset, limit);
        using var connection = database.Connect();
        var total = connection.ExecuteScalar<int>("SELECT COUNT(*) FROM sites");
        var items = connection.Query<Site>(
            "SELECT id, code, name, latitude, longitude, owner FROM sites ORDER BY id LIMIT @limit OFFSET @offset",
            new { limit, offset }).AsList();
        return new Page<Site>(items, total, offset, limit);
    }

    public Camera Get(long id) => Find(id) ?? throw new NotFoundException($"No camera {id}.");

    public Camera? Find(long id)
    {
        using var connection = database.Connect();
        return connection.QuerySingleOrDefault<CameraRow>($"SELECT {CameraColumns} FROM cameras WHERE id = @id", new { id })?.ToModel();
    }

    /// <summary>The camera's stream URL with its credentials opened, for ingest only.</summary>
    internal string? IngestUrl(Camera camera) => StreamCredentials.Open(database, camera.StreamUrl);

    public IReadOnlyList<Camera> Streaming()
    {
        using var connection = database.Connect();
        return connection.Query<CameraRow>(
            $"SELECT {CameraColumns} FROM cameras WHERE enabled = @enabled AND stream_url IS NOT NULL ORDER BY id", new { enabled = true }).Select(r => r.ToModel()).ToList();
    }

    public Site CreateSite(SiteInput input)
    {
        Validate(input);
        using var connection = database.Connect();
        try
        {
            var id = connection.ExecuteScalar<long>(
                "INSERT INTO sites (code, name, latitude, longitude, owner) VALUES (@Code, @Name, @Latitude, @Longitude, @Owner) RETURNING id",
                input);
            return new Site(id, input.Code, input.Name, input.Latitude, input.Longitude, input.Owner);
        }
        catch (DbException e) when (SqlDialect.IsConstraintViolation(e))
        {
            throw new ConflictException($"A site with code '{input.Code}' already exists.");
        }
    }

    public Camera Create(CameraInput input)
    {
        using var connection = database.Connect();
        using var transaction = connection.BeginTransaction();
        var camera = Insert(connection, transaction, input);
        transaction.Commit();
        return camera;
    }

    /// <summary>
    /// Replaces camera <paramref name="id"/> in the caller's transaction and returns it as it was and as it
    /// is. A stream URL sent without credentials that equals the stored one stripped keeps the stored
    /// credentials (<see cref="StreamCredentials.Merge"/>). Callers outside tests go through
    /// <c>CameraRegister</c>, which records the change and stops deployments the camera is in.
    /// </summary>
    internal static CameraChange Replace(DbConnection connection, DbTransaction transaction, long id, CameraInput input)
    {
        Validate(input);
        var before = Find(connection, transaction, id) ?? throw new NotFoundException($"No camera {id}.");
        var siteId = SiteIdFor(connection, transaction, input.SiteCode);
        input = input with { StreamUrl = StreamCredentials.Merge(Blank(input.StreamUrl), before.StreamUrl) };
        try
        {
            connection.Execute(
                """
                UPDATE cameras SET code = @Code, site_id = @siteId, name = @Name, owner = @Owner, purpose = @Purpose,
                    stream_url = @StreamUrl, face_recognition_allowed = @FaceRecognitionAllowed, analysis_fps = @fps,
                    analysis_width = @width, retention_days = @retention, enabled = @enabled,
                    latitude = @Latitude, longitude = @Longitude
                WHERE id = @id
                """,
                Parameters(input, siteId, id),
                transaction);
        }
        catch (DbException e) when (SqlDialect.IsConstraintViolation(e))
        {
            throw new ConflictException($"A camera with code '{input.Code}' already exists.");
        }

        return new CameraChange(before, Find(connection, transaction, id)!);
    }

    /// <summary>Deletes camera <paramref name="id"/> in the caller's transaction and returns what it was.</summary>
    internal static Camera Remove(DbConnection connection, DbTransaction transaction, long id)
    {
        var camera = Find(connection, transaction, id) ?? throw new NotFoundException($"No camera {id}.");
        connection.Execute("DELETE FROM cameras WHERE id = @id", new { id }, transaction);
        return camera;
    }

    /// <summary>
    /// Adds or updates sites and cameras (matched by code) in the caller's transaction; throws on the first
    /// invalid one, so the caller's rollback leaves nothing. Returns the counts and every camera changed.
    /// </summary>
    internal static (ImportResult Result, IReadOnlyList<CameraChange> Updated) Import(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<SiteInput> sites, IReadOnlyList<CameraInput> cameras)
    {
        foreach (var site in sites)
        {
            Validate(site);
            connection.Execute(
                """
                INSERT INTO sites (code, name, latitude, longitude, owner) VALUES (@Code, @Name, @Latitude, @Longitude, @Owner)
                ON CONFLICT(code) DO UPDATE SET name = excluded.name, latitude = excluded.latitude,
                    longitude = excluded.longitude, owner = excluded.owner
                """,
                site,
                transaction);
        }

        var camerasAdded = 0;
        var updated = new List<CameraChange>();
        foreach (var camera in cameras)
        {
            var existing = connection.ExecuteScalar<long?>("SELECT id FROM cameras WHERE code = @Code", camera, transaction);
            if (existing is { } id)
            {
                updated.Add(Replace(connection, transaction, id, camera));
            }
            else
            {
                Insert(connection, transaction, camera);
                camerasAdded++;
            }
        }

        return (new ImportResult(sites.Count, cameras.Count, camerasAdded, updated.Count), updated);
    }

    /// <summary>
    /// What importing would do, without doing it: the import runs in a transaction that is rolled back, so
    /// every check the database makes (a code taken, a site missing) is made, and nothing is kept or logged.
    /// </summary>
    public ImportResult CheckImport(IReadOnlyList<SiteInput> sites, IReadOnlyList<CameraInput> cameras)
    {
        using var connection = database.Connect();
        using var transaction = connection.BeginTransaction();
        var (result, _) = Import(connection, transaction, sites, cameras);
        transaction.Rollback();
        return result;
    }

    internal static Camera? Find(DbConnection connection, DbTransaction transaction, long id) =>
        connection.QuerySingleOrDefault<CameraRow>($"SELECT {CameraColumns} FROM cameras WHERE id = @id", new { id }, transaction)?.ToModel();

    internal static Camera Insert(DbConnection connection, DbTransaction transaction, CameraInput input)
    {
        Validate(input);
        var siteId = SiteIdFor(connection, transaction, input.SiteCode);
        try
        {
            var id = connection.ExecuteScalar<long>(
                """
                INSERT INTO cameras (code, site_id, name, owner, purpose, stream_url, face_recognition_allowed, analysis_fps,
                    analysis_width, retention_days, enabled, latitude, longitude)
                VALUES (@Code, @siteId, @Name, @Owner, @Purpose, @StreamUrl, @FaceRecognitionAllowed, @fps, @width, @retention, @enabled, @Latitude, @Longitude)
                RETURNING id
                """,
                Parameters(input, siteId, 0),
                transaction);
            return connection.QuerySingle<CameraRow>($"SELECT {CameraColumns} FROM cameras WHERE id = @id", new { id }, transaction).ToModel();
        }
        catch (DbException e) when (SqlDialect.IsConstraintViolation(e))
        {
            throw new ConflictException($"A camera with code '{input.Code}' already exists.");
        }
    }

    private static object Parameters(CameraInput input, long siteId, long id) => new
    {
        id,
        input.Code,
        siteId,
        input.Name,
        input.Owner,
        input.Purpose,
        StreamUrl = Blank(input.StreamUrl),
        input.FaceRecognitionAllowed,
        fps = input.AnalysisFps ?? DefaultAnalysisFps,
        width = input.AnalysisWidth ?? DefaultAnalysisWidth,
        retention = input.RetentionDays ?? DefaultRetentionDays,
        enabled = input.Enabled ?? !string.IsNullOrWhiteSpace(input.StreamUrl),
        input.Latitude,
        input.Longitude,
    };

    private static string? Blank(string? url) => string.IsNullOrWhiteSpace(url) ? null : url;

    private static long SiteIdFor(DbConnection connection, DbTransaction transaction, string siteCode) =>
        connection.ExecuteScalar<long?>("SELECT id FROM sites WHERE code = @siteCode", new { siteCode }, transaction)
        ?? throw new InvalidRequestException($"No site with code '{siteCode}'.");

    private static void CheckPage(int offset, int limit)
    {
        if (offset < 0)
        {
            throw new InvalidRequestException("offset must not be negative.");
        }

        if (limit is < 1 or > MaxPageSize)
        {
            throw new InvalidRequestException($"limit must be between 1 and {MaxPageSize}.");
        }
    }

    internal static void Validate(SiteInput site)
    {
        Require(site.Code, "site code");
        Require(site.Name, "site name");
        Require(site.Owner, "site owner");
        if (site.Latitude is < -90 or > 90 || site.Longitude is < -180 or > 180 || double.IsNaN(site.Latitude) || double.IsNaN(site.Longitude))
        {
            throw new InvalidRequestException($"Site '{site.Code}' has coordinates out of range.");
        }
    }

    internal static void Validate(CameraInput camera)
    {
        Require(camera.Code, "camera code");
        Require(camera.SiteCode, "site code");
        Require(camera.Name, "camera name");
        Require(camera.Owner, "owner");
        Require(camera.Purpose, "purpose");
        if (camera.AnalysisFps is { } fps && (fps <= 0 || fps > 30 || double.IsNaN(fps)))
        {
            throw new InvalidRequestException($"Camera '{camera.Code}': analysisFps must be in (0, 30].");
        }

        if (camera.AnalysisWidth is { } width && (width < 64 || width > 3840))
        {
            throw new InvalidRequestException($"Camera '{camera.Code}': analysisWidth must be between 64 and 3840.");
        }

        if (camera.RetentionDays is { } days && (days < 0 || days > 3650))
        {
            throw new InvalidRequestException($"Camera '{camera.Code}': retentionDays must be between 0 and 3650.");
        }

        if (camera.Latitude is < -90 or > 90 || camera.Longitude is < -180 or > 180 || camera.Latitude is double.NaN || camera.Longitude is double.NaN)
        {
            throw new InvalidRequestException($"Camera '{camera.Code}' has coordinates out of range.");
        }

        if (!string.IsNullOrWhiteSpace(camera.StreamUrl) && !IsSupportedUrl(camera.StreamUrl))
        {
            throw new InvalidRequestException($"Camera '{camera.Code}': stream URL must be rtsp://, http(s):// or file://.");
        }
    }

    internal static bool IsSupportedUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "rtsp" or "rtsps" or "http" or "https" or "file";

    private static void Require(string? value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidRequestException($"'{name}' is required.");
        }
    }
}

public sealed record ImportResult(int Sites, int Cameras, int CamerasAdded, int CamerasUpdated);

/// <summary>A camera as it was and as it is after a write.</summary>
public sealed record CameraChange(Camera Before, Camera After)
{
    /// <summary>Whether the change touches what recognition depends on: the stream, the site or the face-recognition flag.</summary>
    public bool Governed =>
        Before.StreamUrl != After.StreamUrl || Before.SiteId != After.SiteId || Before.FaceRecognitionAllowed != After.FaceRecognitionAllowed;
}

// Dapper sets properties with type conversion (SQLite has only 64-bit integers), then we build the record.
internal sealed class CameraRow
{
    public long Id { get; set; }
    public string Code { get; set; } = "";
    public long SiteId { get; set; }
    public string Name { get; set; } = "";
    public string Owner { get; set; } = "";
    public string Purpose { get; set; } = "";
    public string? StreamUrl { get; set; }
    public bool FaceRecognitionAllowed { get; set; }
    public double AnalysisFps { get; set; }
    public int AnalysisWidth { get; set; }
    public int RetentionDays { get; set; }
    public bool Enabled { get; set; }
    public double? Latitude { get; set; }
    public double? Longitude { get; set; }

    public Camera ToModel() => new(Id, Code, SiteId, Name, Owner, Purpose, StreamUrl, FaceRecognitionAllowed, AnalysisFps, AnalysisWidth, RetentionDays, Enabled, Latitude, Longitude);
}
