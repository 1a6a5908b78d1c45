using CityWatch.Tests.Support;

namespace CityWatch.Tests.Ingest;

/// <summary>Files the ingest tests read: the shared clip and the recorded ffprobe/ffmpeg output in testdata/.</summary>
internal static class IngestTestData
{
    /// <summary>640x360 H.264, 29.97 fps, about 9.2 s of video.</summary>
    public static string Clip => TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4");

    public static string Recorded(string name) =>
        File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "tests", "CityWatch.Tests", "Ingest", "testdata", name));

    public static string[] RecordedLines(string name) =>
        Recorded(name).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="describe"/>'s text after <paramref name="deadline"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan deadline, Func<string> describe)
    {
        var start = Environment.TickCount64;
        while (!condition())
        {
            if (Environment.TickCount64 - start > deadline.TotalMilliseconds)
            {
                Assert.Fail($"Timed out after {deadline.TotalSeconds} s waiting: {describe()}");
            }

            await Task.Delay(100);
        }
    }
}
