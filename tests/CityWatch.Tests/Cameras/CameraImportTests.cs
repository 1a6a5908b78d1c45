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
        var error = Assert.Throws<InventoryRejectedException>(() => CameraImport.ParseCsv(Header +
            "S1,Square,44.81,20.46,C1,North,City police,public order,,true\n" +
            "S1,Square,not-a-latitude,20.46,C2,South,City police,public order,,true\n"));

        Assert.Equal(new InventoryProblem("line 3", "latitude", "'not-a-latitude' is not a number"), Assert.Single(error.Problems));
        Assert.Contains("line 3, latitude", error.Message);
    }

    [Fact]
    public void A_missing_column_is_reported()
    {
        var error = Assert.Throws<InventoryRejectedException>(() => CameraImport.ParseCsv("site_code,latitude,longitude\nS1,1,2\n"));

        Assert.Contains("camera_code", error.Message);
    }

    [Fact]
    public void A_duplicate_camera_code_fails_the_whole_file()
    {
        var error = Assert.Throws<InventoryRejectedException>(() => CameraImport.ParseCsv(Header +
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
        var error = Assert.Throws<InventoryRejectedException>(() => CameraImport.ParseCsv(Header + "S1,Square,1,2,C1,North,City,order,ftp://x/y,true\n"));

        Assert.Contains("rtsp://", error.Message);
    }

    [Fact]
    public void Every_problem_of_the_file_is_reported_in_one_pass()
    {
        var error = Assert.Throws<InventoryRejectedException>(() => CameraImport.ParseCsv(Header +
            "S1,Square,44.81,20.46,C1,North,City police,public order,,true\n" +
            "S1,Square,44.81,200,C2,South,City police,public order,,maybe\n" +
            "S1,Square,44.81,20.46,C3,,City police,public order,ftp://x/y,true\n" +
            "S1,Square,44.81,20.46,C1,Again,City police,public order,,true\n"));

        Assert.Equal(
            [
                new InventoryProblem("line 3", "longitude", "200 is out of range: -180 to 180"),
                new InventoryProblem("line 3", "face_recognition_allowed", "must be true or false, not 'maybe'"),
                new InventoryProblem("line 4", "camera_name", "is required and empty"),
                new InventoryProblem("line 4", "stream_url", "must be an rtsp://, rtsps://, http(s):// or file:// URL"),
                new InventoryProblem("line 5", "camera_code", "'C1' appears twice (first on line 2)"),
            ],
            error.Problems);
        Assert.StartsWith("5 problems in the inventory, nothing imported: line 3, longitude:", error.Message);
    }

    [Fact]
    public void A_short_row_is_named_by_its_line_without_the_parser_s_internals()
    {
        var error = Assert.Throws<InventoryRejectedException>(() => CameraImport.ParseCsv(Header +
            "S1,Square,44.81,20.46,C1,North,City police,public order,,true\n" +
            "S1,Square,44.81\n"));

        var problem = Assert.Single(error.Problems);
        Assert.Equal("line 3", problem.Where);
        Assert.Equal("3 values where the header has 10 columns (a missing ',', or a value holding ',' without quotes?)", problem.Reason);
        Assert.DoesNotContain("CsvHelper", error.Message);
    }

    [Fact]
    public void A_semicolon_file_with_decimal_commas_is_read()
    {
        var inventory = CameraImport.ParseCsv(
            "site_code;latitude;longitude;camera_code;camera_name;owner;purpose\n" +
            "S1;44,81;20,46;C1;North, upper deck;City;order\n");

        var camera = Assert.Single(inventory.Cameras);
        Assert.Equal("North, upper deck", camera.Name);
        Assert.Equal(44.81, camera.Latitude);
        Assert.Equal(20.46, Assert.Single(inventory.Sites).Longitude);
    }

    [Fact]
    public async Task Each_camera_keeps_its_own_coordinates()
    {
        var inventory = CameraImport.ParseCsv(Header +
            "S1,Square,44.81,20.46,C1,North,City police,public order,,true\n" +
            "S1,Square,44.82,20.47,C2,South,City police,public order,,true\n");

        await _city.CameraRegister.ImportAsync(inventory.Sites, inventory.Cameras, "admin");

        var cameras = _city.Cameras.List(0, 10).Items;
        Assert.Equal((44.81, 20.46), (cameras[0].Latitude, cameras[0].Longitude));
        Assert.Equal((44.82, 20.47), (cameras[1].Latitude, cameras[1].Longitude));
        var site = Assert.Single(_city.Cameras.ListSites(0, 10).Items);
        Assert.Equal((44.81, 20.46), (site.Latitude, site.Longitude));
    }

    [Fact]
    public async Task A_register_from_before_camera_coordinates_keeps_its_cameras_and_gains_the_columns()
    {
        var camera = _city.AddCamera("OLD");
        using (var connection = _city.Database.Open())
        {
            using var command = connection.CreateCommand();
            // The register as it was at cameras version 1 (before coordinates); the other features stay as they are.
            command.CommandText = "ALTER TABLE cameras DROP COLUMN latitude; ALTER TABLE cameras DROP COLUMN longitude; UPDATE schema_versions SET version = 1 WHERE feature = 'cameras';";
            command.ExecuteNonQuery();
        }

        _city.Database.Migrate(_city.Time);

        var kept = _city.Cameras.Get(camera.Id);
        Assert.Equal(camera with { Latitude = null, Longitude = null }, kept);
        var inventory = CameraImport.ParseCsv(Header + "S1,Square,44.81,20.46,OLD,North,City police,public order,,true\n");
        await _city.CameraRegister.ImportAsync(inventory.Sites, inventory.Cameras, "admin");
        Assert.Equal(44.81, _city.Cameras.Get(camera.Id).Latitude);
    }

    [Fact]
    public void The_demo_inventory_parses_without_a_problem()
    {
        var inventory = CameraImport.ParseCsv(CityWatch.Server.Demo.DemoInventory.Csv(new Uri("/tmp/clip.mp4").AbsoluteUri));

        Assert.Equal(CityWatch.Server.Demo.DemoInventory.Cameras, inventory.Cameras.Count);
        Assert.Equal(CityWatch.Server.Demo.DemoInventory.Sites, inventory.Sites.Count);
    }

    [Fact]
    public void The_template_explains_every_column_and_parses_as_it_is()
    {
        var template = CameraImport.Template();

        foreach (var column in CameraImport.Columns)
        {
            Assert.Contains($"# {column.Name} (", template);
        }

        var inventory = CameraImport.ParseCsv(template);
        Assert.Equal(["CENTRAL-01-A", "CENTRAL-01-B"], inventory.Cameras.Select(c => c.Code));
        Assert.Single(inventory.Sites);
    }

    [Fact]
    public async Task A_check_reports_what_an_import_would_do_and_stores_nothing()
    {
        var inventory = CameraImport.ParseCsv(Header + "S1,Square,44.81,20.46,C1,North,City police,public order,,true\n");

        var result = _city.Cameras.CheckImport(inventory.Sites, inventory.Cameras);

        Assert.Equal(1, result.CamerasAdded);
        Assert.Equal(0, _city.Cameras.List(0, 10).Total);
        Assert.Equal(0, _city.Cameras.ListSites(0, 10).Total);
        Assert.Empty(_city.Audit.Read(0, 100, CityWatch.Audit.AuditActions.CameraChange));
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
