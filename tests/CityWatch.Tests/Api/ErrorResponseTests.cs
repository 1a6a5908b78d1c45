using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CityWatch.Server;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CityWatch.Tests.Api;

/// <summary>Errors as a person meets them: through the real server, by browser, by API client, anonymous or signed in.</summary>
public sealed class ErrorResponseTests : IAsyncLifetime
{
    private RunningServer _server = null!;
    private readonly Logs _logs = new();

    public async Task InitializeAsync()
    {
        _server = await RunningServer.StartAsync();
        _server.Services.GetRequiredService<ILoggerFactory>().AddProvider(_logs);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_browser_gets_an_escaped_html_page_under_the_content_security_policy()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts/1/roles")
        {
            Content = new StringContent("""{ "role": "<script>alert(1)</script>" }""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");

        using var response = await _server.Admin.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(SecurityHeaders.ContentSecurityPolicy(_server.Services.GetRequiredService<CityWatch.Server.Portal.PortalOptions>()), response.Headers.GetValues("Content-Security-Policy").Single());
        var page = await response.Content.ReadAsStringAsync();
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", page);
        Assert.DoesNotContain("<script>", page);
        Assert.Contains("400", page);
    }

    [Theory]
    [InlineData("/api/cameras")]
    [InlineData("/no/such/page")]
    [InlineData("/audit/checkpoint/nothing-here")]
    public async Task Html_callers_never_get_a_500(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/html");

        using var response = await _server.Anonymous.SendAsync(request);

        Assert.True((int)response.StatusCode is >= 400 and < 500, $"{path} answered {(int)response.StatusCode}");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains($"{(int)response.StatusCode}", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_caller_preferring_json_to_html_gets_problem_details()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cameras/999999");
        request.Headers.Accept.ParseAdd("application/json, text/html;q=0.5");

        using var response = await _server.Admin.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_caller_accepting_neither_json_nor_html_still_gets_problem_details()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cameras/999999");
        request.Headers.Accept.ParseAdd("application/xml");

        using var response = await _server.Admin.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(404, problem.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task An_unknown_path_is_404_for_anyone()
    {
        foreach (var client in new[] { _server.Anonymous, _server.Admin, _server.Operator })
        {
            using var response = await client.GetAsync("/api/no-such-thing");

            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        // A known path still needs the sign-in it always did.
        using var known = await _server.Anonymous.GetAsync("/api/cameras");
        Assert.Equal(HttpStatusCode.Unauthorized, known.StatusCode);
    }

    [Fact]
    public async Task A_bad_enum_value_lists_the_valid_ones()
    {
        using var body = new StringContent("""{ "role": "Boss" }""", Encoding.UTF8, "application/json");

        using var response = await _server.Admin.PostAsync("/api/accounts/1/roles", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var detail = problem.RootElement.GetProperty("detail").GetString()!;
        Assert.Contains("'Boss' is not a valid Role: use one of Administrator, Operator, Verifier, Investigator", detail);
        Assert.Contains("$.role", detail);
        Assert.DoesNotContain("CityWatch.Identity", detail);
    }

    [Fact]
    public async Task Enums_still_read_and_write_as_names()
    {
        var me = await _server.Admin.GetStringAsync("/api/auth/me");

        Assert.Contains("\"Administrator\"", me);
    }

    [Fact]
    public async Task An_ordinary_refusal_is_logged_at_information_without_a_stack_trace()
    {
        using var response = await _server.Admin.GetAsync("/api/cameras/424242");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);

        var about = _logs.Entries.Where(e => e.Message.Contains("424242", StringComparison.Ordinal)).ToList();
        var entry = Assert.Single(about);
        Assert.Equal(LogLevel.Information, entry.Level);
        Assert.Null(entry.Exception);
        Assert.Contains("404", entry.Message);
        Assert.DoesNotContain(_logs.Entries, e => e.Level >= LogLevel.Warning && e.Exception is not null);
    }

    private sealed record Entry(string Category, LogLevel Level, string Message, Exception? Exception);

    private sealed class Logs : ILoggerProvider
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(Logs logs, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                logs.Entries.Enqueue(new Entry(category, logLevel, formatter(state, exception), exception));
        }
    }
}
