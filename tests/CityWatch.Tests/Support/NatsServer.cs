using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CityWatch.Tests.Support;

/// <summary>
/// A real nats-server with JetStream (/usr/sbin/nats-server -js) on 127.0.0.1 with a free port and a temporary
/// store folder; killed, and the folder deleted, on dispose.
/// </summary>
public sealed class NatsServer : IDisposable
{
    private const string Binary = "/usr/sbin/nats-server";
    private readonly Process _process;
    private readonly string _storeDir;

    private NatsServer(Process process, string storeDir, int port)
    {
        _process = process;
        _storeDir = storeDir;
        Url = $"nats://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    public string Url { get; }

    public static async Task<NatsServer> StartAsync()
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} not found: install the Debian package nats-server (scripts/setup.sh --test).");
        }

        var storeDir = Directory.CreateTempSubdirectory("citywatch-nats-").FullName;
        var port = FreePort();
        var startInfo = new ProcessStartInfo(Binary)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in (string[])["-js", "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-sd", storeDir])
        {
            startInfo.ArgumentList.Add(argument);
        }

        // Tests may start helper processes themselves (the ban on Process.Start is for product code).
#pragma warning disable RS0030
        var process = Process.Start(startInfo)!;
#pragma warning restore RS0030
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new List<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                ready.TrySetException(new InvalidOperationException("nats-server exited: " + string.Join(" | ", log)));
                return;
            }

            lock (log)
            {
                log.Add(e.Data);
            }

            if (e.Data.Contains("Server is ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var server = new NatsServer(process, storeDir, port);
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
