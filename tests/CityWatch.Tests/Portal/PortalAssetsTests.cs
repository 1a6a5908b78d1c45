using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using CityWatch.Server;
using CityWatch.Server.Portal;
using CityWatch.Tests.Support;
using Microsoft.Extensions.Configuration;

namespace CityWatch.Tests.Portal;

/// <summary>The portal's files as the server serves them, and its one setting: no browser needed.</summary>
public sealed partial class PortalAssetsTests
{
    [Fact]
    public async Task Every_vendored_file_is_served_to_anyone_exactly_as_its_recorded_sha256_says()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(TestPaths.RepositoryRoot, "src", "CityWatch.Server", "Portal", "wwwroot", "vendor", "README.md"));
        var files = VendorRow().Matches(readme).Select(m => (Path: m.Groups[1].Value, Sha256: m.Groups[2].Value)).ToList();
        Assert.Contains(files, f => f.Path == "htmx.org/htmx.min.js");
        Assert.Contains(files, f => f.Path == "leaflet/leaflet.js");
        Assert.Contains(files, f => f.Path == "leaflet.markercluster/leaflet.markercluster.js");

        await using var server = await RunningServer.StartAsync();
        foreach (var (path, sha256) in files)
        {
            using var response = await server.Anonymous.GetAsync($"/vendor/{path}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(sha256, Convert.ToHexStringLower(SHA256.HashData(await response.Content.ReadAsByteArrayAsync())));
            Assert.Equal("public, max-age=60", response.Headers.CacheControl?.ToString());
        }

        using var script = await server.Anonymous.GetAsync("/portal/register.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.EndsWith("/javascript", script.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tile_url_admits_images_from_its_origin_and_nothing_else()
    {
        Assert.Contains("img-src 'self';", SecurityHeaders.ContentSecurityPolicy(Portal(null)), StringComparison.Ordinal);
        var portal = Portal("https://tiles.example.org:8443/{z}/{x}/{y}.png");
        Assert.Equal("https://tiles.example.org:8443", portal.TileOrigin);
        Assert.Contains("img-src 'self' https://tiles.example.org:8443;", SecurityHeaders.ContentSecurityPolicy(portal), StringComparison.Ordinal);
        Assert.Contains("script-src 'self';", SecurityHeaders.ContentSecurityPolicy(portal), StringComparison.Ordinal);
    }

    [Fact]
    public void A_tile_url_that_is_not_http_is_refused_at_start()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Portal("javascript:alert(1)"));
        Assert.Contains(PortalOptions.TileUrlKey, error.Message, StringComparison.Ordinal);
    }

    private static PortalOptions Portal(string? tileUrl)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [PortalOptions.TileUrlKey] = tileUrl }).Build();
        return PortalOptions.From(new ServerOptions { DataDirectory = "unused", ModelsDirectory = "unused" }, configuration);
    }

    [GeneratedRegex(@"^\| [^|]+ \| [^|]+ \| [^|]+ \| `([^`]+)` \| `([0-9a-f]{64})` \|$", RegexOptions.Multiline)]
    private static partial Regex VendorRow();
}
