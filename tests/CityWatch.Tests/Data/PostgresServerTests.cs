using System.Diagnostics;
using CityWatch.Tests.Support;
using Npgsql;

namespace CityWatch.Tests.Data;

/// <summary>The PostgreSQL test fixture itself: it serves, and on dispose leaves no process and no folder.</summary>
public sealed class PostgresServerTests
{
    [Fact]
    public async Task The_server_accepts_connections_on_127_0_0_1_and_leaves_nothing_behind_when_disposed()
    {
        var server = await PostgresServer.StartAsync();
        var pid = server.ServerProcessId;
        var folder = server.Folder;
        string? version;
        try
        {
            await using var source = NpgsqlDataSource.Create(await server.CreateDatabaseAsync());
            await using var connection = await source.OpenConnectionAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT inet_server_addr()::text || ' ' || current_setting('server_version_num')";
            version = (string?)await command.ExecuteScalarAsync();
            Assert.True(Alive(pid));
        }
        finally
        {
            server.Dispose();
        }

        Assert.StartsWith("127.0.0.1/32 ", version, StringComparison.Ordinal);
        Assert.False(Alive(pid));
        Assert.False(Directory.Exists(folder));
        await using var after = new NpgsqlConnection(server.ConnectionString("postgres"));
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => after.OpenAsync());
    }

    private static bool Alive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
