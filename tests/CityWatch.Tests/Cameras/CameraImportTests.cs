using CityWatch.Cameras;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Cameras;

public sealed class CameraImportTests : IDisposable
{
    private const string Header = "site_code,site_name,latitude,longitude,camera_code,camera_name,owner,purpose,stream_url,face_recognition_allowed\n";

    private readonly TestCity _city = new();

    public void Dispose() => _city.Dispose();

    [Fact]
    public async Task Csv_rows_become_sites_and_cameras()
    {
        var inventory = CameraImport.ParseCsv(Header +
            "S1,Square,44.81,20.46,C1,North,City police,public order,rtsp://127.0.0.1:8554/a,true\n" +
            "S1,Square,44.81,20.46,C2,South,City police,public order,,no\n");

        var result = await _city.CameraRegister.ImportAsync(inventory.Sites, inventory.Cameras, "admin");

        Assert.Equal(2, result.CamerasAdded);
        var cameras = _city.Cameras.List(0, 10);
        Assert.Equal(2, cameras.Total);
        Assert.True(cameras.Items[0].FaceRecognitionAllowed);
        Assert.True(cameras.Items[0].Enabled);
        Assert.False(cameras.Items[1].FaceRecognitionAllowed);
        Assert.Null(cameras.Items[1].StreamUrl);
        Assert.Single(_city.Cameras.ListSites(0, 10).Items);
    }

    [Fact]
    public async Task GeoJson_points_become_sites_and_cameras()
    {
        const string geojson = """
            { "type": "FeatureCollection", "features": [
              { "type": "Feature", "geometry": { "type": "Point", "coordinates": [20.46, 44.81] },
                "properties": { "site_code": "S9", "camera_code": "G1", "camera_name": "Gate", "owner": "Parks", "purpose": "park safety",
                                "face_recognition_allowed": false, "analysis_fps": 1 } } ] }
            """;

        var inventory = CameraImport.ParseGeoJson(geojson);
        await _city.CameraRegister.ImportAsync(inventory.Sites, inventory.Cameras, "admin");

        var site = Assert.Single(_city.Cameras.ListSites(0, 10).Items);
        Assert.Equal(44.81, site.Latitude);
        Assert.Equal(20.46, site.Longitude);
        var camera = Assert.Single(_city.Cameras.List(0, 10).Items);
        Assert.Equal(1, camera.AnalysisFps);
    }

    [Fact]
    public void A_bad_csv_row_is_reported_with_its_line_number()
    {
        var error = Assert.Throws<InvalidRequestException>(() => CameraImport.ParseCsv(Header +
            "S1,Square,44.81,20.46,C1,North,City police,public order,,true\n" +
            "S1,Square,not-a-latitude,20.46,C2,South,City police,public order,,true\n"));

        Assert.StartsWith("line 3:", error.Message);
        Assert.Contains("latitude", error.Message);
    }

    [Fact]
    public void A_missing_column_is_reported()
    {
        var error = Assert.Throws<InvalidRequestException>(() => CameraImport.ParseCsv("site_code,latitude,longitude\nS1,1,2\n"));

        Assert.Contains("camera_code", error.Message);
    }

    [Fact]
    public void A_duplicate_camera_code_fails_the_whole_file()
    {
        var error = Assert.Throws<InvalidRequestException>(() => CameraImport.ParseCsv(Header +
            "S1,Square,44.81,20.46,C1,North,City police,public order,,true\n" +
            "S1,Square,44.81,20.46,C1,Again,City police,public order,,true\n"));

        Assert.Contains("appears twice", error.Message);
    }

    [Fact]
    public async Task An_import_that_fails_in_the_database_leaves_nothing_behind()
    {
        var good = new CameraInput("C1", "S1", "North", "City", "order");
        var orphan = new CameraInput("C2", "NO-SUCH-SITE", "South", "City", "order");

        await Assert.ThrowsAsync<InvalidRequestException>(() => _city.CameraRegister.ImportAsync([new SiteInput("S1", "Square", 1, 2, "City")], [good, orphan], "admin"));

        Assert.Equal(0, _city.Cameras.List(0, 10).Total);
        Assert.Equal(0, _city.Cameras.ListSites(0, 10).Total);
        Assert.Empty(_city.Audit.Read(0, 100, CityWatch.Audit.AuditActions.CameraChange)); // nor its record
    }

    [Fact]
    public async Task Importing_the_same_inventory_again_updates_instead_of_duplicating()
    {
        var inventory = CameraImport.ParseCsv(Header + "S1,Square,44.81,20.46,C1,North,City police,public order,,true\n");
        await _city.CameraRegister.ImportAsync(inventory.Sites, inventory.Cameras, "admin");

        var again = await _city.CameraRegister.ImportAsync(inventory.Sites, inventory.Cameras, "admin");

        Assert.Equal(0, again.CamerasAdded);
        Assert.Equal(1, again.CamerasUpdated);
        Assert.Equal(1, _city.Cameras.List(0, 10).Total);
    }

    [Fact]
    public void Unsupported_stream_schemes_are_refused()
    {
        var error = Assert.Throws<InvalidRequestException>(() => CameraImport.ParseCsv(Header + "S1,Square,1,2,C1,North,City,order,ftp://x/y,true\n"));

        Assert.Contains("rtsp://", error.Message);
    }

    [Fact]
    public void Paging_returns_the_total_and_the_requested_slice()
    {
        _city.AddCamera("A");
        _city.AddCamera("B");
        _city.AddCamera("C");

        var page = _city.Cameras.List(1, 1);

        Assert.Equal(3, page.Total);
        Assert.Equal("B", Assert.Single(page.Items).Code);
        Assert.Throws<InvalidRequestException>(() => _city.Cameras.List(0, 0));
    }
}
