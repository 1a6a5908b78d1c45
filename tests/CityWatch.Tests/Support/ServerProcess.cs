using System.Diagnostics;

namespace CityWatch.Tests.Support;

/// <summary>Starts a server that tests need (nats-server, postgres) and tells when it has logged that it is ready.</summary>
internal static class ServerProcess
{
    /// <summary>
    /// Starts <paramref name="startInfo"/> with its output redirected; the returned task completes when a line of its
    /// standard error contains <paramref name="readyLine"/>, and fails with everything it logged if it exits first.
    /// </summary>
    public static (Process Process, Task Ready) Start(ProcessStartInfo startInfo, string name, string readyLine)
    {
        startInfo.UseShellExecute = false;
        startInfo.RedirectStandardOutput = true;
        startInfo.RedirectStandardError = true;

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
                lock (log)
                {
                    ready.TrySetException(new InvalidOperationException($"{name} exited: " + string.Join(" | ", log)));
                }

                return;
            }

            lock (log)
            {
                log.Add(e.Data);
            }

            if (e.Data.Contains(readyLine, StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return (process, ready.Task);
    }
}
