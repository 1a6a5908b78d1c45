using CityWatch.Ingest;

namespace CityWatch.Tests.Ingest;

public class ProcessRunnerTests
{
    [Fact]
    public async Task Arguments_reach_the_program_verbatim_without_a_shell()
    {
        var result = await ProcessRunner.RunAsync("/bin/sh", ["-c", "printf '%s|' \"$@\"", "sh", "a b", "$HOME", ";", "'quoted'"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("a b|$HOME|;|'quoted'|", result.StandardOutput);
    }

    [Fact]
    public async Task Standard_output_is_a_binary_stream()
    {
        await using var runner = ProcessRunner.Start("/bin/sh", ["-c", "printf '\\000\\377\\012\\015'"]);
        var bytes = new byte[4];

        await runner.StandardOutput.ReadExactlyAsync(bytes);

        Assert.Equal(new byte[] { 0x00, 0xFF, 0x0A, 0x0D }, bytes);
        Assert.Equal(0, await runner.WaitForExitAsync());
    }

    [Fact]
    public async Task Exit_code_and_the_last_error_lines_are_reported()
    {
        var seen = new List<string>();
        await using var runner = ProcessRunner.Start(
            "/bin/sh",
            ["-c", "i=1; while [ $i -le 50 ]; do echo line$i >&2; i=$((i+1)); done; exit 3"],
            new ProcessRunnerOptions { ErrorLinesKept = 5, OnErrorLine = line => { lock (seen) { seen.Add(line); } } });

        Assert.Equal(3, await runner.WaitForExitAsync());
        Assert.Equal(["line46", "line47", "line48", "line49", "line50"], runner.ErrorLines);
        Assert.Equal(50, seen.Count);
        Assert.Equal(3, runner.ExitCode);
    }

    [Fact]
    public async Task Dispose_kills_the_whole_process_tree()
    {
        var runner = ProcessRunner.Start("/bin/sh", ["-c", "sleep 300 & echo $!; wait"]);
        var grandchild = int.Parse((await new StreamReader(runner.StandardOutput).ReadLineAsync())!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(IsRunning(grandchild));

        await runner.DisposeAsync();

        await IngestTestData.WaitUntilAsync(() => !IsRunning(grandchild), TimeSpan.FromSeconds(10), () => $"sleep {grandchild} still runs");
    }

    [Fact]
    public async Task Cancelling_kills_the_process()
    {
        using var cancel = new CancellationTokenSource();
        await using var runner = ProcessRunner.Start("/bin/sh", ["-c", "sleep 300"], null, cancel.Token);

        await cancel.CancelAsync();

        var exitCode = await runner.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotEqual(0, exitCode);
    }

    [Fact]
    public void Missing_program_gives_a_clear_error()
    {
        var e = Assert.Throws<ProcessStartException>(() => ProcessRunner.Start("/no/such/ffmpeg", []));
        Assert.StartsWith("Cannot start '/no/such/ffmpeg'", e.Message);
    }

    /// <summary>Alive and not a zombie waiting to be reaped.</summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
