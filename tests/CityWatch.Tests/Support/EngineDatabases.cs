using CityWatch.Data;
using Npgsql;

namespace CityWatch.Tests.Support;

/// <summary>Fresh SQLite databases for a store's engine tests, each a file in one scratch folder removed on dispose.</summary>
public sealed class SqliteDatabases : IDisposable
{
    private readonly string _directory = TestPaths.NewScratchDirectory();
    private int _count;

    public Task<CityWatchDatabase> NewAsync() =>
        Task.FromResult(new CityWatchDatabase(Path.Combine(_directory, $"citywatch-{Interlocked.Increment(ref _count)}.db")));

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Fresh PostgreSQL databases on the class's server for a store's engine tests, their data sources disposed with it.</summary>
public sealed class PostgresDatabases(PostgresFixture postgres) : IDisposable
{
    private readonly List<NpgsqlDataSource> _sources = [];

    public async Task<CityWatchDatabase> NewAsync()
    {
        var source = NpgsqlDataSource.Create(await postgres.Server.CreateDatabaseAsync());
        _sources.Add(source);
        return CityWatchDatabase.OnPostgres(source);
    }

    public void Dispose()
    {
        foreach (var source in _sources)
        {
            source.Dispose();
        }
    }
}

/// <summary>One PostgreSQL server for the class; every test takes its own database on it.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync();

    public Task DisposeAsync()
    {
        Server.Dispose();
        return Task.CompletedTask;
    }
}
