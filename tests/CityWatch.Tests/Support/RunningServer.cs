using CityWatch.Server;
using Microsoft.AspNetCore.Builder;

namespace CityWatch.Tests.Support;

/// <summary>The real server (Kestrel, SQLite file) on 127.0.0.1 with a free port, stopped and deleted on dispose.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _ownsData;

    private RunningServer(WebApplication app, ServerOptions options, bool ownsData)
    {
        _app = app;
        _ownsData = ownsData;
        Options = options;
        Address = new Uri(app.Urls.First());
        Client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromMinutes(2) };
    }

    public ServerOptions Options { get; }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<RunningServer> StartAsync(bool demo = false, bool runCameras = false, string? dataDirectory = null)
    {
        var options = new ServerOptions
        {
            DataDirectory = dataDirectory ?? TestPaths.NewScratchDirectory(),
            ModelsDirectory = TestPaths.Models,
            AssetsDirectory = TestPaths.SharedData,
            Urls = "http://127.0.0.1:0",
            Demo = demo,
            RunCameras = runCameras,
        };
        var app = CityWatchServer.Build(options);
        await app.StartAsync();
        return new RunningServer(app, options, dataDirectory is null);
    }

    /// <summary>Polls until <paramref name="condition"/> holds or the deadline passes (then fails with <paramref name="what"/>).</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan deadline, string what)
    {
        var until = Environment.TickCount64 + (long)deadline.TotalMilliseconds;
        while (Environment.TickCount64 < until)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"Timed out waiting for {what}.");
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_ownsData)
        {
            try
            {
                Directory.Delete(Options.DataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // a scratch folder left in /tmp does no harm
            }
        }
    }
}
