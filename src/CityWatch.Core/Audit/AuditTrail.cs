using System.Threading.Channels;
using CityWatch.AuditLog;
using CityWatch.Data;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Audit;

/// <summary>
/// The one writer through which every biometric and governance act is recorded: an append-only RFC 6962
/// Merkle log in SQLite. One background sequencer takes records from a queue and commits many per
/// transaction (group commit): the leaves, the tree nodes they complete and a newly signed checkpoint, all
/// at once. <see cref="AppendAsync"/> completes with the leaf index only after that commit.
/// </summary>
public sealed class AuditTrail : IDisposable, IAsyncDisposable
{
    private readonly CityWatchDatabase _database;
    private readonly TimeProvider _time;
    private readonly Func<IReadOnlyList<CommittedState>>? _committedState;
    private readonly AuditLogOptions _options;
    private readonly NoteSigner _signer;
    private readonly IReadOnlyList<CosignatureVerifier> _witnesses;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _sequencer;
    private readonly Func<CityWatch.Keys.KeyEvent, Task> _keyLog;
    private CompactRange _range;
    private long _committedSize;

    public AuditTrail(
        CityWatchDatabase database,
        TimeProvider time,
        Func<IReadOnlyList<CommittedState>>? committedState = null,
        AuditLogOptions? options = null)
    {
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _committedState = committedState;
        _options = options ?? new AuditLogOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxBatch, 1);
        // The signing key is wrapped by the data folder's KEK; an older plaintext key file is migrated.
        _signer = database.Keys.AuditSigner(_options.Origin, KeyPathFor(database, _options));
        _witnesses = [.. _options.WitnessKeys.Select(CosignatureVerifier.Parse)];

        using (var connection = database.Open())
        {
            connection.Execute(AuditSchema.Sql);
            _committedSize = connection.ExecuteScalar<long>("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves");
            using var nodes = new SqliteNodeSource(connection);
            _range = CompactRange.FromNodes(_committedSize, nodes);
            var latest = connection.ExecuteScalar<long?>("SELECT MAX(size) FROM audit_checkpoints");
            if (latest != _committedSize)
            {
                using var transaction = connection.BeginTransaction();
                PublishCheckpoint(connection, transaction, latest ?? -1);
                transaction.Commit();
            }
        }

