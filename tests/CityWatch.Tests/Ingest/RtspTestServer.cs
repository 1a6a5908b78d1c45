using System.Diagnostics;
using CityWatch.Ingest;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Ingest;

/// <summary>
/// scripts/rtsp-serve.py on 127.0.0.1: a real RTSP camera looping a file. Started with port 0 it
/// reports the port it got; pass that port to start it again on the same address. Always stopped in Dispose.
/// </summary>
internal sealed class RtspTestServer : IDisposable
{
    private readonly Process _process;

    private RtspTestServer(Process process, string url)
    {
        _process = process;
        Url = url;
        Port = new Uri(url).Port;
    }

    public string Url { get; }

    public int Port { get; }

    /// <summary>The system python with GStreamer bindings (python3-gi), unless CITYWATCH_PYTHON says otherwise.</summary>
    private static string Python => Environment.GetEnvironmentVariable("CITYWATCH_PYTHON")
        ?? (File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

    public static async Task<RtspTestServer> StartAsync(string file, int port = 0, string path = "/camera")
    {
        var startInfo = new ProcessStartInfo(Python)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in (string[])[Path.Combine(TestPaths.RepositoryRoot, "scripts", "rtsp-serve.py"), file, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--path", path])
        {
            startInfo.ArgumentList.Add(argument);
        }

        // Tests may start helper processes themselves (the ban on Process.Start is for product code).
        // Not ProcessRunner: it closes a child's stdin, and the server stops when its stdin closes.
#pragma warning disable RS0030
        var process = Process.Start(startInfo)!;
#pragma warning restore RS0030
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (line is null || !line.StartsWith("READY ", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"rtsp-serve.py did not start: {line} {await stderr.WaitAsync(TimeSpan.FromSeconds(5))}");
            }

            return new RtspTestServer(process, line["READY ".Length..]);
        }
        catch
        {
            Stop(process);
            throw;
        }
    }

    /// <summary>Freezes the server (SIGSTOP): its connections stay open but carry nothing, like a hung camera.</summary>
    public Task FreezeAsync() => SignalAsync("-STOP");

    /// <summary>Lets a frozen server run again (SIGCONT).</summary>
    public Task ThawAsync() => SignalAsync("-CONT");

    public void Dispose() => Stop(_process);

    private async Task SignalAsync(string signal)
    {
        var result = await ProcessRunner.RunAsync("kill", [signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(result.ExitCode == 0, $"kill {signal} {_process.Id}: {string.Join(' ', result.ErrorLines)}");
    }

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            process.Dispose();
        }
    }
}
