using CityWatch.AuditLog;
using CityWatch.Data;
using CityWatch.Keys;
using Dapper;
using System.Data.Common;

namespace CityWatch.Audit;

/// <summary>The outcome of verifying a log: the size checked and, on failure, the first bad leaf index.</summary>
public sealed record AuditVerification(bool Ok, long Size, long? FirstBadIndex, string Message);

/// <summary>
/// Verifies a log stored in a database file, offline: every stored leaf is re-hashed and checked against
/// the stored leaf node, the tree is rebuilt, and every signed checkpoint kept in the file must match the
/// rebuilt root at its size. Given witnessed checkpoints (anchors), the log must also be at least as long as
/// each, have the witnessed root at that size, and its stored nodes must prove consistency from there.
/// The first disagreement names the first bad index.
/// </summary>
public static class AuditVerifier
{
    /// <summary>
    /// Verifies a database file. With <paramref name="witnessState"/> (a witness's folder) the log must extend
    /// the checkpoint that witness last cosigned; with <paramref name="witnessKey"/> it must extend the latest
    /// checkpoint cosigned by that key that the database keeps, and must keep one.
    /// </summary>
    public static AuditVerification VerifyDatabase(string databasePath, string? verifierKey = null, long from = 0, long? to = null, IProgress<long>? progress = null, string? witnessState = null, string? witnessKey = null)
    {
        if (!File.Exists(databasePath))
        {
            throw new NotFoundException($"No database at {databasePath}.");
        }

        var database = new CityWatchDatabase(databasePath);
        using var connection = database.Open();
        // The verifier key is stored in clear next to the wrapped signing key: verifying needs no KEK.
        verifierKey ??= KeyRing.StoredPublicKey(connection, KeyRing.AuditSigning) ?? AuditKeyFile.VerifierKeyOf(AuditTrail.KeyPathFor(database));
        var logKey = NoteVerifier.Parse(verifierKey);
        var anchors = new List<WitnessedCheckpoint>();
        if (witnessState is not null)
        {
            anchors.Add(WitnessState.RequiredAnchorIn(witnessState, logKey));
        }

        if (witnessKey is not null)
        {
            var witness = CosignatureVerifier.Parse(witnessKey);
            var stored = StoredAnchors(connection, logKey, [witness], onlyThese: true);
            if (stored.Count == 0)
            {
                return new AuditVerification(false, 0, 0, $"The database keeps no checkpoint cosigned by the witness {witness.Name}.");
            }

            anchors.AddRange(stored);
        }

        return Verify(connection, logKey, anchors, from, to, progress);
    }

    /// <summary>
    /// The checkpoints cosigned by <paramref name="witness"/> that the database keeps (<c>audit_witnessed</c>),
    /// each checked under the log key and the witness key; a stored one that does not verify throws.
    /// </summary>
    public static IReadOnlyList<WitnessedCheckpoint> StoredAnchors(DbConnection connection, NoteVerifier logKey, IReadOnlyList<CosignatureVerifier> witnesses, bool onlyThese = false)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(witnesses);
        var anchors = new List<WitnessedCheckpoint>();
        if (!SqlDialect.Of(connection).TableExists(connection, "audit_witnessed"))
        {
            return anchors;
        }

        foreach (var (witness, size, note) in connection.Query<(string, long, string)>("SELECT witness, size, note FROM audit_witnessed ORDER BY witness"))
        {
            var source = $"the checkpoint witness {witness} cosigned";
            var known = witnesses.FirstOrDefault(w => w.Name == witness);
            if (known is null && onlyThese)
            {
                continue;
            }

            try
            {
                var (checkpoint, signed) = Checkpoint.Open(note, logKey);
                known?.Verify(signed);
                if (checkpoint.Size != size)
                {
                    throw new InvalidRequestException($"{source} is stored as size {size} but says size {checkpoint.Size}.");
                }

                anchors.Add(new WitnessedCheckpoint(source, checkpoint.Size, checkpoint.RootHash));
            }
            catch (AuditLogException e)
            {
                throw new InvalidRequestException($"{source} (size {size}) does not verify: {e.Message}");
            }
        }

