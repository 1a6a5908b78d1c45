using System.Collections.Concurrent;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Data;

/// <summary>
/// A small SQLite file, local to the server, for the keys whose deletion must be final: the evidence vault's
/// erasure-epoch keys (<c>Evidence.EvidenceVault</c>). It exists because the database may be PostgreSQL, where a deleted
/// row stays as a dead tuple until <c>VACUUM</c>, <c>VACUUM</c> frees its space without overwriting it, and the WAL and
/// its archives keep the row as it was written: a key stored there once is never erased. Here every connection
/// runs with <c>secure_delete</c> (a deleted row's bytes are zeroed in its page) and every deletion ends with a
/// truncating WAL checkpoint, so a copy of the file taken afterwards holds neither the key nor an older page with it.
/// The file holds the keys only wrapped (by the evidence master key, which the key ring holds wrapped by the KEK), so
/// a copy of it without the KEK opens nothing either.
/// </summary>
/// <remarks>
/// The protection is against a copy of the files, as for the SQLite database itself: blocks a file system freed
/// (a truncated WAL) are not overwritten, so a raw image of the disk taken soon after is outside what this can erase.
/// Writes are few (a key per epoch, an hour by default), so the file is opened per call; wrapped keys read are kept
/// in memory, without their plaintext, until deleted here.
/// </remarks>
public sealed class ErasureKeyFile
{
    private readonly string _connectionString;
    private readonly ConcurrentDictionary<string, byte[]> _read = new(StringComparer.Ordinal);
    private readonly Lazy<bool> _created;

    public ErasureKeyFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
        _created = new Lazy<bool>(Create, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The file (created with its first key: a data folder that never sealed evidence has none).</summary>
    public string Path { get; }

    /// <summary>Writes a wrapped key under a new id, committed (and synced) before it returns.</summary>
    public void Put(string id, byte[] wrapped, DateTimeOffset createdAt)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(wrapped);
        using var connection = Connect(create: true);
        connection.Execute(
            "INSERT INTO erasure_keys (id, wrapped, created_at) VALUES (@id, @wrapped, @at)",
            new { id, wrapped, at = Timestamps.Format(createdAt) });
    }

    /// <summary>The wrapped key, or null if there is none (never written here, or deleted).</summary>
    public byte[]? Get(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        if (_read.TryGetValue(id, out var known))
        {
            return known;
        }

        if (!File.Exists(Path))
        {
            return null;
        }

        using var connection = Connect(create: false);
        var wrapped = connection.ExecuteScalar<byte[]?>("SELECT wrapped FROM erasure_keys WHERE id = @id", new { id });
        if (wrapped is not null)
        {
            _read[id] = wrapped;
        }

        return wrapped;
    }

    /// <summary>Every key here, with when it was written.</summary>
    public IReadOnlyList<(string Id, DateTimeOffset CreatedAt)> List()
    {
        if (!File.Exists(Path))
        {
            return [];
        }

        using var connection = Connect(create: false);
        return connection.Query<(string Id, string CreatedAt)>("SELECT id, created_at FROM erasure_keys ORDER BY id")
            .Select(r => (r.Id, Timestamps.Parse(r.CreatedAt)))
            .ToList();
    }

    /// <summary>
    /// Deletes keys for good: the rows (zeroed in place), then a truncating WAL checkpoint. Returns how many existed.
    /// Throws if the WAL cannot be emptied (a reader held it for seconds): the caller's erasure is then not finished and
    /// is retried (deleting an id that is gone is a no-op).
    /// </summary>
    public int Delete(IReadOnlyCollection<string> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0 || !File.Exists(Path))
        {
            return 0;
        }

        using var connection = Connect(create: false);
        var deleted = 0;
        using (var transaction = connection.BeginTransaction())
        {
            foreach (var id in ids)
            {
                deleted += connection.Execute("DELETE FROM erasure_keys WHERE id = @id", new { id }, transaction);
            }

            transaction.Commit();
        }

        foreach (var id in ids)
        {
            _read.TryRemove(id, out _);
        }

        for (var attempt = 0; ; attempt++)
        {
            // busy = 0: every frame copied back and the WAL truncated to nothing.
            if (connection.QuerySingle<(long Busy, long Log, long Copied)>("PRAGMA wal_checkpoint(TRUNCATE)").Busy == 0)
            {
                return deleted;
            }

            if (attempt == 50)
            {
                throw new IOException($"{Path}: the WAL could not be emptied after deleting keys (a reader held it); the erasure is retried");
            }

            Thread.Sleep(100);
        }
    }

    private SqliteConnection Connect(bool create)
    {
        if (create)
        {
            _ = _created.Value;
        }

        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            connection.Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA busy_timeout=30000;");
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private bool Create()
    {
        var directory = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        using var connection = new SqliteConnection(_connectionString);
        connection.Open();
        connection.Execute(
            """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS erasure_keys (
                id TEXT PRIMARY KEY,
                wrapped BLOB NOT NULL,
                created_at TEXT NOT NULL
            );
            """);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return true;
    }
}