        _sequencer = Task.Run(SequenceAsync);
        _keyLog = keyEvent => AppendAsync(KeyLog.Record(keyEvent));
        database.Keys.RecordTo(_keyLog);
    }

    /// <summary>The log key's name: also the checkpoint origin.</summary>
    public string Origin => _options.Origin;

    /// <summary>The verifier key (<c>name+id+key</c>) that outsiders use to check checkpoints.</summary>
    public string VerifierKey => _signer.VerifierKey;

    /// <summary>How many leaves are committed (and covered by the latest checkpoint).</summary>
    public long Size => Interlocked.Read(ref _committedSize);

    /// <summary>Where an older data folder kept the plaintext signing key (migrated and deleted on first open).</summary>
    public static string KeyPathFor(CityWatchDatabase database, AuditLogOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        return options?.KeyPath ?? Path.Combine(Path.GetDirectoryName(database.Path) ?? ".", "audit-log.key");
    }

    /// <summary>Queues the record and returns its leaf index once it is committed to disk.</summary>
    public async Task<long> AppendAsync(AuditRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new Pending(record, new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(AuditTrail), "The audit trail is shut down; nothing more can be logged.");
        }

        return await pending.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The recorded acts, oldest first, for the API and the tests.</summary>
    public IReadOnlyList<LoggedAct> Read(long start, int count, string? action = null)
    {
        using var connection = _database.Open();
        return connection.Query<(long Index, string At, string Actor, string Action, string Outcome, long? LegalBasisId, string? CaseId, byte[] Entry)>(
            """
            SELECT idx, at, actor, action, outcome, legal_basis_id, case_id, entry
            FROM audit_leaves WHERE idx >= @start AND (@action IS NULL OR action = @action)
            ORDER BY idx LIMIT @count
            """,
            new { start, count, action })
            .Select(r => new LoggedAct(r.Index, r.At, r.Actor, r.Action, r.Outcome, r.LegalBasisId, r.CaseId, AuditEntry.Text(r.Entry)))
            .AsList();
    }

    /// <summary>The latest signed checkpoint, with every accepted witness cosignature appended.</summary>
    public string LatestCheckpoint()
    {
        using var connection = _database.Open();
        var row = connection.QuerySingle<(long Size, string Note)>("SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1");
        var lines = connection.Query<string>("SELECT line FROM audit_cosignatures WHERE size = @size ORDER BY witness", new { size = row.Size });
        return row.Note + string.Concat(lines);
    }

    /// <summary>The stored leaf bytes (canonical JSON) from <paramref name="start"/>, at most <paramref name="count"/>.</summary>
    public IReadOnlyList<byte[]> ReadEntries(long start, int count)
    {
        using var connection = _database.Open();
        return connection.Query<byte[]>("SELECT entry FROM audit_leaves WHERE idx >= @start ORDER BY idx LIMIT @count", new { start, count }).AsList();
    }

    /// <summary>A tlog-tiles hash tile, for a tree of the current size.</summary>
    public byte[] ReadTile(TileId tile)
    {
        CheckTile(tile, hashTile: true);
        using var connection = _database.Open();
        using var nodes = new SqliteNodeSource(connection);
        return Tiles.Read(nodes, tile);
    }

    /// <summary>A tlog-tiles entry bundle (level-0 tile of entries).</summary>
    public byte[] ReadEntryBundle(TileId tile)
    {
        CheckTile(tile with { Level = 0 }, hashTile: false);
        return EntryBundle.Encode(ReadEntries(tile.Index * TileId.FullWidth, tile.Width));
    }

    public IReadOnlyList<byte[]> InclusionProof(long index, long size)
    {
        CheckSize(size);
        using var connection = _database.Open();
        using var nodes = new SqliteNodeSource(connection);
        return ProofBuilder.Inclusion(nodes, index, size);
    }

    public IReadOnlyList<byte[]> ConsistencyProof(long oldSize, long newSize)
    {
        CheckSize(newSize);
        using var connection = _database.Open();
        using var nodes = new SqliteNodeSource(connection);
        return ProofBuilder.Consistency(nodes, oldSize, newSize);
    }

    /// <summary>
    /// Accepts a witness's cosigned copy of a published checkpoint: every line by a configured witness must
    /// verify over exactly that checkpoint's text. Returns how many cosignatures were stored.
    /// </summary>
    public int AddCosignatures(string cosignedNote)
    {
        SignedNote note;
        try
        {
            note = SignedNote.Parse(cosignedNote);
        }
        catch (AuditLogException e)
        {
            throw new InvalidRequestException(e.Message);
        }

        using var connection = _database.Open();
        var stored = connection.QuerySingleOrDefault<(long Size, string Note)?>(
            "SELECT size, note FROM audit_checkpoints WHERE size = (SELECT MAX(size) FROM audit_checkpoints)");
        if (stored is null || SignedNote.Parse(stored.Value.Note).Text != note.Text)
        {
            throw new ConflictException("The cosigned checkpoint is not the latest one this log published.");
        }

        var added = 0;
        foreach (var witness in _witnesses)
        {
            var line = note.Signatures.FirstOrDefault(s => s.Name == witness.Name && s.KeyId == witness.KeyId);
            if (line is null)
            {
                continue;
            }

            try
            {
                witness.Verify(note);
            }
            catch (AuditLogException e)
            {
                throw new InvalidRequestException(e.Message);
            }

            added += connection.Execute(
                "INSERT OR REPLACE INTO audit_cosignatures (size, witness, line) VALUES (@size, @witness, @line)",
                new { size = stored.Value.Size, witness = witness.Name, line = line.ToLine() });
        }

        return added > 0 ? added : throw new InvalidRequestException("The note carries no cosignature by a witness this log knows.");
    }

    public void Dispose()
    {
        _database.Keys.StopRecording(_keyLog);
        _queue.Writer.TryComplete();
        _sequencer.GetAwaiter().GetResult();
        _signer.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        _database.Keys.StopRecording(_keyLog);
        _queue.Writer.TryComplete();
        await _sequencer.ConfigureAwait(false);
        _signer.Dispose();
    }

    private async Task SequenceAsync()
    {
        var batch = new List<Pending>(_options.MaxBatch);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < _options.MaxBatch && reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            try
            {
                var first = Commit(batch);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.TrySetResult(first + i);
                }
            }
#pragma warning disable CA1031 // The sequencer must outlive any one failed batch; the error goes to its callers.
            catch (Exception e)
