using CityWatch.Data;
using CityWatch.Keys;
using Npgsql;

namespace CityWatch.Tests.Support;

/// <summary>Fresh SQLite databases for a store's engine tests, each a file in one scratch folder removed on dispose.</summary>
public sealed class SqliteDatabases : IDisposable
{
    private readonly string _directory = TestPaths.NewScratchDirectory();
    private int _count;

    public Task<CityWatchDatabase> NewAsync() => NewAsync(null);

    /// <summary>A fresh database opened with <paramref name="kek"/> (its key ring), as the audit trail needs.</summary>
    public Task<CityWatchDatabase> NewAsync(KeyEncryptionKey? kek) =>
        Task.FromResult(new CityWatchDatabase(Path.Combine(_directory, $"citywatch-{Interlocked.Increment(ref _count)}.db"), kek));

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
/// <remarks>Each opened database has its own local erasure-key file in a scratch folder, as each server of a city would.</remarks>
public sealed class PostgresDatabases(PostgresFixture postgres) : IDisposable
{
    private readonly List<NpgsqlDataSource> _sources = [];
    private readonly string _directory = TestPaths.NewScratchDirectory();

    public Task<CityWatchDatabase> NewAsync() => NewAsync(null);

    /// <summary>A fresh database opened with <paramref name="kek"/> (its key ring), as the audit trail needs.</summary>
    public async Task<CityWatchDatabase> NewAsync(KeyEncryptionKey? kek) => Open(await postgres.Server.CreateDatabaseAsync(), kek);

    /// <summary>A fresh database on the server, not opened yet: each <see cref="Open"/> of it is another "server" (its own pool).</summary>
    public Task<string> NewConnectionStringAsync() => postgres.Server.CreateDatabaseAsync();

    public CityWatchDatabase Open(string connectionString, KeyEncryptionKey? kek)
    {
        var source = NpgsqlDataSource.Create(connectionString);
        _sources.Add(source);
        return CityWatchDatabase.OnPostgres(source, kek, Path.Combine(_directory, $"erasure-keys-{_sources.Count}.db"));
    }

    public void Dispose()
    {
        foreach (var source in _sources)
        {
            source.Dispose();
        }

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
