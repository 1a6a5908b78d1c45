namespace CityWatch.Tests.Support;

/// <summary>Where the shared models and photos are, and a fresh scratch folder per test.</summary>
public static class TestPaths
{
    public static string RepositoryRoot { get; } = FindRoot();

    public static string SharedData => Environment.GetEnvironmentVariable("CITYWATCH_DATA_SOURCE")
        ?? Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "data"));

    /// <summary>The project's own verified model directory, filled by `citywatch models fetch`.</summary>
    public static string Models => Environment.GetEnvironmentVariable("CITYWATCH_MODELS")
        ?? Path.Combine(RepositoryRoot, "models");

    public static string Faces(params string[] parts) => Path.Combine([SharedData, "faces", .. parts]);

    public static string NewScratchDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "citywatch-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CityWatch.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("CityWatch.slnx not found above the test binaries.");
    }
}
