using CityWatch.Keys;

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

    /// <summary>
    /// The key-encryption key of a test data folder: a random one, kept in a file in a scratch folder beside
    /// it (<c>&lt;data&gt;.secrets/kek</c>, never inside it), created on first use, so a server restarted on the
    /// same data folder gets the same one.
    /// </summary>
    public static KeyEncryptionKey KekFor(string dataDirectory)
    {
        var file = KekFileFor(dataDirectory);
        if (!File.Exists(file))
        {
            try
            {
                KeyEncryptionKey.Generate().WriteTo(file);
            }
            catch (KeyEncryptionKeyException) when (File.Exists(file))
            {
                // Created by another start at the same moment: use that one.
            }
        }

        return KeyEncryptionKey.FromFile(file, dataDirectory);
    }

    public static string KekFileFor(string dataDirectory) =>
        Path.Combine(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataDirectory)) + ".secrets", "kek");

    /// <summary>Removes the scratch folder of a data folder's KEK.</summary>
    public static void DeleteKekOf(string dataDirectory)
    {
        var folder = Path.GetDirectoryName(KekFileFor(dataDirectory))!;
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
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
