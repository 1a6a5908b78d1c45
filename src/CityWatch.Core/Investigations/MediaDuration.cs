using System.Globalization;
using CityWatch.Ingest;

namespace CityWatch.Investigations;

/// <summary>How long a video is, by ffprobe (format duration), to give a job its expected frame count.</summary>
public static class MediaDuration
{
    /// <summary>Arguments asking ffprobe for the container's duration in seconds, as one bare number.</summary>
    public static IReadOnlyList<string> Arguments(string path) =>
        ["-hide_banner", "-loglevel", "error", "-show_entries", "format=duration", "-of", "default=noprint_wrappers=1:nokey=1", path];

    /// <summary>The duration ffprobe printed ("12.345000"); null when it printed none ("N/A" for a live stream, nothing at all).</summary>
    public static TimeSpan? Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        return double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0 && double.IsFinite(seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;
    }

    /// <summary>The duration, or null if ffprobe could not tell (the job then shows frames done without a total).</summary>
    public static async Task<TimeSpan?> ProbeAsync(string path, IngestOptions options, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            var result = await ProcessRunner.RunAsync(options.FfprobePath, Arguments(path), timeout.Token);
            return result.ExitCode == 0 ? Parse(result.StandardOutput) : null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }
}
