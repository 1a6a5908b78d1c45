using System.Globalization;
using System.Security.Cryptography;
using CityWatch.Ingest;
using Npgsql;

namespace CityWatch.Cli.Simulation;

/// <summary>
/// The PostgreSQL of <c>sim --postgres</c>: Debian's binaries (<c>/usr/lib/postgresql/*/bin</c>), a cluster made by
/// <c>initdb</c> in a temporary folder with one role, <c>citywatch</c>, whose password is random for the run and needed
/// on every connection (<c>scram-sha-256</c>, TCP on 127.0.0.1 only, the unix socket in that folder), and a database
/// <c>citywatch</c> for the server role. The password reaches the server through its environment
/// (<c>Data__PostgresPassword</c>), never a command line. Disposing kills the server and deletes the folder.
/// initdb refuses to run as root: as root, the folder is given to the <c>postgres</c> system user (which the Debian
/// package creates) and initdb and the server run as that user (<c>runuser -u postgres --</c>).
/// </summary>
internal sealed class SimPostgres : IAsyncDisposable
{
    private const string Role = "citywatch";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ProcessRunner _server;
    private readonly string _folder;

    private SimPostgres(ProcessRunner server, string folder, string connectionString, string password)
    {
        _server = server;
        _folder = folder;
        ConnectionString = connectionString;
        Password = password;
    }

    /// <summary>The server role's connection string, without the password.</summary>
    public string ConnectionString { get; }

    /// <summary>The role's password for this run.</summary>
    public string Password { get; }

    public static async Task<SimPostgres> StartAsync(CancellationToken cancellationToken)
    {
        var bin = (Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql") : [])
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb")))
            .OrderByDescending(d => d, StringComparer.Ordinal)
            .FirstOrDefault()
            ?? throw new InvalidRequestException("sim --postgres needs Debian's postgresql package (/usr/lib/postgresql/*/bin/initdb): scripts/setup.sh --test installs it");
        var asRoot = Environment.IsPrivilegedProcess;
        var folder = Directory.CreateTempSubdirectory("citywatch-sim-pg-").FullName;
        var data = Path.Combine(folder, "data");
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        ProcessRunner? server = null;
        try
        {
            var passwordFile = Path.Combine(folder, "password");
            await File.WriteAllTextAsync(passwordFile, password, cancellationToken);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            if (asRoot)
            {
                await RunAsync("/usr/bin/chown", ["-R", "postgres", folder], cancellationToken);
            }

            await RunAsync(AsServerUser(asRoot, Path.Combine(bin, "initdb")), Arguments(asRoot, Path.Combine(bin, "initdb"),
                ["-D", data, "-U", Role, "-A", "scram-sha-256", "--pwfile", passwordFile, "-E", "UTF8", "--no-instructions"]), cancellationToken);
            File.Delete(passwordFile);

            var port = SimProcess.FreePort();
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var postgres = Path.Combine(bin, "postgres");
            server = ProcessRunner.Start(
                AsServerUser(asRoot, postgres),
                Arguments(asRoot, postgres, ["-D", data, "-k", folder, "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture)]),
                new ProcessRunnerOptions { OnErrorLine = line => { if (line.Contains("ready to accept connections", StringComparison.Ordinal)) { ready.TrySetResult(); } } },
                cancellationToken);
            try
            {
                await ready.Task.WaitAsync(StartTimeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                throw new InvalidOperationException($"postgres did not become ready on port {port} within {StartTimeout.TotalSeconds:0} s: {string.Join(" | ", server.ErrorLines.TakeLast(3))}");
            }

            var connectionString = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = port, Username = Role, Database = "citywatch" }.ConnectionString;
            var admin = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Password = password, Pooling = false };
            await using (var connection = new NpgsqlConnection(admin.ConnectionString))
            {
                await connection.OpenAsync(cancellationToken);
                await using var command = connection.CreateCommand();
                command.CommandText = "CREATE DATABASE citywatch";
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            return new SimPostgres(server, folder, connectionString, password);
        }
        catch
        {
            if (server is not null)
            {
                await server.DisposeAsync();
            }

            DeleteFolder(folder);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        DeleteFolder(_folder);
    }

    private static string AsServerUser(bool asRoot, string binary) => asRoot ? "/usr/sbin/runuser" : binary;

    private static IEnumerable<string> Arguments(bool asRoot, string binary, string[] arguments) =>
        asRoot ? ["-u", "postgres", "--", binary, .. arguments] : arguments;

    private static async Task RunAsync(string file, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var result = await ProcessRunner.RunAsync(file, arguments, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} failed ({result.ExitCode}): {string.Join(" | ", result.ErrorLines.TakeLast(3))}");
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
            // The cluster's files, in the temporary directory.
        }
        catch (UnauthorizedAccessException)
        {
            // Likewise.
        }
    }
}
