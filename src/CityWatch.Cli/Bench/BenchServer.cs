using CityWatch.Keys;
using CityWatch.Server;
using Microsoft.AspNetCore.Builder;

namespace CityWatch.Cli.Bench;

/// <summary>
/// The real server (Kestrel, SQLite) for a bench, in this process: on 127.0.0.1 at a free port, with a temporary
/// data folder and a random KEK. While it runs, its console lines go to stderr, so that stdout holds the figures
/// alone; disposing it stops the server and deletes the folder.
/// </summary>
internal sealed class BenchServer : IAsyncDisposable
{
    private readonly TextWriter _stdout;

    private BenchServer(WebApplication app, string folder, TextWriter stdout)
    {
        App = app;
        Folder = folder;
        _stdout = stdout;
    }

    public WebApplication App { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>The data folder (deleted on dispose).</summary>
    public string Folder { get; }

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Address => App.Urls.First();

    /// <param name="name">Names the temporary folder (<c>citywatch-bench-NAME-...</c>).</param>
    /// <param name="configure">The options beyond folder, KEK, models and address (e.g. cameras off, the demo on).</param>
    public static async Task<BenchServer> StartAsync(string name, string modelsDirectory, Func<ServerOptions, ServerOptions> configure, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"citywatch-bench-{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        var stdout = Console.Out;
        Console.SetOut(Console.Error);
        WebApplication? app = null;
        try
        {
            app = CityWatchServer.Build(configure(new ServerOptions
            {
                DataDirectory = folder,
                Kek = KeyEncryptionKey.Generate(),
                ModelsDirectory = modelsDirectory,
                Urls = "http://127.0.0.1:0",
            }));
            await app.StartAsync(cancellationToken);
            return new BenchServer(app, folder, stdout);
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            Restore(stdout, folder);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync(CancellationToken.None);
            await App.DisposeAsync();
        }
        finally
        {
            Restore(_stdout, Folder);
        }
    }

    private static void Restore(TextWriter stdout, string folder)
    {
        Console.SetOut(stdout);
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A file the server still held; the folder is in the temporary directory.
        }
    }
}
