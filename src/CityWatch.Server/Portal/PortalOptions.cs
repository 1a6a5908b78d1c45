namespace CityWatch.Server.Portal;

/// <summary>
/// The public portal's settings. The camera map draws its markers without tiles (a closed city network has
/// no tile server); a city that has one gives its URL template, e.g. <c>https://tiles.example/{z}/{x}/{y}.png</c>,
/// as <see cref="ServerOptions.PortalTileUrl"/> or the configuration key <c>Portal:TileUrl</c>
/// (environment <c>Portal__TileUrl</c>). The pages' content security policy then admits images from its origin.
/// </summary>
public sealed record PortalOptions(string? TileUrl, string? TileAttribution)
{
    public const string TileUrlKey = "Portal:TileUrl";
    public const string TileAttributionKey = "Portal:TileAttribution";

    /// <summary>The origin the tiles come from (scheme, host, port), for the CSP; null without tiles.</summary>
    public string? TileOrigin => TileUrl is null ? null : new Uri(TileUrl.Replace("{s}", "a", StringComparison.Ordinal)).GetLeftPart(UriPartial.Authority);

    public static PortalOptions From(ServerOptions options, IConfiguration configuration)
    {
        var url = options.PortalTileUrl ?? configuration[TileUrlKey];
        if (string.IsNullOrWhiteSpace(url))
        {
            return new PortalOptions(null, null);
        }

        if (!Uri.TryCreate(url.Replace("{s}", "a", StringComparison.Ordinal), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            throw new InvalidOperationException($"{TileUrlKey} must be an http(s) URL template such as https://tiles.example/{{z}}/{{x}}/{{y}}.png, not '{url}'");
        }

        return new PortalOptions(url, configuration[TileAttributionKey]);
    }
}
