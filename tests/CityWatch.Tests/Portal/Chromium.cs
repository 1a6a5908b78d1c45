using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace CityWatch.Tests.Portal;

/// <summary>
/// Debian's Chromium driven by Playwright, headless, one browser for a test class. Missing Chromium is a
/// failure, not a skip: the portal is untested without it (scripts/setup.sh --test installs it, CI too).
/// </summary>
public sealed class Chromium : IAsyncLifetime
{
    public const string ExecutablePath = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("Chromium has not started.");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            throw new InvalidOperationException(
                $"The portal tests need Debian's chromium at {ExecutablePath}: install it with `scripts/setup.sh --test` (or `sudo apt-get install chromium`).");
        }

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ExecutablePath, Headless = true });
    }

    /// <summary>A fresh visitor: no cookies, no cache. The page fails the test on any script error or CSP violation.</summary>
    public async Task<Visitor> VisitorAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 }, Locale = "en-GB" });
        var page = await context.NewPageAsync();
        var visitor = new Visitor(context, page);
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                visitor.Problems.Add($"console: {message.Text} ({message.Location})");
            }
        };
        page.PageError += (_, error) => visitor.Problems.Add($"script error: {error}");
        page.Dialog += (_, dialog) => visitor.Problems.Add($"a dialog opened: {dialog.Message}");
        return visitor;
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}

/// <summary>One browser context and its page, with what went wrong in it.</summary>
public sealed class Visitor(IBrowserContext context, IPage page) : IAsyncDisposable
{
    public IPage Page { get; } = page;

    public List<string> Problems { get; } = [];

    public async Task<IResponse> OpenAsync(Uri server, string path)
    {
        var response = await Page.GotoAsync(new Uri(server, path).ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        Assert.NotNull(response);
        Assert.Equal(200, response.Status);
        return response;
    }

    /// <summary>
    /// Signs <paramref name="username"/> in on the console's sign-in page (password and authenticator code) and waits for
    /// <paramref name="landing"/>. On a loaded machine the code can go stale between filling the form and the server
    /// reading it (its step turned); the server then answers 401 with the form again, and the visitor tries once more
    /// with a fresh code, as a person would. Three refusals fail the test with the page's message.
    /// </summary>
    public async Task SignInAsync(Support.RunningServer server, string username, string landing = "/console/alerts")
    {
        await OpenAsync(server.Address, "/console/sign-in");
        for (var attempt = 1; ; attempt++)
        {
            await Page.GetByLabel("Username").FillAsync(username);
            await Page.GetByLabel("Password").FillAsync(Support.RunningServer.Password);
            await Page.GetByLabel("Authenticator code").FillAsync(server.TotpCode(username));
            var answer = await Page.RunAndWaitForResponseAsync(
                () => Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync(),
                r => r.Request.Method == "POST" && new Uri(r.Url).AbsolutePath == "/console/sign-in");
            if (answer.Status != 401)
            {
                Assert.True(answer.Status == 302, $"{username}'s sign-in was answered {answer.Status}, not a redirect");
                break;
            }

            var message = await Page.Locator("main").InnerTextAsync();
            Assert.True(attempt < 3, $"{username} could not sign in three times: {message}");
            Problems.RemoveAll(p => p.Contains("401", StringComparison.Ordinal)); // Chromium reports the refused POST as an error
        }

        await Page.WaitForURLAsync(new Uri(server.Address, landing).ToString());
    }

    /// <summary>No script error, CSP violation or dialog so far.</summary>
    public void AssertNoProblems() => Assert.True(Problems.Count == 0, string.Join("\n", Problems));

    /// <summary>axe-core on the page as it stands: no serious or critical violation.</summary>
    public async Task AssertAccessibleAsync()
    {
        var result = await Page.RunAxe();
        var severe = result.Violations.Where(v => v.Impact is "serious" or "critical")
            .Select(v => $"{v.Impact} {v.Id}: {v.Help} ({string.Join(", ", v.Nodes.Select(n => n.Target?.ToString()))})")
            .ToList();
        Assert.True(severe.Count == 0, $"{Page.Url}:\n{string.Join("\n", severe)}");
    }

    /// <summary>Saves the page to docs/screenshots/NAME.png (the README and docs/portal.md show them).</summary>
    public async Task ScreenshotAsync(string name)
    {
        var folder = Path.Combine(Support.TestPaths.RepositoryRoot, "docs", "screenshots");
        Directory.CreateDirectory(folder);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(folder, name + ".png"), FullPage = true });
    }

    public async ValueTask DisposeAsync() => await context.DisposeAsync();
}
