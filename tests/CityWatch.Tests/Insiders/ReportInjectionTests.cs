using System.Net.Http.Json;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Governance;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Insiders;

/// <summary>
/// An insider who registers a legal basis whose title is markup, so that the public annual report runs their
/// script in every reader's browser: report values are escaped as plain text, raw HTML is off, and every
/// response carries a content security policy that runs no script anyway.
/// </summary>
public sealed class ReportInjectionTests
{
    private const string Hostile = "<script>alert(1)</script>[x](javascript:alert(1))";

    [Fact]
    public async Task A_basis_titled_with_script_and_a_javascript_link_renders_inert_in_the_public_annual_report()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var draft = ApiCalls.Draft([], [watchlist.Id], ProcessingPurpose.Retrospective) with
        {
            Title = Hostile,
            Instrument = "<img src=x onerror=alert(2)> *Act* | s.1 ![i](javascript:alert(3)) <https://evil.example> www.evil.example",
        };
        var basis = await server.PreparedBasisAsync(draft);
        var year = basis.ValidFrom.Year;

        var html = await server.Anonymous.GetStringAsync($"/api/reports/annual/{year}?format=html");

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("javascript:alert(1)\"", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("href=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<em>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;[x](javascript:alert(1))", html, StringComparison.Ordinal);
        // The basis keeps the title as written, and its registration is on the record under the insider's name.
        Assert.Equal(Hostile, basis.Title);
        Assert.Contains(server.Logged(CityWatch.Audit.AuditActions.LegalBasisChange), r => r.LegalBasisId == basis.Id && r.Outcome == "registered" && r.Actor == "investigator");
    }

    [Theory]
    [InlineData("/api/auth/me", true)]
    [InlineData("/api/reports/annual/2026", false)]
    [InlineData("/api/reports/annual/2026?format=md", false)]
    [InlineData("/api/legal-bases/999", true)]
    [InlineData("/healthz", false)]
    [InlineData("/no/such/page", false)]
    public async Task Every_response_carries_the_security_headers(string path, bool signedIn)
    {
        await using var server = await RunningServer.StartAsync();

        using var response = await (signedIn ? server.Dpo : server.Anonymous).GetAsync(path);

        var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("object-src 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("base-uri 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
    }
}
