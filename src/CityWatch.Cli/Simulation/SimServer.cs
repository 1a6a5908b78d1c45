using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Ingest;
using CityWatch.Keys;
using CityWatch.ScaleOut;

namespace CityWatch.Cli.Simulation;

/// <summary>
/// The server role as its own child process (<c>serve --role server --demo --demo-streaming N</c>, its NATS URL, user, password and CA in its environment) on 127.0.0.1
/// at a free port, over a temporary SQLite data folder, with a random KEK handed over in <c>CITYWATCH_KEK</c> (which the
/// server removes from its environment once read; never on a command line, never in the folder). It can be killed like
/// a crash (<see cref="KillHardAsync"/>) and started again on the same folder, KEK and port (<see cref="StartAgainAsync"/>).
/// The grant-signing public key that the workers trust is read from the server's public log (<see cref="GrantKeyAsync"/>),
/// as a city's operator would read it.
/// </summary>
internal sealed class SimServer : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(180);

    private readonly string _file;
    private readonly string[] _arguments;
    private readonly Dictionary<string, string> _environment;
    private readonly HttpClient _http;
    private readonly RecentLines _lines = new();
    private ProcessRunner? _runner;
    private Task _draining = Task.CompletedTask;

    private SimServer(string file, string[] arguments, Dictionary<string, string> environment, string folder, string address)
    {
        _file = file;
        _arguments = arguments;
        _environment = environment;
        Folder = folder;
        Address = address;
        _http = new HttpClient { BaseAddress = new Uri(address + "/"), Timeout = TimeSpan.FromSeconds(5) };
    }

    /// <summary>The data folder (deleted on dispose).</summary>
    public string Folder { get; }

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:41234</c>; the same after a restart.</summary>
    public string Address { get; }

    /// <summary>
    /// Starts the server and waits until it answers (the first start seeds the demo city): on the SQLite file in its data
    /// folder, or with <paramref name="postgres"/> on that database (its connection string and password in the environment).
    /// </summary>
    public static async Task<SimServer> StartAsync(SimSettings settings, NatsLink nats, SimPostgres? postgres, CancellationToken cancellationToken)
    {
        var folder = Directory.CreateTempSubdirectory("citywatch-sim-server-").FullName;
        var address = $"http://127.0.0.1:{SimProcess.FreePort().ToString(CultureInfo.InvariantCulture)}";
        var (file, prefix) = SimProcess.Self();
        string[] arguments = [.. prefix, "serve", "--role", "server", "--demo", "--demo-streaming", settings.Cameras.ToString(CultureInfo.InvariantCulture),
            "--assets", settings.Assets, "--lease-ttl-s", settings.LeaseTtlSeconds.ToString(CultureInfo.InvariantCulture),
            "--urls", address, "--data", folder, "--models", settings.Models];
        // The server's NATS user, password and CA: in the environment, not on the command line.
        var environment = new Dictionary<string, string>(SimProcess.NatsEnvironment(nats))
        {
            [KeyEncryptionKey.EnvironmentVariable] = KeyEncryptionKey.Generate().ToBase64(),
            ["Logging__Console__FormatterName"] = "simple",
        };
        if (postgres is not null)
        {
            environment["Data__Postgres"] = postgres.ConnectionString;
            environment["Data__PostgresPassword"] = postgres.Password;
        }

        var server = new SimServer(file, arguments, environment, folder, address);
        try
        {
            await server.StartAgainAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the process (again) and waits until its public log answers.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken)
    {
        if (_runner is { HasExited: false })
        {
            throw new InvalidOperationException("the server still runs");
        }

        if (_runner is not null)
        {
            await _runner.DisposeAsync();
        }

        _runner = ProcessRunner.Start(_file, _arguments, new ProcessRunnerOptions { Environment = _environment }, cancellationToken);
        _draining = Task.Run(() => DrainAsync(_runner), CancellationToken.None);
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            if (_runner.HasExited)
            {
                throw new InvalidOperationException($"the server exited ({_runner.ExitCode}) while starting: {LastLines}");
            }

            try
            {
                using var response = await _http.GetAsync("audit/checkpoint", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // not listening yet
            }

            if (TimeProvider.System.GetElapsedTime(started) > ReadyTimeout)
            {
                throw new InvalidOperationException($"the server did not answer on {Address} within {ReadyTimeout.TotalSeconds:0} s: {LastLines}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }
    }

    /// <summary>
    /// The base64 grant-signing public key, from the <c>key.create</c> record of the <c>grant-signing</c> key in the
    /// server's public log (<c>/audit/entries</c>): the workers' trust anchor comes from what the public can check.
    /// </summary>
    public async Task<string> GrantKeyAsync(CancellationToken cancellationToken)
    {
        const int Page = 1000;
        for (var start = 0L; ; start += Page)
        {
            var entries = await _http.GetFromJsonAsync<JsonElement[]>($"audit/entries?start={start.ToString(CultureInfo.InvariantCulture)}&count={Page.ToString(CultureInfo.InvariantCulture)}", cancellationToken)
                ?? [];
            foreach (var entry in entries.Where(e => e.GetProperty("action").GetString() == "key.create"))
            {
                using var body = JsonDocument.Parse(entry.GetProperty("body").GetString()!);
                if (body.RootElement.GetProperty("Parameters") is var parameters
                    && parameters.TryGetProperty("key", out var key) && key.GetString() == "grant-signing"
                    && parameters.TryGetProperty("public_key", out var publicKey))
                {
                    return publicKey.GetString()!;
                }
            }

            if (entries.Length < Page)
            {
                throw new InvalidOperationException($"the server's log on {Address} holds no key.create record of its grant-signing key");
            }
        }
    }

    /// <summary>The server's user+system CPU seconds so far (0 while it is down).</summary>
    public double CpuSeconds() => _runner is { HasExited: false } runner ? SimProcess.CpuSeconds(runner.Id) : 0;

    /// <summary>SIGKILL, as a crash: the server finishes nothing and says goodbye to no one; waits until it has gone.</summary>
    public async Task KillHardAsync(CancellationToken cancellationToken)
    {
        if (_runner is null)
        {
            return;
        }

        _runner.Kill();
        await _runner.WaitForExitAsync(cancellationToken);
    }

    public string LastLines => _lines.Last(_runner?.ErrorLines ?? []);

    public async ValueTask DisposeAsync()
    {
        if (_runner is not null)
        {
            await _runner.DisposeAsync();
        }

        await _draining;
        _http.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // in the temporary directory
        }
    }

    /// <summary>Reads the server's standard output so that it never blocks on a full pipe, keeping its last lines for errors.</summary>
    private async Task DrainAsync(ProcessRunner runner)
    {
        try
        {
            using var reader = new StreamReader(runner.StandardOutput);
            while (await reader.ReadLineAsync() is { } line)
            {
                _lines.Add(line);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // its output closed
        }
    }
}
