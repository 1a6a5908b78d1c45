using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace CityWatch.Tests.Support;

/// <summary>
/// A real PostgreSQL server (the Debian binaries, /usr/lib/postgresql/*/bin) on 127.0.0.1 with a free port:
/// <c>initdb</c> into a temporary folder (trust authentication, user <c>citywatch</c>), <c>postgres</c> started
/// with its unix socket in that folder, ready once it logs that it accepts connections. Each test class or test
/// takes its own database (<see cref="CreateDatabaseAsync"/>). On dispose the server is stopped
/// (<c>pg_ctl stop -m immediate</c>, then killed if it is still there) and the folder deleted.
/// initdb refuses to run as root: as root, the folder is given to the <c>postgres</c> system user (which the
/// Debian package creates) and initdb and the server run as that user (<c>runuser -u postgres --</c>).
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private const string User = "citywatch";
    private readonly Process _process;
    private readonly string _folder;
    private readonly string _bin;
    private readonly int _port;

    private PostgresServer(Process process, string folder, string bin, int port)
    {
        _process = process;
        _folder = folder;
        _bin = bin;
        _port = port;
    }

    /// <summary>The postmaster's process id (from <c>postmaster.pid</c>), once started.</summary>
    public int ServerProcessId { get; private set; }

    public int Port => _port;

    /// <summary>The temporary folder that holds the cluster and the socket; deleted on dispose.</summary>
    public string Folder => _folder;

    private string DataDir => Path.Combine(_folder, "data");

    private static bool AsRoot => Environment.IsPrivilegedProcess;

    public static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinaries();
        if (AsRoot && !File.ReadLines("/etc/passwd").Any(line => line.StartsWith("postgres:", StringComparison.Ordinal)))
        {
            throw new InvalidOperationException(
                "initdb refuses to run as root and there is no postgres system user to run it as: install the Debian package postgresql (scripts/setup.sh --test).");
        }

        var folder = Directory.CreateTempSubdirectory("citywatch-pg-").FullName;
        var dataDir = Path.Combine(folder, "data");
        try
        {
            if (AsRoot)
            {
                Run("/usr/bin/chown", "postgres", folder);
            }

            RunAsServerUser(Path.Combine(bin, "initdb"), "-D", dataDir, "-U", User, "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions");
        }
        catch
        {
            DeleteFolder(folder);
            throw;
        }

        var port = FreePort();
        var postgres = Path.Combine(bin, "postgres");
        string[] arguments = ["-D", dataDir, "-k", folder, "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-c", "fsync=off", "-c", "full_page_writes=off"];
        var startInfo = AsRoot ? new ProcessStartInfo("/usr/sbin/runuser") : new ProcessStartInfo(postgres);
        if (AsRoot)
        {
            foreach (var argument in (string[])["-u", "postgres", "--", postgres])
            {
                startInfo.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var (process, ready) = ServerProcess.Start(startInfo, "postgres", "database system is ready to accept connections");
        var server = new PostgresServer(process, folder, bin, port);
        try
        {
            await ready.WaitAsync(TimeSpan.FromSeconds(60));
            server.ServerProcessId = int.Parse(File.ReadLines(Path.Combine(dataDir, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>A connection string for database <paramref name="name"/> on this server (TCP, 127.0.0.1).</summary>
    public string ConnectionString(string name) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = _port,
        Username = User,
        Database = name,
        Pooling = true,
    }.ConnectionString;

    /// <summary>Creates an empty database named <c>t_</c> and a fresh GUID, and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = $"CREATE DATABASE {name}";
            await command.ExecuteNonQueryAsync();
        }

        return ConnectionString(name);
    }

    /// <summary>
    /// A login role <paramref name="role"/> that owns a new database and may connect over TCP only with
    /// <paramref name="password"/> (scram-sha-256; a <c>pg_hba.conf</c> line ahead of the trust ones, the server's
    /// configuration reloaded); returns that database's connection string, without the password.
    /// </summary>
    public async Task<string> CreatePasswordDatabaseAsync(string role, string password)
    {
        var name = "t_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            foreach (var sql in (string[])[$"SET password_encryption = 'scram-sha-256'", $"CREATE ROLE {role} LOGIN PASSWORD '{password.Replace("'", "''", StringComparison.Ordinal)}'", $"CREATE DATABASE {name} OWNER {role}"])
            {
                await using var command = connection.CreateCommand();
                command.CommandText = sql;
                await command.ExecuteNonQueryAsync();
            }

            var hba = Path.Combine(DataDir, "pg_hba.conf");
            await File.WriteAllTextAsync(hba, $"host all {role} 127.0.0.1/32 scram-sha-256\n" + await File.ReadAllTextAsync(hba));
            await using var reload = connection.CreateCommand();
            reload.CommandText = "SELECT pg_reload_conf()";
            await reload.ExecuteScalarAsync();
        }

        var connectionString = new NpgsqlConnectionStringBuilder(ConnectionString(name)) { Username = role }.ConnectionString;
        // The reload is signalled, not waited for: until a connection without the password is refused.
        var until = Environment.TickCount64 + 10_000;
        while (true)
        {
            try
            {
                await using var probe = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
                await probe.OpenAsync();
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                return connectionString;
            }

            if (Environment.TickCount64 > until)
            {
                throw new InvalidOperationException($"pg_hba.conf reloaded but {role} still connects without a password");
            }

            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        try
        {
            NpgsqlConnection.ClearAllPools();
            if (!_process.HasExited)
            {
                try
                {
                    RunAsServerUser(Path.Combine(_bin, "pg_ctl"), "stop", "-D", DataDir, "-m", "immediate", "-w");
                }
                catch (InvalidOperationException)
                {
                    // The kill below stops it.
                }

                if (!_process.WaitForExit(10_000))
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(10_000);
                }
            }
        }
        finally
        {
            _process.Dispose();
            DeleteFolder(_folder);
        }
    }

    private static string FindBinaries()
    {
        const string root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb")) && File.Exists(Path.Combine(b, "postgres")))
                .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), CultureInfo.InvariantCulture, out var v) ? v : 0)
                .FirstOrDefault()
            : null;
        return bin ?? throw new InvalidOperationException(
            $"PostgreSQL not found ({root}/*/bin/initdb and postgres): install the Debian package postgresql (scripts/setup.sh --test).");
    }

    private static void RunAsServerUser(string file, params string[] arguments)
    {
        if (AsRoot)
        {
            Run("/usr/sbin/runuser", ["-u", "postgres", "--", file, .. arguments]);
        }
        else
        {
            Run(file, arguments);
        }
    }

    private static void Run(string file, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

#pragma warning disable RS0030
        using var process = Process.Start(startInfo)!;
#pragma warning restore RS0030
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{Path.GetFileName(file)} did not finish in 120 s");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} failed ({process.ExitCode}): {output.Result} {error.Result}");
        }
    }

    private static void DeleteFolder(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
