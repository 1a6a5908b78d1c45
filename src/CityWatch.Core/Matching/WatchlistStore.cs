using System.Buffers.Binary;
using System.Security.Cryptography;
using CityWatch.Data;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Matching;

/// <summary>Watchlists and their enrolled templates in SQLite.</summary>
public sealed class WatchlistStore(CityWatchDatabase database, TimeProvider time)
{
    /// <summary>Raised after any change to a watchlist's entries, so the in-memory index can reload it.</summary>
    public event Action<long>? Changed;

    public Watchlist Create(WatchlistInput input, string actor)
    {
        if (string.IsNullOrWhiteSpace(input.Name))
        {
            throw new InvalidRequestException("'name' is required.");
        }

        using var connection = database.Open();
        try
        {
            var id = connection.ExecuteScalar<long>(
                "INSERT INTO watchlists (name, description, created_by, created_at) VALUES (@name, @description, @actor, @now) RETURNING id",
                new { name = input.Name.Trim(), description = input.Description ?? "", actor, now = Timestamps.Format(time.GetUtcNow()) });
            return Get(id);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new ConflictException($"A watchlist named '{input.Name}' already exists.");
        }
    }

    public Watchlist Get(long id) =>
        Query("WHERE w.id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No watchlist {id}.");

    public Watchlist GetByName(string name) =>
        Query("WHERE w.name = @name", new { name }).SingleOrDefault() ?? throw new NotFoundException($"No watchlist named '{name}'.");

    public IReadOnlyList<Watchlist> List() => Query("", null);

    public IReadOnlyList<WatchlistEntry> Entries(long watchlistId)
    {
        Get(watchlistId);
        using var connection = database.Open();
        return connection.Query<EntryRow>(
            "SELECT * FROM watchlist_entries WHERE watchlist_id = @watchlistId ORDER BY id", new { watchlistId })
            .Select(r => r.ToModel()).ToList();
    }

    /// <summary>Stores an enrolled template (L2-normalised) and returns the entry.</summary>
    internal WatchlistEntry AddEntry(long watchlistId, EntryInput input, string model, float[] template, byte[] labelSalt, string actor)
    {
        Get(watchlistId);
        var bytes = ToBytes(template);
        using var connection = database.Open();
        var id = connection.ExecuteScalar<long>(
            """
            INSERT INTO watchlist_entries (watchlist_id, label, category, image_source, enrolled_by, enrolled_at, expires_at, model, template, template_hash, label_salt)
            VALUES (@watchlistId, @Label, @Category, @ImageSource, @actor, @now, @expires, @model, @bytes, @hash, @labelSalt) RETURNING id
            """,
            new
            {
                watchlistId,
                input.Label,
                input.Category,
                input.ImageSource,
                actor,
                now = Timestamps.Format(time.GetUtcNow()),
                expires = input.ExpiresAt is { } e ? Timestamps.Format(e) : null,
                model,
                bytes,
                hash = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                labelSalt,
            });
        Changed?.Invoke(watchlistId);
        return Entries(watchlistId).Single(e => e.Id == id);
    }

    internal void RemoveEntry(long watchlistId, long entryId)
    {
        using var connection = database.Open();
        if (connection.Execute("DELETE FROM watchlist_entries WHERE id = @entryId AND watchlist_id = @watchlistId", new { watchlistId, entryId }) == 0)
        {
            throw new NotFoundException($"No entry {entryId} in watchlist {watchlistId}.");
        }

        Changed?.Invoke(watchlistId);
    }

    /// <summary>The templates of a watchlist, for the in-memory index. Never exposed through the API.</summary>
    internal IReadOnlyList<(WatchlistEntry Entry, float[] Template)> Templates(long watchlistId)
    {
        using var connection = database.Open();
        return connection.Query<EntryRow>(
            "SELECT * FROM watchlist_entries WHERE watchlist_id = @watchlistId ORDER BY id", new { watchlistId })
            .Select(r => (r.ToModel(), FromBytes(r.Template))).ToList();
    }

    /// <summary>
    /// The count and a hash over (entry id, template hash) of every entry, in id order: what a checkpoint
    /// commits to, so an enrolment that bypassed the log changes a published hash.
    /// </summary>
    public IReadOnlyList<WatchlistDigest> Digests()
    {
        using var connection = database.Open();
        var rows = connection.Query<(long WatchlistId, string Name, long? EntryId, string? TemplateHash)>(
            """
            SELECT w.id, w.name, e.id, e.template_hash FROM watchlists w
            LEFT JOIN watchlist_entries e ON e.watchlist_id = w.id ORDER BY w.id, e.id
            """).ToList();
        return rows.GroupBy(r => (r.WatchlistId, r.Name)).Select(g =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            Span<byte> id = stackalloc byte[8];
            long count = 0;
            foreach (var row in g.Where(r => r.EntryId is not null))
            {
                BinaryPrimitives.WriteInt64BigEndian(id, row.EntryId!.Value);
                hash.AppendData(id);
                hash.AppendData(Convert.FromHexString(row.TemplateHash!));
                count++;
            }

            return new WatchlistDigest(g.Key.WatchlistId, g.Key.Name, count, hash.GetHashAndReset());
        }).ToList();
    }

    private static byte[] ToBytes(float[] template)
    {
        var bytes = new byte[template.Length * sizeof(float)];
        for (var i = 0; i < template.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), template[i]);
        }

        return bytes;
    }

    private static float[] FromBytes(byte[] bytes)
    {
        var template = new float[bytes.Length / sizeof(float)];
        for (var i = 0; i < template.Length; i++)
        {
            template[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        }

        return template;
    }

    private List<Watchlist> Query(string where, object? parameters)
    {
        using var connection = database.Open();
        return connection.Query<(long Id, string Name, string Description, string CreatedBy, string CreatedAt, long Entries)>(
            $"""
            SELECT w.id, w.name, w.description, w.created_by, w.created_at,
                (SELECT COUNT(*) FROM watchlist_entries e WHERE e.watchlist_id = w.id)
            FROM watchlists w {where} ORDER BY w.id
            """,
            parameters).Select(r => new Watchlist(r.Id, r.Name, r.Description, r.CreatedBy, Timestamps.Parse(r.CreatedAt), (int)r.Entries)).ToList();
    }

    private sealed class EntryRow
    {
        public long Id { get; set; }
        public long WatchlistId { get; set; }
        public string Label { get; set; } = "";
        public string Category { get; set; } = "";
        public string ImageSource { get; set; } = "";
        public string EnrolledBy { get; set; } = "";
        public string EnrolledAt { get; set; } = "";
        public string? ExpiresAt { get; set; }
        public string Model { get; set; } = "";
        public byte[] Template { get; set; } = [];
        public string TemplateHash { get; set; } = "";

        public WatchlistEntry ToModel() => new(
            Id, WatchlistId, Label, Category, ImageSource, EnrolledBy, Timestamps.Parse(EnrolledAt),
            ExpiresAt is null ? null : Timestamps.Parse(ExpiresAt), Model, TemplateHash);
    }
}

/// <summary>What is recorded about a person when they are enrolled.</summary>
public sealed record EntryInput(string Label, string Category, string ImageSource, DateTimeOffset? ExpiresAt = null);
