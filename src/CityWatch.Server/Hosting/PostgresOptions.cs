using Npgsql;

namespace CityWatch.Server;

/// <summary>
/// The server's database on PostgreSQL as it runs it (<c>serve --postgres</c>): the Npgsql connection string from
/// <see cref="ServerOptions.Postgres"/> (a flag) when set, else the configuration's <c>Data:Postgres</c> (environment
/// <c>Data__Postgres</c>); without either the server keeps its SQLite file and this is null. As for the NATS link
/// (<see cref="CityWatch.ScaleOut.NatsLink"/>), no password is ever in the connection string (a flag shows in <c>ps</c>,
/// a setting in a file others read): one there is refused, and the password comes from <c>Data:PostgresPassword</c>
/// (the environment, <c>Data__PostgresPassword</c>) or the file <c>Data:PostgresPasswordFile</c> names, and is set
/// on the <see cref="NpgsqlDataSourceBuilder"/>. The erasure-key file (<see cref="CityWatch.Data.ErasureKeyFile"/>) is
/// local to this server: <see cref="ServerOptions.ErasureKeys"/> (<c>--erasure-keys</c>), else <c>Data:ErasureKeys</c>,
/// else <c>citywatch.erasure-keys.db</c> in the data folder.
/// </summary>
public sealed class PostgresOptions
{
    public const string PostgresKey = "Data:Postgres";
    public const string PasswordKey = "Data:PostgresPassword";
    public const string PasswordFileKey = "Data:PostgresPasswordFile";
    public const string ErasureKeysKey = "Data:ErasureKeys";

    /// <summary>The erasure-key file's name in the data folder when none is given (the name a SQLite folder uses).</summary>
    public const string DefaultErasureKeysName = "citywatch" + CityWatch.Data.CityWatchDatabase.ErasureKeysSuffix;

    private readonly string? _password;

    private PostgresOptions(string connectionString, string? password, string erasureKeyFile)
    {
        ConnectionString = connectionString;
        _password = password;
        ErasureKeyFile = erasureKeyFile;
    }

    /// <summary>The connection string as given (it holds no password).</summary>
    public string ConnectionString { get; }

    /// <summary>The full path of this server's erasure-key file, on its own disk.</summary>
    public string ErasureKeyFile { get; }

    /// <summary>Whether a password was given (from the environment or a file).</summary>
    public bool HasPassword => _password is not null;

    /// <summary>
    /// Resolves and checks the settings; null without a connection string. A bad one throws
    /// <see cref="ArgumentException"/> with a one-line reason that never repeats the connection string.
    /// </summary>
    public static PostgresOptions? From(ServerOptions options, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        var connectionString = Blank(options.Postgres) ?? Blank(configuration[PostgresKey]);
        if (connectionString is null)
        {
            return null;
        }

        NpgsqlConnectionStringBuilder parsed;
        try
        {
            parsed = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException)
        {
            // Not echoed: it may carry a password.
            throw new ArgumentException($"--postgres ({PostgresKey}) is not an Npgsql connection string (Host=...;Port=...;Username=...;Database=...)");
        }

        if (!string.IsNullOrEmpty(parsed.Password))
        {
            throw new ArgumentException($"--postgres ({PostgresKey}) must not carry a password: give it in {PasswordKey} (environment Data__PostgresPassword) or a file named by {PasswordFileKey}");
        }

        if (string.IsNullOrWhiteSpace(parsed.Host) || string.IsNullOrWhiteSpace(parsed.Database))
        {
            throw new ArgumentException($"--postgres ({PostgresKey}) needs a Host and a Database");
        }

        var erasureKeys = Path.GetFullPath(Blank(options.ErasureKeys) ?? Blank(configuration[ErasureKeysKey]) ?? Path.Combine(options.DataDirectory, DefaultErasureKeysName));
        return new PostgresOptions(connectionString, PasswordFrom(configuration), erasureKeys);
    }

    /// <summary>The pool every store shares (one per server, disposed with it), the password set on its builder.</summary>
    public NpgsqlDataSource DataSource()
    {
        var builder = new NpgsqlDataSourceBuilder(ConnectionString);
        if (_password is not null)
        {
            builder.ConnectionStringBuilder.Password = _password;
        }

        return builder.Build();
    }

    /// <summary>Where the database is and which erasure-key file; never the password.</summary>
    public override string ToString()
    {
        var parsed = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"postgresql://{parsed.Host}:{parsed.Port}/{parsed.Database} as {parsed.Username ?? "(default user)"}{(_password is null ? "" : " (password given)")}, erasure keys {ErasureKeyFile}";
    }

    // The password never comes from a flag: the environment, or a file only its owner reads.
    private static string? PasswordFrom(IConfiguration configuration)
    {
        var password = configuration[PasswordKey] is { Length: > 0 } given ? given : null;
        var file = Blank(configuration[PasswordFileKey]);
        if (password is not null && file is not null)
        {
            throw new ArgumentException($"give the PostgreSQL password in {PasswordKey} or in the file {PasswordFileKey} names, not both");
        }

        if (file is null)
        {
            return password;
        }

        try
        {
            password = File.ReadAllText(file).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{PasswordFileKey}: cannot read {Path.GetFullPath(file)} ({e.Message})");
        }

        return password.Length > 0 ? password : throw new ArgumentException($"{PasswordFileKey}: {Path.GetFullPath(file)} is empty");
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
