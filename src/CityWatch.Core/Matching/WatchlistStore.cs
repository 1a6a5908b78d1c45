using System.Buffers.Binary;
using System.Data.Common;
using System.Security.Cryptography;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Evidence;
using CityWatch.Keys;
using Dapper;

namespace CityWatch.Matching;

/// <summary>
/// Watchlists and their enrolled templates. A template is stored only sealed, so a copy of the database reads no
/// template and a template moved to another entry does not open. Each entry enrolled since watchlists version 4 has
/// its template sealed under an evidence key of its own (<see cref="EvidenceVault.Seal"/>, its id in
/// <c>template_key</c>; the sealed plaintext is the entry's binding followed by the floats, checked on opening), and
/// removing the entry destroys that key in the same transaction: a removed entry's template left behind (a PostgreSQL
/// dead tuple, the WAL, a backup) opens with no key that outlives it. Entries with a null <c>template_key</c> (sealed
/// by an older version, or sealed from clear by <see cref="SealPlaintextTemplatesAsync"/>) stay sealed under the data
/// folder's one template key (<see cref="KeyRing.Template"/>, AES-256-GCM, the entry id as associated data), which
/// outlives them. The hash (SHA-256 of the plaintext floats, what checkpoints commit to) is unchanged in meaning.
/// <para>
/// On both engines (<see cref="CityWatchDatabase.Connect"/>): what touches templates needs the key ring, so a
/// PostgreSQL database opened without its KEK reads lists, entries and digests and refuses an enrolment before it
/// writes. Every act that writes entries (enrolment, removals, approval, the sealing of plain templates) runs in a
/// <see cref="SqlDialect.BeginWrite"/> of <c>watchlists</c> then <c>watchlist_entries</c> (<see cref="WriteTables"/>;
/// the order a deployment start locks them in too), so on PostgreSQL a cap, an approval's digest or a removal's
/// record is read and written with no other such act committing in between, as SQLite's one writer gave. After a
/// destruction <see cref="EvidenceVault.EraseDestroyed"/> runs: the destroyed keys' erasure epochs are rotated, and on
/// SQLite the WAL is emptied (docs/scale-out.md, "Erasure on either engine").
/// </para>
/// </summary>
public sealed class WatchlistStore(CityWatchDatabase database, TimeProvider time)
{
    /// <summary>
    /// The tables an act that writes watchlist entries locks on PostgreSQL, in this order (every such act, and
    /// a deployment start, takes them in it, so two acts never wait on each other's second table).
    /// </summary>
    internal static readonly string[] WriteTables = ["watchlists", "watchlist_entries"];

    /// <summary>Raised after any change to a watchlist's entries, so the in-memory index can reload it.</summary>
    public event Action<long>? Changed;

    public Watchlist Create(WatchlistInput input, string actor)
    {
        if (string.IsNullOrWhiteSpace(input.Name))
        {
            throw new InvalidRequestException("'name' is required.");
        }

        var colour = WatchlistColours.Check(input.Colour);
        using var connection = database.Connect();
        try
        {
            var id = connection.ExecuteScalar<long>(
                "INSERT INTO watchlists (name, description, created_by, created_at, colour, sound) VALUES (@name, @description, @actor, @now, @colour, @sound) RETURNING id",
                new { name = input.Name.Trim(), description = input.Description ?? "", actor, now = Timestamps.Format(time.GetUtcNow()), colour, sound = input.Sound });
            return Get(id);
        }
        catch (DbException e) when (SqlDialect.IsConstraintViolation(e))
        {
            throw new ConflictException($"A watchlist named '{input.Name}' already exists.");
        }
    }

    /// <summary>
    /// Sets how the watchlist's alerts show in the console (what the input leaves null stays), and stages its
    /// <see cref="AuditActions.WatchlistDisplay"/> record in the same transaction. Not a change to its entries:
    /// the digest and the approval stand.
    /// </summary>
    public async Task<Watchlist> SetDisplayAsync(long id, WatchlistDisplayInput input, string actor, AuditTrail audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(audit);
        var checkedColour = input.Colour is null ? null : WatchlistColours.Check(input.Colour);
        StagedRecord staged;
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginWrite(connection, "watchlists"))
        {
            var (colour, sound) = WriteDisplay(connection, transaction, id, checkedColour, input.Sound);
            staged = audit.Stage(connection, transaction, new AuditRecord(actor, AuditActions.WatchlistDisplay, "changed", Parameters: DisplayParameters(id, colour, sound)));
            transaction.Commit();
        }

