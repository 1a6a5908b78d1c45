namespace CityWatch.AuditLog;

/// <summary>The base of every error this library reports about a log, a proof or a note.</summary>
public abstract class AuditLogException(string message) : Exception(message);

/// <summary>A proof is structurally wrong for the sizes and index given (too short, too long, bad sizes).</summary>
public sealed class InvalidProofException(string message) : AuditLogException(message);

/// <summary>A proof was well formed, but the root it leads to is not the one expected.</summary>
public sealed class RootMismatchException(byte[] expected, byte[] computed, string what = "root")
    : AuditLogException($"The {what} does not match: expected {Convert.ToBase64String(expected)}, computed {Convert.ToBase64String(computed)}.")
{
    public byte[] Expected { get; } = expected;

    public byte[] Computed { get; } = computed;
}

/// <summary>A signed note, checkpoint or key string does not follow its format.</summary>
public sealed class MalformedNoteException(string message) : AuditLogException(message);

/// <summary>A note is well formed but not validly signed by a trusted key.</summary>
public sealed class NoteVerificationException(string message) : AuditLogException(message);

/// <summary>A tile path, tile or entry bundle does not follow the tlog-tiles format.</summary>
public sealed class MalformedTileException(string message) : AuditLogException(message);

/// <summary>A node the tree needs is not in the store.</summary>
public sealed class MissingNodeException(int level, long index)
    : AuditLogException($"Tree node at level {level}, index {index} is not stored.")
{
    public int Level { get; } = level;

    public long Index { get; } = index;
}
