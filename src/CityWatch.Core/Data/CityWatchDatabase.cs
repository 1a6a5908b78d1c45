using System.Data.Common;
using CityWatch.Keys;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace CityWatch.Data;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. Each feature owns its tables (its
/// <c>XxxSchema</c> class); <see cref="Migrate"/> creates them in dependency order. Connections are
/// cheap (pooled), so callers open one per unit of work and dispose it. Opened with the data folder's
/// <see cref="KeyEncryptionKey"/>, it offers the <see cref="Keys"/> wrapped by it; opened without one
/// (offline verification, a copy someone took), everything reads except what those keys protect.
/// Every connection runs with <c>secure_delete</c> on, so deleted rows (destroyed keys, templates) are
/// zeroed rather than left in free pages; <see cref="Checkpoint"/> then empties the WAL of older copies.
/// <para>
/// The same type opens a PostgreSQL database (<see cref="OnPostgres"/>), the scale-out store. There only
/// the stores converted to the shared code path work: they open their connections with <see cref="Connect"/>
/// (a <see cref="DbConnection"/> from this database's <see cref="DbDataSource"/>) and write the SQL that
/// differs through <see cref="Dialect"/>. <see cref="Open"/>, the SQLite-only path of every other store,
/// refuses on PostgreSQL, and <see cref="Migrate"/> creates only the converted features' tables there. The
/// audit trail and the key ring run on both engines (the ring when the database is opened with its KEK); a store
/// whose acts still use <see cref="Open"/> keeps those acts on SQLite and puts its reads and row writes on the
/// shared path.
/// </para>
/// </summary>
public sealed class CityWatchDatabase
{
    private readonly string _connectionString = "";
    private readonly KeyRing? _keys;
    private readonly NpgsqlDataSource? _postgres;
    private readonly ErasureKeyFile? _erasureKeys;

    static CityWatchDatabase() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    public CityWatchDatabase(string path, KeyEncryptionKey? kek = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        var directory = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        Dialect = SqlDialect.Sqlite;
        _keys = kek is null ? null : new KeyRing(this, kek);
        _erasureKeys = new ErasureKeyFile(System.IO.Path.Combine(directory ?? "", System.IO.Path.GetFileNameWithoutExtension(Path) + ErasureKeysSuffix));
    }

    private CityWatchDatabase(NpgsqlDataSource postgres, string description, KeyEncryptionKey? kek, string? erasureKeyFile)
    {
        _postgres = postgres;
        _erasureKeys = erasureKeyFile is null ? null : new ErasureKeyFile(erasureKeyFile);
        Path = description;
        Dialect = SqlDialect.Postgres;
        _keys = kek is null ? null : new KeyRing(this, kek);
    }

    /// <summary>
    /// A PostgreSQL database behind <paramref name="dataSource"/>, which the caller owns (and disposes, closing
    /// its pool), without a key-encryption key or an erasure-key file: what reads only the rows that no key protects
    /// (the engine tests of such stores). The audit trail, which signs with a wrapped key, and the evidence vault need the other overload.
    /// </summary>
    public static CityWatchDatabase OnPostgres(NpgsqlDataSource dataSource) => OnPostgres(dataSource, null);

    /// <summary>
    /// A PostgreSQL database behind <paramref name="dataSource"/> with the <see cref="Keys"/> wrapped by
    /// <paramref name="kek"/> (their <c>wrapped_keys</c> table in that database): what the audit trail needs to
    /// sign its checkpoints there. Every server of one city opens it with the same KEK.
    /// </summary>
    /// <remarks>
    /// <paramref name="erasureKeyFile"/> is the server's local <see cref="ErasureKeyFile"/> (a path on its own disk, not in
    /// PostgreSQL): the evidence vault keeps its erasure-epoch keys there. Without one, sealing or opening evidence is
    /// refused on this database.
    /// </remarks>
    public static CityWatchDatabase OnPostgres(NpgsqlDataSource dataSource, KeyEncryptionKey? kek, string? erasureKeyFile = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var builder = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        return new CityWatchDatabase(dataSource, $"postgresql://{builder.Host}:{builder.Port}/{builder.Database}", kek, erasureKeyFile);
    }

    /// <summary>What a SQLite database's <see cref="ErasureKeys"/> file is named after it: <c>citywatch.db</c> keeps them in <c>citywatch.erasure-keys.db</c> beside it.</summary>
    public const string ErasureKeysSuffix = ".erasure-keys.db";

    /// <summary>The database file (SQLite), or where the PostgreSQL database is (<c>postgresql://host:port/name</c>, no credentials).</summary>
    public string Path { get; }

    /// <summary>The engine's SQL where it differs.</summary>
    public SqlDialect Dialect { get; }

    /// <summary>
    /// An open connection on either engine, for the stores on the shared code path. On SQLite it is
    /// <see cref="Open"/>'s connection (WAL, foreign keys, secure delete); on PostgreSQL one from the pool.
    /// </summary>
    public DbConnection Connect() => _postgres is null ? Open() : _postgres.OpenConnection();

    /// <summary>The keys of this data folder, unwrapped by its KEK; without a KEK, a <see cref="KeyEncryptionKeyRequiredException"/>.</summary>
    public KeyRing Keys => _keys ?? throw new KeyEncryptionKeyRequiredException(
        $"the database {Path} was opened without its key-encryption key: its keys, evidence and templates stay sealed");

    /// <summary>Whether the database has an erasure-key file (always on SQLite; on PostgreSQL when the server was given one).</summary>
    public bool HasErasureKeys => _erasureKeys is not null;

    /// <summary>
    /// Where the evidence vault keeps its erasure-epoch keys, a file whose deletions are final (<see cref="ErasureKeyFile"/>):
    /// beside a SQLite database; on PostgreSQL the local file the server was given (refused without one).
    /// </summary>
    public ErasureKeyFile ErasureKeys => _erasureKeys ?? throw new InvalidOperationException(
        $"the database {Path} was opened without a local erasure-key file: evidence cannot be sealed or opened on it (docs/scale-out.md)");

    /// <summary>A SQLite connection, for the stores not yet on the shared code path; refused on PostgreSQL.</summary>
    public SqliteConnection Open()
    {
        if (_postgres is not null)
        {
            throw new NotSupportedException(
                $"this store is not on PostgreSQL yet ({Path}): only the stores on the shared code path run on both engines (docs/scale-out.md)");
        }

        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; PRAGMA secure_delete=ON;";
            pragma.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies the WAL into the database file and truncates it to nothing (<c>PRAGMA wal_checkpoint(TRUNCATE)</c>).
    /// Called after every destruction: with <c>secure_delete</c> on, a deleted row's bytes are overwritten with
    /// zeros in the page that held it, but earlier versions of that page stay in the WAL until it is
    /// checkpointed and truncated. Returns false if a reader held the WAL, so that it could not be emptied;
    /// the next destruction's checkpoint (or the next start) empties it.
    /// </summary>
    public bool Checkpoint()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
        using var reader = command.ExecuteReader();
        return reader.Read() && reader.GetInt64(0) == 0;
    }

    /// <summary>
    /// Brings every feature's tables to the version this code knows (<see cref="SchemaMigrations"/>): each
    /// numbered migration and its <c>schema_versions</c> row in one transaction. A data folder made before
    /// versions existed is recognised as version 1 and upgraded in place. Safe to call again; a data folder
    /// written by a newer CityWatch is refused with a <see cref="SchemaTooNewException"/>.
    /// </summary>
    public void Migrate(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        using var connection = Connect();
        SchemaMigrations.Apply(connection, time, Path);
    }

    /// <summary>The schema version each feature's tables are at in this database (what <see cref="Migrate"/> recorded).</summary>
    public IReadOnlyDictionary<string, int> SchemaVersions()
    {
        using var connection = Connect();
        return SchemaMigrations.Versions(connection);
    }
}