        await audit.CommittedAsync(staged, cancellationToken);
        return Get(id);
    }

    /// <summary>
    /// The display row write, in the caller's transaction on either engine: sets what is given (a checked
    /// palette colour, the tone), keeps what is null, and returns the display as written; a missing list is a
    /// <see cref="NotFoundException"/> and writes nothing. Logs nothing: <see cref="SetDisplayAsync"/> does.
    /// </summary>
    internal static (string Colour, bool Sound) WriteDisplay(DbConnection connection, DbTransaction transaction, long id, string? colour, bool? sound)
    {
        var current = connection.QuerySingleOrDefault<DisplayRow>("SELECT colour, sound FROM watchlists WHERE id = @id", new { id }, transaction)
            ?? throw new NotFoundException($"No watchlist {id}.");
        var written = (Colour: colour ?? current.Colour, Sound: sound ?? current.Sound);
        connection.Execute("UPDATE watchlists SET colour = @colour, sound = @sound WHERE id = @id", new { id, colour = written.Colour, sound = written.Sound }, transaction);
        return written;
    }

    /// <summary>What the log records of a watchlist's display: its id, colour and tone.</summary>
    public static Dictionary<string, string> DisplayParameters(long id, string colour, bool sound) => new()
    {
        ["watchlist"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["colour"] = colour,
        ["sound"] = sound ? "on" : "off",
    };

    public Watchlist Get(long id) =>
        Query("WHERE w.id = @id", new { id }).SingleOrDefault() ?? throw new NotFoundException($"No watchlist {id}.");

    public Watchlist GetByName(string name) =>
        Query("WHERE w.name = @name", new { name }).SingleOrDefault() ?? throw new NotFoundException($"No watchlist named '{name}'.");

    public IReadOnlyList<Watchlist> List() => Query("", null);

    public IReadOnlyList<WatchlistEntry> Entries(long watchlistId)
    {
        Get(watchlistId);
        using var connection = database.Connect();
        return connection.Query<EntryRow>(
            $"SELECT {EntryColumns} FROM watchlist_entries WHERE watchlist_id = @watchlistId ORDER BY id", new { watchlistId })
            .Select(r => r.ToModel()).ToList();
    }

    /// <summary>
    /// Stores an enrolled template (L2-normalised) and returns the entry. The watchlist is then changed, so
    /// no longer approved, until a second account approves it (<see cref="Approve"/>).
    /// </summary>
    internal WatchlistEntry AddEntry(long watchlistId, EntryInput input, string model, float[] template, byte[] labelSalt, string actor, long? legalBasisId = null) =>
        AddEntry(watchlistId, input, model, template, labelSalt, actor, legalBasisId, cap: null, inTransaction: null)
        ?? throw new InvalidOperationException("An entry without a cap is always stored.");

    /// <summary>
    /// Stores an entry only while fewer than <paramref name="cap"/> entries are enrolled under
    /// <paramref name="legalBasisId"/>: the count and the insert are one statement in one write transaction, so
    /// concurrent enrolments cannot overshoot the cap. <paramref name="inTransaction"/> runs inside that
    /// transaction after the insert (the caller stages the enrolment's log record there) with the new entry's id,
    /// its template hash and the watchlist's new digest. Returns null, and stores nothing, when the cap is reached.
    /// </summary>
    internal WatchlistEntry? AddEntry(
        long watchlistId,
        EntryInput input,
        string model,
        float[] template,
        byte[] labelSalt,
        string actor,
        long? legalBasisId,
        int? cap,
        Action<DbConnection, DbTransaction, long, string, WatchlistDigest>? inTransaction)
    {
        Get(watchlistId);
        var bytes = ToBytes(template);
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var now = Timestamps.Format(time.GetUtcNow());
        // Without the key ring (a database opened without its KEK) the template cannot be sealed: refused before anything is written.
        _ = database.Keys;
        long id;
        using (var connection = database.Connect())
        {
            using var transaction = database.Dialect.BeginWrite(connection, WriteTables);
            var inserted = connection.ExecuteScalar<long?>(
                """
                INSERT INTO watchlist_entries (watchlist_id, label, category, image_source, legal_basis_id, enrolled_by, enrolled_at, expires_at, model, template, template_hash, label_salt)
                SELECT @watchlistId, @Label, @Category, @ImageSource, @legalBasisId, @actor, @now, @expires, @model, @bytes, @hash, @labelSalt
                WHERE @cap IS NULL OR (SELECT COUNT(*) FROM watchlist_entries WHERE legal_basis_id = @legalBasisId) < @cap
                RETURNING id
                """,
                new
                {
                    watchlistId,
                    input.Label,
                    input.Category,
                    input.ImageSource,
                    legalBasisId,
                    actor,
                    now,
                    expires = input.ExpiresAt is { } e ? Timestamps.Format(e) : null,
                    model,
                    bytes = Array.Empty<byte>(),
                    hash,
                    labelSalt,
                    cap,
                },
                transaction);
            if (inserted is not { } newId)
            {
                CryptographicOperations.ZeroMemory(bytes);
                return null;
            }

            id = newId;
            // The sealed plaintext starts with the entry's binding, so the template is sealed once the row has its id,
            // under a key of its own written in the same transaction.
            var bound = Bind(id, bytes);
            var (keyId, sealedTemplate) = EvidenceVault.For(database).Seal(bound, connection, transaction, time.GetUtcNow());
            CryptographicOperations.ZeroMemory(bound);
            CryptographicOperations.ZeroMemory(bytes);
            connection.Execute(
                "UPDATE watchlist_entries SET template = @sealedTemplate, template_key = @keyId WHERE id = @id",
                new { id, sealedTemplate, keyId },
                transaction);
            MarkChanged(connection, transaction, watchlistId, actor, now);
            inTransaction?.Invoke(connection, transaction, id, hash, Digests(connection, transaction).Single(d => d.WatchlistId == watchlistId));
            transaction.Commit();
        }

        Changed?.Invoke(watchlistId);
        return Entries(watchlistId).Single(e => e.Id == id);
    }

    /// <summary>
    /// Deletes one entry and its sealed template, its template's and photo's keys destroyed; <paramref name="inTransaction"/> runs in
    /// the same transaction after the delete (the caller stages the removal's record there, with the digest as the
    /// removal leaves it). Then <see cref="EvidenceVault.EraseDestroyed"/> (on SQLite the WAL checkpoint, so that no
    /// earlier copy of the template's page stays on disk).
    /// </summary>
    internal void RemoveEntry(long watchlistId, long entryId, string actor = "system", Action<DbConnection, DbTransaction>? inTransaction = null)
    {
        using (var connection = database.Connect())
        {
            using var transaction = database.Dialect.BeginWrite(connection, WriteTables);
            if (RemoveWhere(connection, transaction, "id = @entryId AND watchlist_id = @watchlistId", new { watchlistId, entryId }, actor).Count == 0)
            {
                throw new NotFoundException($"No entry {entryId} in watchlist {watchlistId}.");
            }

            inTransaction?.Invoke(connection, transaction);
            transaction.Commit();
        }

        EvidenceVault.For(database).EraseDestroyed();
        Changed?.Invoke(watchlistId);
    }

    /// <summary>How many entries were enrolled under a legal basis (its size cap counts these).</summary>
    public int CountUnderBasis(long legalBasisId)
    {
        using var connection = database.Connect();
        return connection.ExecuteScalar<int>("SELECT COUNT(*) FROM watchlist_entries WHERE legal_basis_id = @legalBasisId", new { legalBasisId });
    }

    /// <summary>
    /// Deletes, in the caller's transaction (either engine), every entry enrolled under a legal basis (urgency
    /// refused, late or revoked), their templates' and photos' keys destroyed with them; returns (watchlist, entry) ids, those the
    /// delete itself removed. After the commit the caller calls <see cref="EvidenceVault.EraseDestroyed"/> and
    /// <see cref="NotifyChanged"/>. On PostgreSQL the caller's transaction locks <see cref="WriteTables"/> (in that
    /// order) where it must count or digest the lists as the removal leaves them.
    /// </summary>
    internal IReadOnlyList<(long WatchlistId, long EntryId)> RemoveUnderBasis(DbConnection connection, DbTransaction transaction, long legalBasisId, string actor) =>
        RemoveWhere(connection, transaction, "legal_basis_id = @legalBasisId", new { legalBasisId }, actor);

    /// <summary>
    /// Deletes every entry whose expiry is at or before <paramref name="now"/>, <paramref name="inTransaction"/>
    /// staging the record in the same transaction, then <see cref="EvidenceVault.EraseDestroyed"/>; returns
    /// (watchlist, entry) ids.
    /// </summary>
    internal IReadOnlyList<(long WatchlistId, long EntryId)> RemoveExpired(
        DateTimeOffset now, string actor, Action<DbConnection, DbTransaction, IReadOnlyList<(long WatchlistId, long EntryId)>>? inTransaction = null)
    {
        IReadOnlyList<(long WatchlistId, long EntryId)> removed;
        using (var connection = database.Connect())
        {
            using var transaction = database.Dialect.BeginWrite(connection, WriteTables);
            removed = RemoveWhere(connection, transaction, "expires_at IS NOT NULL AND expires_at <= @now", new { now = Timestamps.Format(now) }, actor);
            if (removed.Count == 0)
            {
                return removed;
            }

            inTransaction?.Invoke(connection, transaction, removed);
            transaction.Commit();
        }

        EvidenceVault.For(database).EraseDestroyed();
        NotifyChanged(removed.Select(r => r.WatchlistId));
        return removed;
    }

    /// <summary>Tells the in-memory index that these watchlists changed (after a removal committed).</summary>
    internal void NotifyChanged(IEnumerable<long> watchlistIds)
    {
        foreach (var watchlistId in watchlistIds.Distinct())
        {
            Changed?.Invoke(watchlistId);
        }
    }

    /// <summary>
    /// Approves the watchlist as it is now: records its digest and stamps every entry not yet approved.
    /// Returns the reason it may not, if any: the approver must be neither the account that last changed
    /// the list nor one that enrolled an entry awaiting approval (two people see every change). The checks,
    /// the digest and the stamps are read and written in one write transaction, so an enrolment that lands
    /// meanwhile is either approved with the digest that covers it or left for the next approval; a list
    /// already approved as it stands is a conflict (two concurrent approvals: one takes effect).
    /// <paramref name="inTransaction"/> runs inside that transaction (the caller stages the approval's record there).
    /// </summary>
    internal (Watchlist? Approved, IReadOnlyList<long> Entries, string? Refusal) Approve(
        long watchlistId, string actor, Action<DbConnection, DbTransaction, WatchlistApproval>? inTransaction = null)
    {
        Get(watchlistId);
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginWrite(connection, WriteTables))
        {
            var (changedBy, approvedDigest) = connection.QuerySingle<(string? ChangedBy, string? ApprovedDigest)>(
                "SELECT changed_by, approved_digest FROM watchlists WHERE id = @watchlistId", new { watchlistId }, transaction);
            var pending = connection.Query<(long Id, string EnrolledBy)>(
                "SELECT id, enrolled_by FROM watchlist_entries WHERE watchlist_id = @watchlistId AND approved_by IS NULL ORDER BY id", new { watchlistId }, transaction).ToList();
            if (changedBy == actor)
            {
                return (null, [], $"{actor} made the last change to watchlist {watchlistId}; another account must approve it");
            }

            if (pending.FirstOrDefault(p => p.EnrolledBy == actor) is { Id: > 0 } own)
            {
                return (null, [], $"{actor} enrolled entry {own.Id}; another account must approve it");
            }

            var digest = Digests(connection, transaction).Single(d => d.WatchlistId == watchlistId);
            if (approvedDigest == digest.Hex && pending.Count == 0)
            {
                throw new ConflictException($"Watchlist {watchlistId} is already approved as it stands; nothing was changed.");
            }

            var ids = pending.Select(p => p.Id).ToArray();
            var now = Timestamps.Format(time.GetUtcNow());
            connection.Execute(
                $"UPDATE watchlist_entries SET approved_by = @actor, approved_at = @now WHERE {database.Dialect.AnyOf("id", "ids")} AND approved_by IS NULL",
                new { ids, actor, now }, transaction);
            connection.Execute(
                "UPDATE watchlists SET approved_digest = @digest, approved_by = @actor, approved_at = @now WHERE id = @watchlistId",
                new { watchlistId, actor, now, digest = digest.Hex }, transaction);
            inTransaction?.Invoke(connection, transaction, new WatchlistApproval(watchlistId, digest.Hex, digest.Count, ids));
            transaction.Commit();
            return (Get(watchlistId), ids, null);
        }
    }

    /// <summary>The digest of one watchlist as this transaction sees it (for a check made inside a write).</summary>
    internal static WatchlistDigest Digest(DbConnection connection, DbTransaction transaction, long watchlistId) =>
        Digests(connection, transaction).Single(d => d.WatchlistId == watchlistId);

    // One DELETE ... RETURNING: the entries removed are exactly those the statement deleted (on PostgreSQL a row
    // another transaction deleted first is not counted twice), and the keys of their templates and enrolment photos
    // go in the same transaction (crypto-shredding), the sealed bytes with the rows.
    private List<(long WatchlistId, long EntryId)> RemoveWhere(DbConnection connection, DbTransaction transaction, string where, object parameters, string actor)
    {
        var deleted = connection.Query<(long WatchlistId, long EntryId, string? PhotoKey, string? TemplateKey)>(
            $"DELETE FROM watchlist_entries WHERE {where} RETURNING watchlist_id, id, photo_key, template_key", parameters, transaction)
            .OrderBy(r => r.EntryId).ToList();
        EvidenceVault.Destroy(deleted.SelectMany(r => new[] { r.TemplateKey, r.PhotoKey }).OfType<string>().ToList(), connection, transaction);
        var now = Timestamps.Format(time.GetUtcNow());
        foreach (var watchlistId in deleted.Select(r => r.WatchlistId).Distinct())
        {
            MarkChanged(connection, transaction, watchlistId, actor, now);
        }

        return deleted.Select(r => (r.WatchlistId, r.EntryId)).ToList();
    }

    /// <summary>
    /// Seals the face crop of the photo entry <paramref name="entryId"/> was enrolled from (JPEG) under its own
    /// evidence key and stores it with the entry, in the caller's transaction (the enrolment's).
    /// </summary>
    internal void StorePhoto(DbConnection connection, DbTransaction transaction, long entryId, byte[] jpeg)
    {
        var (keyId, sealedPhoto) = EvidenceVault.For(database).Seal(jpeg, connection, transaction, time.GetUtcNow());
        connection.Execute("UPDATE watchlist_entries SET photo = @sealedPhoto, photo_key = @keyId WHERE id = @entryId", new { entryId, sealedPhoto, keyId }, transaction);
    }

    /// <summary>Whether entry <paramref name="entryId"/> still exists and holds an enrolment photo whose key has not been destroyed.</summary>
    public bool HasPhoto(long entryId)
    {
        using var connection = database.Connect();
        return connection.ExecuteScalar<long>(
            "SELECT COUNT(*) FROM watchlist_entries e JOIN evidence_keys k ON k.key_id = e.photo_key WHERE e.id = @entryId", new { entryId }) > 0;
    }

    /// <summary>
    /// The enrolment photo of entry <paramref name="entryId"/>, decrypted (JPEG); null when the entry is gone or
    /// holds none. <paramref name="stageView"/> stages the view's audit record in the transaction that reads the
    /// sealed photo and finds its key, so no photo is read unlogged; the caller awaits the staged record.
    /// </summary>
    public (byte[] Jpeg, StagedRecord Logged)? ViewPhoto(long entryId, Func<DbConnection, DbTransaction, StagedRecord> stageView)
    {
        ArgumentNullException.ThrowIfNull(stageView);
        string keyId;
        byte[] sealedPhoto;
        StagedRecord staged;
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginWrite(connection))
        {
            var row = connection.QuerySingleOrDefault<(byte[] Photo, string PhotoKey)?>(
                "SELECT e.photo, e.photo_key FROM watchlist_entries e JOIN evidence_keys k ON k.key_id = e.photo_key WHERE e.id = @entryId",
                new { entryId }, transaction);
            if (row is not { } found)
            {
                return null;
            }

            (sealedPhoto, keyId) = found;
            staged = stageView(connection, transaction);
            transaction.Commit();
        }

        return (EvidenceVault.For(database).Open(keyId, sealedPhoto), staged);
    }

    private static void MarkChanged(DbConnection connection, DbTransaction transaction, long watchlistId, string actor, string now) =>
        connection.Execute("UPDATE watchlists SET changed_by = @actor, changed_at = @now WHERE id = @watchlistId", new { watchlistId, actor, now }, transaction);

    /// <summary>
    /// The templates of a watchlist, for the in-memory index: one query, then each template opened over the same
    /// connection (<see cref="EvidenceVault.OpenWithin"/>, which reads the entry's wrapped key with one SELECT by key id:
    /// the vault's only way to open an item). Never exposed through the API.
    /// </summary>
    internal IReadOnlyList<(WatchlistEntry Entry, float[] Template)> Templates(long watchlistId)
    {
        using var connection = database.Connect();
        var rows = connection.Query<EntryRow>(
            $"{WithTemplateKeys} WHERE e.watchlist_id = @watchlistId ORDER BY e.id", new { watchlistId }).ToList();
        return Open(rows, connection, null, "watchlist matching: loading the index");
    }

    /// <summary>
    /// The templates of <paramref name="watchlistIds"/> read inside the caller's read transaction (a gallery released to
    /// a worker: one snapshot with the digests its version is computed from). A key's unwrap (the evidence master key,
    /// the template key), if this is its first use, is logged on a connection of its own before the templates are
    /// opened, so nothing is written in the caller's transaction, which must not be one that writes. Never exposed
    /// through the API.
    /// </summary>
    internal IReadOnlyList<(WatchlistEntry Entry, float[] Template)> Templates(DbConnection connection, DbTransaction transaction, IReadOnlyList<long> watchlistIds, string reason)
    {
        var rows = connection.Query<EntryRow>(
            $"{WithTemplateKeys} WHERE {database.Dialect.AnyOf("e.watchlist_id", "watchlistIds")} ORDER BY e.watchlist_id, e.id",
            new { watchlistIds = watchlistIds.ToArray() },
            transaction).ToList();
        if (rows.Any(r => r.TemplateKey is not null))
        {
            database.Keys.Secret(KeyRing.EvidenceMaster, reason, create: false);
        }

        return Open(rows, connection, transaction, reason);
    }

    // Each row's template in clear: under its own evidence key where it has one, else under the template key (unwrapped
    // only if some row needs it), else as an older folder stored it. An entry whose key is gone was removed after the
    // rows were read (outside a snapshot): it is left out, and the removal's change event reloads the list.
    private List<(WatchlistEntry Entry, float[] Template)> Open(List<EntryRow> rows, DbConnection connection, DbTransaction? transaction, string reason)
    {
        var vault = EvidenceVault.For(database);
        byte[]? templateKey = null;
        var opened = new List<(WatchlistEntry Entry, float[] Template)>(rows.Count);
        foreach (var row in rows)
        {
            byte[] bytes;
            if (IsPlaintext(row.Template, row.TemplateHash))
            {
                bytes = row.Template; // an older data folder, until SealPlaintextTemplates has run
            }
            else if (row.TemplateKey is { } keyId)
            {
                try
                {
                    bytes = OpenOwn(vault, keyId, row, connection, transaction);
                }
                catch (EvidenceDestroyedException)
                {
                    continue;
                }
            }
            else
            {
                bytes = Unseal(templateKey ??= database.Keys.Secret(KeyRing.Template, reason, create: false), row);
            }

            opened.Add((row.ToModel(), FromBytes(bytes)));
        }

        return opened;
    }

    // The entries with their templates' key rows, read in the same statement: opening them reads no row per entry.
    private const string WithTemplateKeys =
        "SELECT e.*, k.wrapped AS key_wrapped, k.epoch AS key_epoch FROM watchlist_entries e LEFT JOIN evidence_keys k ON k.key_id = e.template_key";

    private static byte[] OpenOwn(EvidenceVault vault, string keyId, EntryRow row, DbConnection connection, DbTransaction? transaction)
    {
        byte[] bound;
        try
        {
            bound = vault.OpenRead(keyId, row.Template, row.KeyWrapped is null ? null : new StoredKey(row.KeyWrapped, row.KeyEpoch), connection, transaction);
        }
        catch (CryptographicException)
        {
            throw new InvalidOperationException($"The template of watchlist entry {row.Id} does not open: it was altered or moved from another entry.");
        }

        var binding = EntryData(row.Id);
        try
        {
            if (bound.Length < binding.Length || !bound.AsSpan(0, binding.Length).SequenceEqual(binding))
            {
                throw new InvalidOperationException($"The template of watchlist entry {row.Id} does not open: it was moved from another entry.");
            }

            return bound[binding.Length..];
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bound);
        }
    }

    // What an entry's own key seals: its binding (as the template key's associated data), then the template's bytes.
    private static byte[] Bind(long entryId, byte[] template)
    {
        var binding = EntryData(entryId);
        var bound = new byte[binding.Length + template.Length];
        binding.CopyTo(bound, 0);
        template.CopyTo(bound, binding.Length);
        return bound;
    }

    /// <summary>
    /// Seals the templates an older data folder stored as plain floats (recognised by their hash matching
    /// the stored template hash), with a <c>key.migrate</c> record in the same transaction; returns how many. They are
    /// sealed as that folder's other templates are, under the template key (<c>template_key</c> null), not under keys
    /// of their own.
    /// Found and sealed in one <see cref="SqlDialect.BeginWrite"/> of <see cref="WriteTables"/>, so of two servers
    /// starting at once on PostgreSQL the second finds them sealed. Run at start, so no plain template stays on
    /// disk: then, on SQLite, the WAL is checkpointed and the file vacuumed; on PostgreSQL <c>watchlist_entries</c>
    /// is vacuumed, which frees the old row versions for reuse but overwrites nothing (docs/scale-out.md).
    /// </summary>
    public async Task<int> SealPlaintextTemplatesAsync(AuditTrail audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(audit);
        using var connection = database.Connect();
        if (!FindPlaintext(connection, null).Any())
        {
            return 0;
        }

        // Before the transaction: unwrapping (or creating) the key is recorded in the log first.
        var key = database.Keys.Secret(KeyRing.Template, "start-up: sealing templates stored in clear by an older version", create: true);
        StagedRecord staged;
        int count;
        using (var transaction = database.Dialect.BeginWrite(connection, WriteTables))
        {
            var plain = FindPlaintext(connection, transaction).ToList();
            if (plain.Count == 0)
            {
                return 0;
            }

            foreach (var (id, template, _, _) in plain)
            {
                connection.Execute(
                    "UPDATE watchlist_entries SET template = @sealed, template_key = NULL WHERE id = @id",
                    new { id, @sealed = Sealing.Seal(key, template, EntryData(id)) },
                    transaction);
            }

            // A key an entry held for a template that is now in clear seals nothing any more.
            EvidenceVault.Destroy(plain.Select(p => p.TemplateKey).OfType<string>().ToList(), connection, transaction);

            staged = audit.Stage(connection, transaction, new AuditRecord(
                "system:keys",
                AuditActions.KeyMigrate,
                "ok",
                Parameters: new Dictionary<string, string> { ["key"] = KeyRing.Template, ["reason"] = "templates stored in clear by an older version sealed" },
                ResultCount: plain.Count));
            transaction.Commit();
            count = plain.Count;
        }

        await audit.CommittedAsync(staged, cancellationToken);
        // The plain bytes may linger in free pages and the WAL until they are overwritten: vacuum them away.
        connection.Execute(database.Dialect.IsPostgres ? "VACUUM watchlist_entries" : "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
        return count;
    }

    private static IEnumerable<(long Id, byte[] Template, string TemplateHash, string? TemplateKey)> FindPlaintext(DbConnection connection, DbTransaction? transaction) =>
        connection.Query<(long Id, byte[] Template, string TemplateHash, string? TemplateKey)>(
            "SELECT id, template, template_hash, template_key FROM watchlist_entries ORDER BY id", transaction: transaction)
            .Where(r => IsPlaintext(r.Template, r.TemplateHash));

    private static byte[] Unseal(byte[] key, EntryRow row)
    {
        try
        {
            return Sealing.Open(key, row.Template, EntryData(row.Id));
        }
        catch (CryptographicException)
        {
            throw new InvalidOperationException($"The template of watchlist entry {row.Id} does not open: it was altered or moved from another entry.");
        }
    }

    private static bool IsPlaintext(byte[] template, string templateHash) =>
        !Sealing.LooksSealed(template) && template.Length % sizeof(float) == 0 && Convert.ToHexStringLower(SHA256.HashData(template)) == templateHash;

    private static byte[] EntryData(long entryId) => System.Text.Encoding.ASCII.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"watchlist-entry/{entryId}"));

    /// <summary>
    /// The count and a hash over (entry id, template hash) of every entry, in id order: what a checkpoint
    /// commits to, so an enrolment that bypassed the log changes a published hash.
    /// </summary>
    public IReadOnlyList<WatchlistDigest> Digests()
    {
        using var connection = database.Connect();
        return Digests(connection, null);
    }

    private static List<WatchlistDigest> Digests(DbConnection connection, DbTransaction? transaction)
    {
        var rows = connection.Query<(long WatchlistId, string Name, long? EntryId, string? TemplateHash)>(
            """
            SELECT w.id, w.name, e.id, e.template_hash FROM watchlists w
            LEFT JOIN watchlist_entries e ON e.watchlist_id = w.id ORDER BY w.id, e.id
            """,
            transaction: transaction).ToList();
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
        var digests = Digests().ToDictionary(d => d.WatchlistId, d => d.Hex);
        using var connection = database.Connect();
        return connection.Query<WatchlistRow>(
            $"""
            SELECT w.*, (SELECT COUNT(*) FROM watchlist_entries e WHERE e.watchlist_id = w.id) AS entries
            FROM watchlists w {where} ORDER BY w.id
            """,
            parameters).Select(r => r.ToModel(digests.GetValueOrDefault(r.Id, ""))).ToList();
    }

    // The entry columns but the template: metadata reads never carry the sealed template out of the database.
    private const string EntryColumns = "id, watchlist_id, label, category, image_source, legal_basis_id, enrolled_by, enrolled_at, expires_at, approved_by, approved_at, model, template_hash";

    private sealed class DisplayRow
    {
        public string Colour { get; set; } = WatchlistColours.Default;
        public bool Sound { get; set; }
    }

    private sealed class WatchlistRow
    {
        public long Id { get; set; }
        public string Name { get; set; } = "";
        public string Description { get; set; } = "";
        public string CreatedBy { get; set; } = "";
        public string CreatedAt { get; set; } = "";
        public long Entries { get; set; }
        public string? ApprovedDigest { get; set; }
        public string? ApprovedBy { get; set; }
        public string? ApprovedAt { get; set; }
        public string? ChangedBy { get; set; }
        public string? ChangedAt { get; set; }
        public string Colour { get; set; } = WatchlistColours.Default;
        public bool Sound { get; set; }

        public Watchlist ToModel(string digest) => new(
            Id, Name, Description, CreatedBy, Timestamps.Parse(CreatedAt), (int)Entries, digest, ApprovedDigest, ApprovedBy,
            ApprovedAt is null ? null : Timestamps.Parse(ApprovedAt), ChangedBy, ChangedAt is null ? null : Timestamps.Parse(ChangedAt))
        {
            Colour = Colour,
            Sound = Sound,
        };
    }

    private sealed class EntryRow
    {
        public long Id { get; set; }
        public long WatchlistId { get; set; }
        public string Label { get; set; } = "";
        public string Category { get; set; } = "";
        public string ImageSource { get; set; } = "";
        public long? LegalBasisId { get; set; }
        public string EnrolledBy { get; set; } = "";
        public string EnrolledAt { get; set; } = "";
        public string? ExpiresAt { get; set; }
        public string? ApprovedBy { get; set; }
        public string? ApprovedAt { get; set; }
        public string Model { get; set; } = "";
        public byte[] Template { get; set; } = [];
        public string TemplateHash { get; set; } = "";

        public string? TemplateKey { get; set; }

        // The template key's row (evidence_keys), where the query joined it.
        public byte[]? KeyWrapped { get; set; }

        public string? KeyEpoch { get; set; }

        public WatchlistEntry ToModel() => new(
            Id, WatchlistId, Label, Category, ImageSource, LegalBasisId, EnrolledBy, Timestamps.Parse(EnrolledAt),
            ExpiresAt is null ? null : Timestamps.Parse(ExpiresAt), ApprovedBy, ApprovedAt is null ? null : Timestamps.Parse(ApprovedAt), Model, TemplateHash);
    }
}

/// <summary>What a watchlist approval approved: the digest, the count and the entries it stamped.</summary>
internal sealed record WatchlistApproval(long WatchlistId, string Digest, long Count, IReadOnlyList<long> Entries);

/// <summary>What is recorded about a person when they are enrolled.</summary>
public sealed record EntryInput(string Label, string Category, string ImageSource, DateTimeOffset? ExpiresAt = null);
