using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CityWatch.ScaleOut;

namespace CityWatch.Tests.Support;

/// <summary>
/// A real nats-server with JetStream (/usr/sbin/nats-server -js) on 127.0.0.1 with a free port and a temporary
/// store folder; killed, and the folder deleted, on dispose. <see cref="RestartAsync"/> (or <see cref="StopAsync"/>, then <see cref="StartAgainAsync"/>) stops and starts it on the same port and folder.
/// <see cref="StartTlsAsync"/> starts it with TLS (a throwaway CA and a certificate for 127.0.0.1 in the store folder,
/// <see cref="NatsCertificates"/>): clients must then use TLS and trust <see cref="CaFile"/>.
/// </summary>
public sealed class NatsServer : IDisposable
{
    private const string Binary = "/usr/sbin/nats-server";
    private readonly string _storeDir;
    private readonly int _port;
    private Process _process;

    private NatsServer(Process process, string storeDir, int port, NatsTlsFiles? tls)
    {
        _process = process;
        _storeDir = storeDir;
        _port = port;
        Tls = tls;
        Url = $"nats://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    public string Url { get; }

    /// <summary>With TLS: the CA file its certificate chains to, the certificate and its key; null without.</summary>
    public NatsTlsFiles? Tls { get; }

    /// <summary>The CA file clients must trust (null without TLS).</summary>
    public string? CaFile => Tls?.CaFile;

    /// <summary>The link a CityWatch process would use: this URL, <paramref name="user"/> and, with TLS, the CA file.</summary>
    public NatsLink Link(NatsUser? user = null) => new(Url, user, CaFile);

    /// <param name="configuration">The text of a configuration file to start it with (an <c>authorization</c> block, say), or null.</param>
    public static Task<NatsServer> StartAsync(string? configuration = null) => StartAsync(configuration, tls: false);

    /// <summary>As <see cref="StartAsync(string?)"/>, with TLS required of every client (nats-server's <c>tls</c> block).</summary>
    public static Task<NatsServer> StartTlsAsync(string? configuration = null) => StartAsync(configuration, tls: true);

    private static async Task<NatsServer> StartAsync(string? configuration, bool tls)
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} not found: install the Debian package nats-server (scripts/setup.sh --test).");
        }

        var storeDir = Directory.CreateTempSubdirectory("citywatch-nats-").FullName;
        var files = tls ? NatsCertificates.Write(storeDir, IPAddress.Loopback, TimeSpan.FromHours(1), TimeProvider.System) : null;
        if (files is not null || configuration is not null)
        {
            await File.WriteAllTextAsync(ConfigurationPath(storeDir), files?.ServerConfiguration() + configuration);
        }

        var port = FreePort();
        var (process, ready) = Launch(storeDir, port);
        var server = new NatsServer(process, storeDir, port, files);
        try
        {
            await ready.WaitAsync(TimeSpan.FromSeconds(30));
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Stops nats-server the way an operator does (SIGTERM: it shuts down cleanly) and starts it again on the same
    /// port and store folder, so what JetStream stored must come back from disk.
    /// </summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAgainAsync();
    }

    /// <summary>Stops nats-server with SIGTERM and waits for it to exit; the port and the store folder stay.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            var kill = new ProcessStartInfo("/bin/kill") { UseShellExecute = false };
            kill.ArgumentList.Add("-TERM");
            kill.ArgumentList.Add(_process.Id.ToString(CultureInfo.InvariantCulture));
#pragma warning disable RS0030
            using (var signal = Process.Start(kill)!)
#pragma warning restore RS0030
            {
                await signal.WaitForExitAsync();
            }

            using var stopped = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(stopped.Token);
        }
    }

    /// <summary>Starts nats-server again (after <see cref="StopAsync"/>) on the same port and store folder.</summary>
    public async Task StartAgainAsync()
    {
        if (!_process.HasExited)
        {
            throw new InvalidOperationException("nats-server is still running: StopAsync first.");
        }

        _process.Dispose();
        var (process, ready) = Launch(_storeDir, _port);
        _process = process;
        await ready.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static (Process Process, Task Ready) Launch(string storeDir, int port)
    {
        var startInfo = new ProcessStartInfo(Binary);
        string[] configured = File.Exists(ConfigurationPath(storeDir)) ? ["-c", ConfigurationPath(storeDir)] : [];
        foreach (var argument in (string[])[.. configured, "-js", "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-sd", storeDir])
        {
            startInfo.ArgumentList.Add(argument);
        }

        return ServerProcess.Start(startInfo, "nats-server", "Server is ready");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_storeDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string ConfigurationPath(string storeDir) => Path.Combine(storeDir, "nats-server.conf");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
