using CityWatch.Ingest;

namespace CityWatch.Tests.Support;

/// <summary>Runs the real `citywatch` CLI (the built citywatch.dll next to the tests) as a child process.</summary>
public static class CliRunner
{
    public static Task<(int ExitCode, string Output, IReadOnlyList<string> Errors)> RunAsync(params string[] arguments) =>
        RunWithEnvironmentAsync(new Dictionary<string, string>(), arguments);

    /// <summary>Runs the CLI with extra environment variables (through env(1), so the test process's own stay untouched).</summary>
    public static async Task<(int ExitCode, string Output, IReadOnlyList<string> Errors)> RunWithEnvironmentAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "citywatch.dll");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var result = environment.Count == 0
            ? await ProcessRunner.RunAsync("dotnet", [dll, .. arguments], timeout.Token)
            : await ProcessRunner.RunAsync("env", [.. environment.Select(e => $"{e.Key}={e.Value}"), "dotnet", dll, .. arguments], timeout.Token);
        return (result.ExitCode, result.StandardOutput, result.ErrorLines.Where(l => l.Length > 0).ToList());
    }
}
