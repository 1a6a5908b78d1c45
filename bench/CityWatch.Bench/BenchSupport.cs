namespace CityWatch.Bench;

/// <summary>Where the repository (and so the models and shared data) is, seen from the benchmark binaries.</summary>
internal static class BenchPaths
{
    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CityWatch.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("CityWatch.slnx not found above the benchmark binaries.");
    }
}

/// <summary>A clock that stands still, so that a grant made at set-up stays valid for a whole benchmark run.</summary>
internal sealed class FrozenTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
