using System.Collections.Concurrent;
using System.Data;
using System.Data.Common;
using System.Text.Json;
using System.Threading.Channels;
using CityWatch.AuditLog;
using CityWatch.Data;
using CityWatch.Keys;
using Dapper;

namespace CityWatch.Audit;

/// <summary>
/// The one writer through which every biometric and governance act is recorded: an append-only RFC 6962
/// Merkle log in the database, SQLite or PostgreSQL. An act writes its record into the outbox in its own transaction
/// (<see cref="Stage"/>); one background sequencer moves outbox rows into the log many per transaction (group
/// commit): the leaves, the tree nodes they complete, a newly signed checkpoint and the deletion of the rows,
/// all at once. <see cref="AppendAsync"/> and <see cref="CommittedAsync"/> complete with the leaf index only
/// after that commit.
/// <para>
/// On PostgreSQL several servers share one log: every one stages, and only the one holding the session-level
/// advisory lock <see cref="SequencerLockKey"/> (on a connection it keeps open for that) runs the sequencer
/// (<see cref="IsSequencer"/>). The others try for the lock every <see cref="AuditLogOptions.LeaderRetry"/>;
/// when the leader's connection dies PostgreSQL frees the lock and one of them takes over. Each append also
/// takes the transaction lock <see cref="AppendLockKey"/> and reads the committed tree before it writes, so
/// two servers that both believe they lead for a moment still extend one tree. A record staged on one server
/// and logged by another comes back through <c>audit_sequenced</c>, written in the logging transaction.
/// </para>
/// </summary>
public sealed class AuditTrail : IDisposable, IAsyncDisposable
{
    private readonly CityWatchDatabase _database;
    private readonly TimeProvider _time;
    private readonly Func<IReadOnlyList<CommittedState>>? _committedState;
    private readonly AuditLogOptions _options;
    private readonly NoteSigner _signer;
    private readonly IReadOnlyList<CosignatureVerifier> _witnesses;
    private readonly Channel<bool> _queue = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    // Waiters are shared by every trail over the same file in this process, so whichever sequencer logs a
    // staged record completes its waiter (one trail per database is the rule; tests and tools open a second).
    private static readonly ConcurrentDictionary<string, ConcurrentDictionary<string, Waiter>> WaitersByDatabase = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Waiter> _waiters;
    private readonly Task _sequencer;
    // AppendAsync's callers queue here; the sequencer logs what is pending in its next transaction (see AppendAsync).
    private readonly Channel<PendingAppend> _appends = Channel.CreateUnbounded<PendingAppend>(new UnboundedChannelOptions { SingleReader = true });
    private readonly KeyLogSink _keyLog;
    private readonly bool _postgres;
    // SQLite: the WAL is copied into the file off the sequencer's thread (null on PostgreSQL).
    private readonly WalCheckpointer? _checkpointer;
    private CompactRange _range;
    // PostgreSQL: the connection that holds the sequencer lock while this trail leads; used by the sequencer task alone.
    private DbConnection? _lockConnection;
    private DateTimeOffset _nextLeaderTry = DateTimeOffset.MinValue;
    private DateTimeOffset _nextPrune = DateTimeOffset.MinValue;
    private volatile bool _isSequencer;

    private static readonly TimeSpan WaiterLifetime = TimeSpan.FromMinutes(10);

    /// <summary>The PostgreSQL session-level advisory lock whose holder runs the sequencer ("CWAUDSEQ").</summary>
    public const long SequencerLockKey = 0x43_57_41_55_44_53_45_51;

    /// <summary>The PostgreSQL transaction-level advisory lock each append (and the start-up checkpoint) takes ("CWAUDAPP").</summary>
    public const long AppendLockKey = 0x43_57_41_55_44_41_50_50;