        return anchors;
    }

    /// <summary>Verifies the log over an open connection, on either engine; see the class summary.</summary>
    public static AuditVerification Verify(DbConnection connection, NoteVerifier logKey, IReadOnlyList<WitnessedCheckpoint> anchors, long from = 0, long? to = null, IProgress<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(logKey);
        ArgumentNullException.ThrowIfNull(anchors);
        var checkpoints = new List<(long Size, byte[] Root, string What)>();
        foreach (var (size, note) in connection.Query<(long, string)>("SELECT size, note FROM audit_checkpoints ORDER BY size"))
        {
            try
            {
                var (checkpoint, _) = Checkpoint.Open(note, logKey);
                if (checkpoint.Size != size)
                {
                    return new AuditVerification(false, 0, size, $"The checkpoint stored for size {size} says size {checkpoint.Size}.");
                }

                checkpoints.Add((size, checkpoint.RootHash, "its signed checkpoint"));
            }
            catch (AuditLogException e)
            {
                return new AuditVerification(false, 0, size, $"The checkpoint for size {size} does not verify: {e.Message}");
            }
        }

        var leafCount = connection.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_leaves");
        var signedSize = checkpoints.Count == 0 ? 0 : checkpoints[^1].Size;
        foreach (var anchor in anchors.OrderByDescending(a => a.Size))
        {
            if (anchor.Size > signedSize || anchor.Size > leafCount)
            {
                return new AuditVerification(false, Math.Min(signedSize, leafCount), Math.Min(signedSize, leafCount),
                    $"The log is shorter than {anchor.Source}: it has {Math.Min(signedSize, leafCount)} signed leaves, the witness saw {anchor.Size}. It was cut back.");
            }
        }

        if (checkpoints.Count == 0)
        {
            return new AuditVerification(false, 0, 0, "The database holds no signed checkpoint.");
        }

        // Witnessed checkpoints are checked like the log's own, at their sizes, in one pass.
        checkpoints.AddRange(anchors.Select(a => (a.Size, a.Root, a.Source)));
        checkpoints.Sort((a, b) => a.Size.CompareTo(b.Size));
        var end = Math.Min(to ?? signedSize, signedSize);
        var tree = new CompactRange();
        var nextCheckpoint = 0;
        var lastGood = 0L;
        using var nodes = DbNodeSource.OfAnyVersion(connection);
        // Every tile above level 0 is checked too, as the leaves complete its nodes: proofs are served from them.
        string? tileFault = null;
        var tileFaultLeaf = 0L;
        var checkTiles = false;
        void CheckTile(int level, long index, byte[] hash)
        {
            if (!checkTiles || tileFault is not null || level == 0 || level % TileId.Height != 0)
            {
                return;
            }

            tileFaultLeaf = index << level; // the first leaf below the node
            try
            {
                if (!nodes.GetNode(level, index).AsSpan().SequenceEqual(hash))
                {
                    tileFault = $"The stored hash of tree node {index} at level {level} does not match the leaves below it: a hash tile was altered.";
                }
            }
            catch (MissingNodeException)
            {
                tileFault = $"The stored tree has no hash for node {index} at level {level}.";
            }
        }

        // Read a page of leaves at a time: PostgreSQL runs one command per connection at once, and the stored
        // leaf hashes are read over the same connection as the leaves are checked.
        using (var reader = Leaves(connection, signedSize).GetEnumerator())
        {
            long expected = 0;
            while (nextCheckpoint < checkpoints.Count && checkpoints[nextCheckpoint].Size == 0)
            {
                if (!checkpoints[nextCheckpoint].Root.AsSpan().SequenceEqual(Rfc6962.EmptyRoot()))
                {
                    return Bad(0, $"The empty log does not match {checkpoints[nextCheckpoint].What}.");
                }

                nextCheckpoint++;
            }

            while (expected < signedSize)
            {
                if (!reader.MoveNext())
                {
                    return Bad(expected, $"Leaf {expected} is missing: the signed log has {signedSize} leaves.");
                }

                var (index, entry) = reader.Current;
                if (index != expected)
                {
                    return Bad(expected, $"Leaf {expected} is missing.");
                }

                var leafHash = Rfc6962.HashLeaf(entry);
                if (index >= from && index < end)
                {
                    byte[] stored;
                    try
                    {
                        stored = nodes.GetNode(0, index);
                    }
                    catch (MissingNodeException)
                    {
                        return Bad(index, $"The hash of leaf {index} is missing.");
                    }

                    if (!stored.AsSpan().SequenceEqual(leafHash))
                    {
                        return Bad(index, $"Leaf {index} does not match its logged hash: it was altered.");
                    }
                }

                checkTiles = index >= from && index < end;
                tree.Append(leafHash, CheckTile);
                if (tileFault is not null)
                {
                    return Bad(tileFaultLeaf, tileFault);
                }

                expected++;
                while (nextCheckpoint < checkpoints.Count && checkpoints[nextCheckpoint].Size == tree.Size)
                {
                    if (!tree.Root().AsSpan().SequenceEqual(checkpoints[nextCheckpoint].Root))
                    {
                        return Bad(Math.Max(lastGood, from), $"The tree at size {tree.Size} does not match {checkpoints[nextCheckpoint].What}: the log was forked or a leaf in [{lastGood}, {tree.Size}) was altered.");
                    }

                    lastGood = tree.Size;
                    nextCheckpoint++;
                }

                if ((expected & 0xFFF) == 0)
                {
                    progress?.Report(expected);
                }
            }

            progress?.Report(expected);
        }

        // The stored nodes are what proofs are served from: they must prove the log extends each witnessed tree.
        var root = tree.Root();
        foreach (var anchor in anchors)
        {
            try
            {
                ProofVerifier.VerifyConsistency(anchor.Size, signedSize, anchor.Root, root, ProofBuilder.Consistency(nodes, anchor.Size, signedSize));
            }
            catch (AuditLogException e)
            {
                return Bad(anchor.Size, $"The stored tree does not prove consistency with {anchor.Source}: {e.Message}");
            }
        }

        var witnessed = anchors.Count == 0 ? "" : $" and {anchors.Count} witnessed checkpoint{(anchors.Count == 1 ? "" : "s")} (largest size {anchors.Max(a => a.Size)})";
        return new AuditVerification(true, signedSize, null, $"Verified {signedSize} leaves against {checkpoints.Count - anchors.Count} signed checkpoints{witnessed}.");

        static AuditVerification Bad(long index, string message) => new(false, index, index, $"First bad index {index}: {message}");
    }

    // The leaves below end, oldest first, read a page at a time (each page whole before it is checked).
    private static IEnumerable<(long Index, byte[] Entry)> Leaves(DbConnection connection, long end, int page = 4096)
    {
        var next = 0L;
        while (next < end)
        {
            var rows = connection.Query<(long Index, byte[] Entry)>(
                "SELECT idx, entry FROM audit_leaves WHERE idx >= @next AND idx < @end ORDER BY idx LIMIT @page",
                new { next, end, page }).AsList();
            foreach (var row in rows)
            {
                yield return row;
            }

            if (rows.Count < page)
            {
                yield break;
            }

            next = rows[^1].Index + 1;
        }
    }
}
