using CityWatch.AuditLog;
using CityWatch.Data;
using CityWatch.Keys;
using Dapper;

namespace CityWatch.Audit;

/// <summary>The outcome of verifying a log: the size checked and, on failure, the first bad leaf index.</summary>
public sealed record AuditVerification(bool Ok, long Size, long? FirstBadIndex, string Message);

/// <summary>
/// Verifies a log stored in a database file, offline: every stored leaf is re-hashed and checked against
/// the stored leaf node, the tree is rebuilt, and every signed checkpoint kept in the file must match the
/// rebuilt root at its size. The first disagreement names the first bad index.
/// </summary>
public static class AuditVerifier
{
    public static AuditVerification VerifyDatabase(string databasePath, string? verifierKey = null, long from = 0, long? to = null, IProgress<long>? progress = null)
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
        var checkpoints = new List<(long Size, byte[] Root)>();
        foreach (var (size, note) in connection.Query<(long, string)>("SELECT size, note FROM audit_checkpoints ORDER BY size"))
        {
            try
            {
                var (checkpoint, _) = Checkpoint.Open(note, logKey);
                if (checkpoint.Size != size)
                {
                    return new AuditVerification(false, 0, size, $"The checkpoint stored for size {size} says size {checkpoint.Size}.");
                }

                checkpoints.Add((size, checkpoint.RootHash));
            }
            catch (AuditLogException e)
            {
                return new AuditVerification(false, 0, size, $"The checkpoint for size {size} does not verify: {e.Message}");
            }
        }

        if (checkpoints.Count == 0)
        {
            return new AuditVerification(false, 0, 0, "The database holds no signed checkpoint.");
        }

        var signedSize = checkpoints[^1].Size;
        var end = Math.Min(to ?? signedSize, signedSize);
        var tree = new CompactRange();
        var nextCheckpoint = 0;
        var lastGood = 0L;
        using var nodes = new SqliteNodeSource(connection);
        using var leaves = connection.CreateCommand();
        leaves.CommandText = "SELECT idx, entry FROM audit_leaves WHERE idx < $end ORDER BY idx";
        leaves.Parameters.AddWithValue("$end", signedSize);
        using var reader = leaves.ExecuteReader();
        long expected = 0;
        while (nextCheckpoint < checkpoints.Count && checkpoints[nextCheckpoint].Size == 0)
        {
            if (!checkpoints[nextCheckpoint].Root.AsSpan().SequenceEqual(Rfc6962.EmptyRoot()))
            {
                return Bad(0, "The signed checkpoint of the empty log has a wrong root.");
            }

            nextCheckpoint++;
        }

        while (expected < signedSize)
        {
            if (!reader.Read())
            {
                return Bad(expected, $"Leaf {expected} is missing: the signed log has {signedSize} leaves.");
            }

            var index = reader.GetInt64(0);
            if (index != expected)
            {
                return Bad(expected, $"Leaf {expected} is missing.");
            }

            var leafHash = Rfc6962.HashLeaf((byte[])reader.GetValue(1));
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
                    return Bad(index, $"Leaf {index} does not match its logged hash.");
                }
            }

            tree.Append(leafHash);
            expected++;
            while (nextCheckpoint < checkpoints.Count && checkpoints[nextCheckpoint].Size == tree.Size)
            {
                if (!tree.Root().AsSpan().SequenceEqual(checkpoints[nextCheckpoint].Root))
                {
                    return Bad(Math.Max(lastGood, from), $"The tree at size {tree.Size} does not match its signed checkpoint: a leaf in [{lastGood}, {tree.Size}) was changed.");
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
        return new AuditVerification(true, signedSize, null, $"Verified {signedSize} leaves against {checkpoints.Count} signed checkpoints.");

        static AuditVerification Bad(long index, string message) => new(false, index, index, $"First bad index {index}: {message}");
    }
}