    public AuditTrail(
        CityWatchDatabase database,
        TimeProvider time,
        Func<IReadOnlyList<CommittedState>>? committedState = null,
        AuditLogOptions? options = null)
    {
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _postgres = database.Dialect.IsPostgres;
        // On PostgreSQL each trail is a server of its own: what another one logs for it comes back through audit_sequenced.
        _waiters = _postgres
            ? new ConcurrentDictionary<string, Waiter>(StringComparer.Ordinal)
            : WaitersByDatabase.GetOrAdd(database.Path, _ => new ConcurrentDictionary<string, Waiter>(StringComparer.Ordinal));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _committedState = committedState;
        _options = options ?? new AuditLogOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxBatch, 1);
        // The signing key is wrapped by the data folder's KEK; an older plaintext key file is migrated.
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_options.LeaderRetry, TimeSpan.Zero);
        // A PostgreSQL database has no older plaintext key file beside it.
        _signer = database.Keys.AuditSigner(_options.Origin, _postgres ? _options.KeyPath : KeyPathFor(database, _options));
        _witnesses = [.. _options.WitnessKeys.Select(CosignatureVerifier.Parse)];

        using (var connection = database.Connect())
        {
            // The audit feature's migrations (not only its first tables): a later version may have replaced a table.
            // On PostgreSQL servers that start together migrate one after another (the append lock, held by the session).
            if (_postgres)
            {
                connection.Execute("SELECT pg_advisory_lock(@key)", new { key = AppendLockKey });
            }

            try
            {
                SchemaMigrations.Apply(connection, time, database.Path, "audit");
            }
            finally
            {
                if (_postgres)
                {
                    connection.Execute("SELECT pg_advisory_unlock(@key)", new { key = AppendLockKey });
                }
            }

            StartupFailure = CheckAtStart(connection);
            using var transaction = BeginAppend(connection);
            _range = RangeOf(connection, transaction);
            var latest = connection.ExecuteScalar<long?>("SELECT MAX(size) FROM audit_checkpoints", transaction: transaction);
            // A log that fails its check is not re-signed at its present size: the witnessed history stays the evidence.
            if (StartupFailure is null && latest != _range.Size)
            {
                PublishCheckpoint(connection, transaction, latest ?? -1);
            }

            transaction.Commit();
        }

        _checkpointer = _postgres ? null : new WalCheckpointer(database);
        // Records staged before a crash or a stop are logged first.
        _queue.Writer.TryWrite(true);
        _sequencer = Task.Run(SequenceAsync);
        // Key unwraps from now on, and those that waited for the log (its own key's, at start), go into it.
        _keyLog = new KeyLogSink(
            keyEvent => AppendAsync(KeyLog.Record(keyEvent)),
            (connection, transaction, keyEvent) => CommittedAsync(Stage(connection, transaction, KeyLog.Record(keyEvent))));
        database.Keys.RecordTo(_keyLog);
    }

    /// <summary>
    /// Why the log failed the check it passes at start, or null when it passed: it must be at least as long as
    /// the latest checkpoint any witness cosigned (kept in <c>audit_witnessed</c> and in the witness folders of
    /// <see cref="AuditLogOptions.WitnessStates"/>), have the witnessed root at that size with a consistency proof
    /// from there, and every stored leaf must hash into the signed tree. While it is set, the policy engine
    /// issues no grant.
    /// </summary>
    public string? StartupFailure { get; }

    /// <summary>
    /// Whether this trail runs the sequencer now: always on SQLite (one process); on PostgreSQL while it holds
    /// <see cref="SequencerLockKey"/>. Every trail stages either way.
    /// </summary>
    public bool IsSequencer => !_postgres || _isSequencer;

    /// <summary>The log key's name: also the checkpoint origin.</summary>
    public string Origin => _options.Origin;

    /// <summary>The verifier key (<c>name+id+key</c>) that outsiders use to check checkpoints.</summary>
    public string VerifierKey => _signer.VerifierKey;

    /// <summary>How many leaves are committed (and covered by the latest checkpoint).</summary>
    /// <remarks>Read from the file, not from this instance, so it is right whichever trail over the file logged last.</remarks>
    public long Size
    {
        get
        {
            using var connection = _database.Connect();
            return SizeOf(connection);
        }
    }

    /// <summary>Where an older data folder kept the plaintext signing key (migrated and deleted on first open).</summary>
    public static string KeyPathFor(CityWatchDatabase database, AuditLogOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        return options?.KeyPath ?? Path.Combine(Path.GetDirectoryName(database.Path) ?? ".", "audit-log.key");
    }

    /// <summary>
    /// Records an act on its own (a grant, a refusal, a view: acts that change no other state) and returns its
    /// leaf index once it is in the Merkle log on disk.
    /// </summary>
    /// <remarks>
    /// Group commit without the outbox: the record is checked here (a record the limits refuse throws to this
    /// caller alone, before anything is written), then queued in memory; the sequencer takes everything pending
    /// into the transaction that logs it (after the outbox's rows, up to <see cref="AuditLogOptions.MaxBatch"/>
    /// leaves), so a burst of callers shares one fsync and no record is written twice. An act with no other state
    /// has nothing to commit atomically with its record, so the outbox would only add a transaction, a JSON
    /// round trip and a delete. If that commit fails, every caller of the batch gets the error and none of its
    /// records is in the log (one transaction: nothing half-written). On PostgreSQL a server that does not run the
    /// sequencer stages its pending records into the outbox instead (<see cref="AppendBatch"/> per transaction),
    /// and the leader logs them. Cancelling after the record was queued may still log it, exactly as cancelling
    /// the wait after <see cref="Stage"/> does.
    /// </remarks>
    public Task<long> AppendAsync(AuditRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        cancellationToken.ThrowIfCancellationRequested();
        AuditRecordLimits.Check(record);
        var pending = new PendingAppend(record, _time.GetUtcNow(), new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_appends.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(AuditTrail), "The audit trail is shut down; nothing more can be logged.");
        }

        _queue.Writer.TryWrite(true);
        return pending.Logged.Task.WaitAsync(cancellationToken);
    }

    /// <summary>The most pending <see cref="AppendAsync"/> records a server that does not sequence stages in one outbox transaction.</summary>
    public const int AppendBatch = 4096;

    /// <summary>
    /// Writes the record of an act into the outbox inside the act's own transaction, so that the act and its
    /// record commit together or not at all. The fields are checked first (<see cref="AuditRecordLimits"/>):
    /// a record the log would refuse throws before anything is written. After the transaction commits,
    /// <see cref="CommittedAsync"/> waits until the sequencer has moved the record into the Merkle log.
    /// </summary>
    public StagedRecord Stage(DbConnection connection, DbTransaction transaction, AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(record);
        AuditRecordLimits.Check(record);
        if (_queue.Reader.Completion.IsCompleted)
        {
            throw new ObjectDisposedException(nameof(AuditTrail), "The audit trail is shut down; nothing more can be logged.");
        }

        var waiter = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        return StageInto(connection, transaction, record, _time.GetUtcNow(), waiter);
    }

    private StagedRecord StageInto(DbConnection connection, DbTransaction transaction, AuditRecord record, DateTimeOffset at, TaskCompletionSource<long> waiter)
    {
        var token = Guid.NewGuid().ToString("N");
        _waiters[token] = new Waiter(waiter, TimeProvider.System.GetUtcNow());
        connection.Execute(
            "INSERT INTO audit_outbox (token, at, record) VALUES (@token, @at, @record)",
            new { token, at = Timestamps.Format(at), record = JsonSerializer.Serialize(record) },
            transaction);
        return new StagedRecord(token, waiter.Task);
    }

    /// <summary>The leaf index of a staged record once its transaction has committed and the sequencer has logged it.</summary>
    public Task<long> CommittedAsync(StagedRecord staged, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(staged);
        _queue.Writer.TryWrite(true);
        return staged.Logged.WaitAsync(cancellationToken);
    }

    /// <summary>Waits until every record committed to the outbox so far is in the log.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        using var connection = _database.Connect();
        var last = connection.ExecuteScalar<long?>("SELECT MAX(id) FROM audit_outbox");
        while (last is not null && connection.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_outbox WHERE id <= @last", new { last }) > 0)
        {
            _queue.Writer.TryWrite(true);
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The recorded acts, oldest first, for the API and the tests: every field is decoded from the signed leaf
    /// bytes, never read from the other columns (which only index the leaves and may disagree after tampering).
    /// </summary>
    /// <remarks>Commitments are shown opened here, for staff and tests inside the system; <see cref="ReadSigned"/> is what the public sees.</remarks>
    public IReadOnlyList<LoggedAct> Read(long start, int count, string? action = null)
    {
        var acts = ReadSigned(start, count, action);
        if (acts.Count == 0)
        {
            return acts;
        }

        using var connection = _database.Connect();
        var openings = connection.Query<string>(
            "SELECT openings FROM audit_leaf_openings WHERE idx BETWEEN @first AND @last",
            new { first = acts[0].Index, last = acts[^1].Index })
            .SelectMany(stored => AuditEntry.ParseOpenings(stored) ?? [])
            .ToDictionary(o => o.Commitment, o => o.Value, StringComparer.Ordinal);
        return [.. acts.Select(a => AuditEntry.Opened(a, openings))];
    }

    /// <summary>The acts exactly as the signed leaves state them: commitments stay commitments.</summary>
    public IReadOnlyList<LoggedAct> ReadSigned(long start, int count, string? action = null)
    {
        using var connection = _database.Connect();
        return connection.Query<(long Index, byte[] Entry)>(
            """
            SELECT idx, entry
            FROM audit_leaves WHERE idx >= @start AND (@action IS NULL OR action = @action)
            ORDER BY idx LIMIT @count
            """,
            new { start, count, action })
            .Select(r => AuditEntry.Decode(r.Index, r.Entry))
            .Where(a => action is null || a.Action == action)
            .AsList();
    }

    /// <summary>The latest signed checkpoint, with every accepted witness cosignature appended.</summary>
    public string LatestCheckpoint()
    {
        using var connection = _database.Connect();
        var row = connection.QuerySingle<(long Size, string Note)>("SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1");
        var lines = connection.Query<string>("SELECT line FROM audit_cosignatures WHERE size = @size ORDER BY witness", new { size = row.Size });
        return row.Note + string.Concat(lines);
    }

    /// <summary>
    /// The openings of the commitments in leaf <paramref name="index"/>, each checked against its commitment
    /// in the signed leaf. The caller logs the opening (it is an act: someone learnt who did what).
    /// </summary>
    public IReadOnlyList<AuditOpening> Openings(long index)
    {
        using var connection = _database.Connect();
        var entry = connection.QuerySingleOrDefault<byte[]>("SELECT entry FROM audit_leaves WHERE idx = @index", new { index })
            ?? throw new NotFoundException($"The log has no entry {index}.");
        var text = AuditEntry.Text(entry);
        var stored = connection.QuerySingleOrDefault<string>("SELECT openings FROM audit_leaf_openings WHERE idx = @index", new { index });
        // A row that does not parse was altered: the reader is told so, rather than shown a leaf without openings.
        var parsed = stored is null ? [] : AuditEntry.ParseOpenings(stored)
            ?? throw new ConflictException($"The stored openings of entry {index} are not readable: they were altered.");
        var openings = parsed.OrderBy(o => o.Field, StringComparer.Ordinal).ToList();
        foreach (var opening in openings)
        {
            if (AuditEntry.Commitment(Convert.FromBase64String(opening.Salt), opening.Value) != opening.Commitment || !text.Contains($"\"{opening.Commitment}\"", StringComparison.Ordinal))
            {
                throw new ConflictException($"The stored opening of {opening.Field} in entry {index} does not open its commitment.");
            }
        }

        return openings;
    }

    /// <summary>The latest checkpoint each witness cosigned, whole (log signature and that witness's cosignature).</summary>
    public IReadOnlyList<WitnessedNote> Witnessed()
    {
        using var connection = _database.Connect();
        return connection.Query<WitnessedNote>("SELECT witness AS Witness, size AS Size, note AS Note FROM audit_witnessed ORDER BY witness").AsList();
    }

    /// <summary>The stored leaf bytes (canonical JSON) from <paramref name="start"/>, at most <paramref name="count"/>.</summary>
    public IReadOnlyList<byte[]> ReadEntries(long start, int count)
    {
        using var connection = _database.Connect();
        return connection.Query<byte[]>("SELECT entry FROM audit_leaves WHERE idx >= @start ORDER BY idx LIMIT @count", new { start, count }).AsList();
    }

    /// <summary>A tlog-tiles hash tile, for a tree of the current size.</summary>
    public byte[] ReadTile(TileId tile)
    {
        CheckTile(tile, hashTile: true);
        using var connection = _database.Connect();
        using var nodes = new DbNodeSource(connection);
        // The stored row is the tile; a partial tile asked for at an older, narrower width is its first hashes.
        var stored = nodes.ReadTile(tile.Level, tile.Index);
        var length = tile.Width * Rfc6962.HashSize;
        if (stored is null || stored.Length < length)
        {
            throw new MissingNodeException(tile.TreeLevel, (tile.Index * TileId.FullWidth) + ((stored?.Length ?? 0) / Rfc6962.HashSize));
        }

        return stored.Length == length ? stored : stored[..length];
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
        using var connection = _database.Connect();
        using var nodes = new DbNodeSource(connection);
        return ProofBuilder.Inclusion(nodes, index, size);
    }

    public IReadOnlyList<byte[]> ConsistencyProof(long oldSize, long newSize)
    {
        CheckSize(newSize);
        using var connection = _database.Connect();
        using var nodes = new DbNodeSource(connection);
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

        using var connection = _database.Connect();
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

            var logSignatures = SignedNote.Parse(stored.Value.Note).Signatures;
            using var transaction = connection.BeginTransaction();
            added += connection.Execute(
                "INSERT INTO audit_cosignatures (size, witness, line) VALUES (@size, @witness, @line) ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line",
                new { size = stored.Value.Size, witness = witness.Name, line = line.ToLine() },
                transaction);
            // The latest cosigned checkpoint of each witness is kept whole: the start-up check's anchor.
            connection.Execute(
                """
                INSERT INTO audit_witnessed (witness, size, note) VALUES (@witness, @size, @note)
                ON CONFLICT (witness) DO UPDATE SET size = excluded.size, note = excluded.note WHERE excluded.size >= audit_witnessed.size
                """,
                new { witness = witness.Name, size = stored.Value.Size, note = new SignedNote(note.Text, [.. logSignatures, line]).Format() },
                transaction);
            transaction.Commit();
        }

        return added > 0 ? added : throw new InvalidRequestException("The note carries no cosignature by a witness this log knows.");
    }

    public void Dispose()
    {
        _database.Keys.StopRecording(_keyLog);
        // Appends already queued are logged by the sequencer's last pass.
        _appends.Writer.TryComplete();
        _queue.Writer.TryComplete();
        _sequencer.GetAwaiter().GetResult();
        _checkpointer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _signer.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        _database.Keys.StopRecording(_keyLog);
        _appends.Writer.TryComplete();
        _queue.Writer.TryComplete();
        await _sequencer.ConfigureAwait(false);
        if (_checkpointer is not null)
        {
            await _checkpointer.DisposeAsync().ConfigureAwait(false);
        }

        _signer.Dispose();
    }

    // PostgreSQL, while another server runs the sequencer: what AppendAsync queued here goes into the outbox,
    // up to AppendBatch records per transaction, for the leader to log. A failed commit fails its batch's callers
    // with the error (none of their records is in the outbox). It never throws: the sequencer must outlive it.
    private void StageAppends()
    {
        List<PendingAppend> batch;
        while ((batch = TakeAppends(AppendBatch)).Count > 0)
        {
            var staged = new List<StagedRecord>(batch.Count);
            try
            {
                StageBatch(batch, staged);
            }
#pragma warning disable CA1031 // Every caller of the batch gets the error; the next batch may fare better.
            catch (Exception error)
#pragma warning restore CA1031
            {
                foreach (var record in staged)
                {
                    _waiters.TryRemove(record.Token, out _);
                }

                Fail(batch, error);
            }
        }
    }

    private void StageBatch(List<PendingAppend> batch, List<StagedRecord> staged)
    {
        using var connection = _database.Connect();
        using var transaction = connection.BeginTransaction();
        foreach (var pending in batch)
        {
            staged.Add(StageInto(connection, transaction, pending.Record, pending.At, pending.Logged));
        }

        transaction.Commit();
    }

    private List<PendingAppend> TakeAppends(int most)
    {
        var taken = new List<PendingAppend>(Math.Min(most, 256));
        while (taken.Count < most && _appends.Reader.TryRead(out var pending))
        {
            taken.Add(pending);
        }

        return taken;
    }

    private static void Fail(IEnumerable<PendingAppend> appends, Exception error)
    {
        foreach (var pending in appends)
        {
            pending.Logged.TrySetException(error);
        }
    }

    // Drains the outbox into the log, oldest first, many rows per transaction (group commit). It wakes when a
    // record is staged or awaited, and every poll interval anyway, so a record whose transaction committed
    // after the wake-up (or before a crash) is still logged. On PostgreSQL each wake-up first settles who leads.
    private async Task SequenceAsync()
    {
        var reader = _queue.Reader;
        try
        {
            while (true)
            {
                // Wall-clock time on purpose: the poll is about the machine, not the city's (possibly simulated) clock.
                using (var poll = new CancellationTokenSource(_options.PollInterval, TimeProvider.System))
                {
                    try
                    {
                        if (!await reader.WaitToReadAsync(poll.Token).ConfigureAwait(false))
                        {
                            Tick();
                            return;
                        }
                    }
                    catch (OperationCanceledException) when (poll.IsCancellationRequested)
                    {
                    }
                }

                while (reader.TryRead(out _))
                {
                }

                Tick();
            }
        }
        finally
        {
            ReleaseLeadership();
            // Only if even the last pass failed: the callers learn that their records were not logged.
            Fail(TakeAppends(int.MaxValue), new ObjectDisposedException(nameof(AuditTrail), "The audit trail shut down before the record was logged."));
        }
    }

    private void Tick()
    {
        if (HoldsSequencer())
        {
            DrainAll();
        }
        else
        {
            StageAppends();
        }

        if (_postgres)
        {
            CollectSequenced();
            PruneSequenced();
        }

        ForgetAbandonedWaiters();
    }

    // The leader drops, once a minute, what no server collected within a waiter's lifetime (its server stopped).
    private void PruneSequenced()
    {
        var now = TimeProvider.System.GetUtcNow();
        if (!_isSequencer || now < _nextPrune)
        {
            return;
        }

        _nextPrune = now + TimeSpan.FromMinutes(1);
        try
        {
            using var connection = _database.Connect();
            connection.Execute("DELETE FROM audit_sequenced WHERE at < @cutoff", new { cutoff = Timestamps.Format(now - WaiterLifetime) });
        }
#pragma warning disable CA1031 // Pruned at the next minute instead.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void DrainAll()
    {
        try
        {
            for (var pass = 0; pass < 10_000 && Drain() == _options.MaxBatch; pass++)
            {
            }
        }
#pragma warning disable CA1031 // The sequencer must outlive any one failed batch: the rows stay in the outbox for the next pass.
        catch (Exception)
#pragma warning restore CA1031
        {
            Reload();
        }
    }

    // PostgreSQL leader election. The leader checks its lock connection on every wake-up; when that connection
    // is gone (terminated, the network cut) PostgreSQL has freed the lock, and this trail steps down and waits
    // three retry intervals, so that a standby whose own connection is sound takes over first. A standby tries
    // pg_try_advisory_lock once per retry interval; on success it reloads the committed tree before it appends.
    private bool HoldsSequencer()
    {
        if (!_postgres)
        {
            return true;
        }

        var now = TimeProvider.System.GetUtcNow();
        if (_lockConnection is { } held)
        {
            try
            {
                held.ExecuteScalar<int>("SELECT 1");
                return true;
            }
#pragma warning disable CA1031 // Any failure of the lock connection means the lock may be gone: step down.
            catch (Exception)
#pragma warning restore CA1031
            {
                _isSequencer = false;
                _lockConnection = null;
                DisposeQuietly(held);
                _nextLeaderTry = now + (3 * _options.LeaderRetry);
                return false;
            }
        }

        if (now < _nextLeaderTry)
        {
            return false;
        }

        _nextLeaderTry = now + _options.LeaderRetry;
        DbConnection? connection = null;
        try
        {
            connection = _database.Connect();
            if (!connection.ExecuteScalar<bool>("SELECT pg_try_advisory_lock(@key)", new { key = SequencerLockKey }))
            {
                DisposeQuietly(connection);
                return false;
            }

            _lockConnection = connection;
            Reload();
            _isSequencer = true;
            return true;
        }
#pragma warning disable CA1031 // The database may be unreachable for a while: try again at the next interval.
        catch (Exception)
#pragma warning restore CA1031
        {
            if (connection is not null)
            {
                DisposeQuietly(connection);
            }

            return false;
        }
    }

    // On stop: unlock explicitly (a pooled connection keeps its session, and its locks, when it goes back to the pool).
    private void ReleaseLeadership()
    {
        if (_lockConnection is not { } held)
        {
            return;
        }

        _isSequencer = false;
        _lockConnection = null;
        try
        {
            held.Execute("SELECT pg_advisory_unlock(@key)", new { key = SequencerLockKey });
        }
#pragma warning disable CA1031 // A dead connection has released the lock already.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        DisposeQuietly(held);
    }

    private static void DisposeQuietly(DbConnection connection)
    {
        try
        {
            connection.Dispose();
        }
#pragma warning disable CA1031 // Closing a broken connection may throw; it is gone either way.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    // PostgreSQL: the records this trail staged that another server logged (or refused), collected and deleted.
    private void CollectSequenced()
    {
        if (_waiters.IsEmpty)
        {
            return;
        }

        try
        {
            using var connection = _database.Connect();
            var tokens = _waiters.Keys.ToArray();
            var rows = connection.Query<(string Token, long? Index, string? Reason)>(
                "SELECT token, idx, reason FROM audit_sequenced WHERE token = ANY(@tokens)", new { tokens }).AsList();
            if (rows.Count == 0)
            {
                return;
            }

            connection.Execute("DELETE FROM audit_sequenced WHERE token = ANY(@done)", new { done = rows.Select(r => r.Token).ToArray() });
            foreach (var (token, index, reason) in rows)
            {
                Complete(token, index, reason);
            }
        }
#pragma warning disable CA1031 // Collected at the next wake-up instead.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void Complete(string token, long? index, string? reason)
    {
        if (!_waiters.TryRemove(token, out var waiter))
        {
            return;
        }

        if (index is { } logged)
        {
            waiter.Done.TrySetResult(logged);
        }
        else
        {
            waiter.Done.TrySetException(new InvalidRequestException(reason ?? "The staged record was refused."));
        }
    }

    // An append's transaction: on PostgreSQL it first takes the append lock, so appends (and the start-up
    // checkpoint) of every server run one after another and each reads the tree its predecessor committed.
    private DbTransaction BeginAppend(DbConnection connection)
    {
        var transaction = connection.BeginTransaction();
        if (_postgres)
        {
            connection.Execute("SELECT pg_advisory_xact_lock(@key)", new { key = AppendLockKey }, transaction);
        }

        return transaction;
    }

    // One transaction: the next rows of the outbox, then what AppendAsync queued, become leaves; the hash tiles they
    // grew and a new checkpoint are written, and the outbox rows are deleted. A row that cannot be encoded (only a row
    // written around the checks) moves to audit_outbox_rejected in the same transaction, so it never blocks or
    // fails the others. If the transaction fails, the outbox rows stay for the next pass and the queued callers
    // get the error.
    private int Drain()
    {
        using var connection = _database.Connect();
        using var transaction = BeginAppend(connection);
        if (SizeOf(connection, transaction) != _range.Size)
        {
            // Another trail over this database logged records since this one last looked: catch up, then go on.
            transaction.Rollback();
            Reload();
            return _options.MaxBatch;
        }

        var rows = connection.Query<(long Id, string Token, string At, string Record)>(
            "SELECT id, token, at, record FROM audit_outbox ORDER BY id LIMIT @limit", new { limit = _options.MaxBatch }, transaction).AsList();
        var appends = TakeAppends(_options.MaxBatch - rows.Count);
        if (rows.Count == 0 && appends.Count == 0)
        {
            return 0;
        }

        var previous = _range.Size;
        var logged = new List<(string Token, long Index)>(rows.Count);
        var rejected = new List<(string Token, string Reason)>();
        var appendIndexes = new long[appends.Count];
        try
        {
            using var writer = new LeafWriter(connection, transaction, _range);
            foreach (var row in rows)
            {
                AuditRecord record;
                DateTimeOffset at;
                try
                {
                    record = JsonSerializer.Deserialize<AuditRecord>(row.Record) ?? throw new InvalidRequestException("The staged record is empty.");
                    AuditRecordLimits.Check(record);
                    at = Timestamps.Parse(row.At);
                }
                catch (Exception e) when (e is InvalidRequestException or JsonException or FormatException)
                {
                    connection.Execute(
                        "INSERT INTO audit_outbox_rejected (token, at, record, reason) VALUES (@Token, @At, @Record, @reason)",
                        new { row.Token, row.At, row.Record, reason = e.Message }, transaction);
                    rejected.Add((row.Token, e.Message));
                    continue;
                }

                logged.Add((row.Token, writer.Append(record, at)));
            }

            // Queued records were checked by AppendAsync, before they were queued.
            for (var i = 0; i < appends.Count; i++)
            {
                appendIndexes[i] = writer.Append(appends[i].Record, appends[i].At);
            }

            writer.WriteTiles();

            if (rows.Count > 0)
            {
                DeleteDrained(connection, transaction, rows.Select(r => r.Id).ToArray(), logged, rejected);
            }

            if (_range.Size != previous)
            {
                PublishCheckpoint(connection, transaction, previous);
            }

            transaction.Commit();
        }
        catch (Exception error)
        {
            Fail(appends, error);
            throw;
        }

        _checkpointer?.Wake();

        foreach (var (token, index) in logged)
        {
            Complete(token, index, null);
        }

        foreach (var (token, reason) in rejected)
        {
            Complete(token, null, reason);
        }

        for (var i = 0; i < appends.Count; i++)
        {
            appends[i].Logged.TrySetResult(appendIndexes[i]);
        }

        return rows.Count + appends.Count;
    }

    private void DeleteDrained(DbConnection connection, DbTransaction transaction, long[] ids, List<(string Token, long Index)> logged, List<(string Token, string Reason)> rejected)
    {
        if (_postgres)
        {
            // Exactly the rows read: under READ COMMITTED a row with a lower id may have committed since the SELECT.
            connection.Execute("DELETE FROM audit_outbox WHERE id = ANY(@ids)", new { ids }, transaction);
            // What another server staged goes back to it through audit_sequenced, in this same transaction.
            var now = Timestamps.Format(TimeProvider.System.GetUtcNow());
            connection.Execute(
                "INSERT INTO audit_sequenced (token, idx, reason, at) VALUES (@Token, @Index, @Reason, @At) ON CONFLICT (token) DO NOTHING",
                logged.Where(l => !_waiters.ContainsKey(l.Token)).Select(l => new { l.Token, Index = (long?)l.Index, Reason = (string?)null, At = now })
                    .Concat(rejected.Where(r => !_waiters.ContainsKey(r.Token)).Select(r => new { r.Token, Index = (long?)null, Reason = (string?)r.Reason, At = now }))
                    .ToList(),
                transaction);
        }
        else
        {
            connection.Execute("DELETE FROM audit_outbox WHERE id <= @last", new { last = ids[^1] }, transaction);
        }
    }

    // A staged record whose transaction rolled back never reaches the log; its waiter is dropped after a while.
    private void ForgetAbandonedWaiters()
    {
        var cutoff = TimeProvider.System.GetUtcNow() - WaiterLifetime;
        foreach (var (token, waiter) in _waiters)
        {
            if (waiter.Since < cutoff)
            {
                _waiters.TryRemove(token, out _);
            }
        }
    }

    // Signs a checkpoint for the current range. The previous one is dropped unless it closes a 256-leaf tile,
    // so the history keeps one checkpoint per full tile and the latest.
    private void PublishCheckpoint(DbConnection connection, DbTransaction transaction, long previousSize)
    {
        var states = _committedState?.Invoke() ?? [];
        var checkpoint = new Checkpoint(_options.Origin, _range.Size, _range.Root(), [.. states.Select(s => s.ToExtensionLine())]);
        var note = _signer.SignNote(checkpoint.ToText()).Format();
        connection.Execute(
            "INSERT INTO audit_checkpoints (size, note) VALUES (@size, @note) ON CONFLICT (size) DO UPDATE SET note = excluded.note",
            new { size = _range.Size, note },
            transaction);
        if (previousSize >= 0 && previousSize != _range.Size && previousSize / TileId.FullWidth == _range.Size / TileId.FullWidth && previousSize % TileId.FullWidth != 0)
        {
            connection.Execute("DELETE FROM audit_checkpoints WHERE size = @previousSize", new { previousSize }, transaction);
        }
    }

    private string? CheckAtStart(DbConnection connection)
    {
        try
        {
            var logKey = NoteVerifier.Parse(_signer.VerifierKey);
            var anchors = AuditVerifier.StoredAnchors(connection, logKey, _witnesses).ToList();
            foreach (var directory in _options.WitnessStates)
            {
                if (WitnessState.AnchorIn(directory, logKey) is { } anchor)
                {
                    anchors.Add(anchor);
                }
            }

            if (anchors.Count == 0 && connection.ExecuteScalar<long>("SELECT (SELECT COUNT(*) FROM audit_checkpoints) + (SELECT COUNT(*) FROM audit_leaves)") == 0)
            {
                return null; // a new log
            }

            var result = AuditVerifier.Verify(connection, logKey, anchors);
            return result.Ok ? null : result.Message;
        }
        catch (Exception e) when (e is InvalidRequestException or AuditLogException or IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    private static long SizeOf(DbConnection connection, DbTransaction? transaction = null) =>
        connection.ExecuteScalar<long>("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves", transaction: transaction);

    // The compact range of the stored tree, rebuilt from its hash tiles (at most one tile read per 8 levels).
    private static CompactRange RangeOf(DbConnection connection, DbTransaction? transaction = null)
    {
        using var nodes = new DbNodeSource(connection, transaction);
        return CompactRange.FromNodes(SizeOf(connection, transaction), nodes);
    }

    private void Reload()
    {
        try
        {
            using var connection = _database.Connect();
            _range = RangeOf(connection);
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

    private sealed record PendingAppend(AuditRecord Record, DateTimeOffset At, TaskCompletionSource<long> Logged);

    private sealed record Waiter(TaskCompletionSource<long> Done, DateTimeOffset Since);
}

/// <summary>A record written to the outbox in an act's transaction; <see cref="AuditTrail.CommittedAsync"/> waits for its leaf.</summary>
public sealed record StagedRecord(string Token, Task<long> Logged);

public sealed record WitnessedNote(string Witness, long Size, string Note);

public sealed record LoggedAct(long Index, string At, string Actor, string Action, string Outcome, long? LegalBasisId, string? CaseId, string Body);