#pragma warning restore CA1031
            {
                foreach (var pending in batch)
                {
                    pending.Done.TrySetException(e);
                }

                Reload();
            }
        }
    }

    private long Commit(List<Pending> batch)
    {
        using var connection = _database.Open();
        using var transaction = connection.BeginTransaction();
        using var insertLeaf = connection.CreateCommand();
        insertLeaf.Transaction = transaction;
        insertLeaf.CommandText = """
            INSERT INTO audit_leaves (idx, at, actor, action, outcome, legal_basis_id, case_id, entry)
            VALUES ($idx, $at, $actor, $action, $outcome, $basis, $case, $entry)
            """;
        var leafParameters = new[] { "$idx", "$at", "$actor", "$action", "$outcome", "$basis", "$case", "$entry" }
            .Select(name => insertLeaf.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();
        using var insertNode = connection.CreateCommand();
        insertNode.Transaction = transaction;
        insertNode.CommandText = "INSERT INTO audit_nodes (level, idx, hash) VALUES ($level, $idx, $hash)";
        var level = insertNode.Parameters.Add("$level", SqliteType.Integer);
        var nodeIndex = insertNode.Parameters.Add("$idx", SqliteType.Integer);
        var hash = insertNode.Parameters.Add("$hash", SqliteType.Blob);
        void StoreNode(int l, long i, byte[] h)
        {
            level.Value = l;
            nodeIndex.Value = i;
            hash.Value = h;
            insertNode.ExecuteNonQuery();
        }

        var previous = _range.Size;
        foreach (var pending in batch)
        {
            var record = pending.Record;
            var index = _range.Size;
            var at = _time.GetUtcNow();
            var entry = AuditEntry.Encode(index, at, record);
            if (entry.Length > EntryBundle.MaxEntryLength)
            {
                throw new InvalidRequestException($"An audit record of {entry.Length} bytes is longer than {EntryBundle.MaxEntryLength}.");
            }

            object?[] values = [index, Timestamps.Format(at), record.Actor, record.Action, record.Outcome, record.LegalBasisId, record.CaseId, entry];
            for (var i = 0; i < values.Length; i++)
            {
                leafParameters[i].Value = values[i] ?? DBNull.Value;
            }

            insertLeaf.ExecuteNonQuery();
            _range.Append(Rfc6962.HashLeaf(entry), StoreNode);
        }

        PublishCheckpoint(connection, transaction, previous);
        transaction.Commit();
        Interlocked.Exchange(ref _committedSize, _range.Size);
        return previous;
    }

    // Signs a checkpoint for the current range. The previous one is dropped unless it closes a 256-leaf tile,
    // so the history keeps one checkpoint per full tile and the latest.
    private void PublishCheckpoint(SqliteConnection connection, SqliteTransaction transaction, long previousSize)
    {
        var states = _committedState?.Invoke() ?? [];
        var checkpoint = new Checkpoint(_options.Origin, _range.Size, _range.Root(), [.. states.Select(s => s.ToExtensionLine())]);
        var note = _signer.SignNote(checkpoint.ToText()).Format();
        connection.Execute("INSERT OR REPLACE INTO audit_checkpoints (size, note) VALUES (@size, @note)", new { size = _range.Size, note }, transaction);
        if (previousSize >= 0 && previousSize != _range.Size && previousSize / TileId.FullWidth == _range.Size / TileId.FullWidth && previousSize % TileId.FullWidth != 0)
        {
            connection.Execute("DELETE FROM audit_checkpoints WHERE size = @previousSize", new { previousSize }, transaction);
        }
    }

    private void Reload()
    {
        try
        {
            using var connection = _database.Open();
            using var nodes = new SqliteNodeSource(connection);
            var size = connection.ExecuteScalar<long>("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves");
            _range = CompactRange.FromNodes(size, nodes);
            Interlocked.Exchange(ref _committedSize, size);
        }
#pragma warning disable CA1031 // If even the reload fails, the next batch fails the same way and reports it.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void CheckSize(long size)
    {
        if (size < 0 || size > Size)
        {
            throw new NotFoundException($"The log has no tree of size {size}; its size is {Size}.");
        }
    }

    private void CheckTile(TileId tile, bool hashTile)
    {
        var size = Size;
        TileId expected;
        try
        {
            expected = TileId.ForTree(tile.Level, tile.Index, size);
        }
        catch (MalformedTileException)
        {
            throw new NotFoundException($"No {(hashTile ? "tile" : "entry bundle")} {tile.Level}/{tile.Index} in a log of size {size}.");
        }

        if (tile.Width > expected.Width)
        {
            throw new NotFoundException($"The tile is only {expected.Width} wide at size {size}.");
        }
    }

    private sealed record Pending(AuditRecord Record, TaskCompletionSource<long> Done);
}

public sealed record LoggedAct(long Index, string At, string Actor, string Action, string Outcome, long? LegalBasisId, string? CaseId, string Body);
