using System.Globalization;
using System.Text;

namespace CityWatch.AuditLog;

/// <summary>
/// A C2SP tlog-checkpoint body: the origin line, the tree size in decimal, the base64 root hash, then any
/// extension lines. Signed as a note by the log key; witnesses add cosignatures.
/// </summary>
public sealed record Checkpoint
{
    public Checkpoint(string origin, long size, byte[] rootHash, IReadOnlyList<string>? extensions = null)
    {
        if (string.IsNullOrEmpty(origin) || origin.Contains('\n', StringComparison.Ordinal))
        {
            throw new MalformedNoteException("A checkpoint origin is one non-empty line.");
        }

        if (size < 0)
        {
            throw new MalformedNoteException("A checkpoint size is not negative.");
        }

        if (rootHash is null || rootHash.Length != Rfc6962.HashSize)
        {
            throw new MalformedNoteException("A checkpoint root hash is 32 bytes.");
        }

        foreach (var line in extensions ?? [])
        {
            if (string.IsNullOrEmpty(line) || line.Contains('\n', StringComparison.Ordinal))
            {
                throw new MalformedNoteException("A checkpoint extension is one non-empty line.");
            }
        }

        Origin = origin;
        Size = size;
        RootHash = rootHash;
        Extensions = extensions ?? [];
    }

    public string Origin { get; }

    public long Size { get; }

    public byte[] RootHash { get; }

    public IReadOnlyList<string> Extensions { get; }

    /// <summary>The note text to sign.</summary>
    public string ToText()
    {
        var builder = new StringBuilder()
            .Append(Origin).Append('\n')
            .Append(Size.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append(Convert.ToBase64String(RootHash)).Append('\n');
        foreach (var line in Extensions)
        {
            builder.Append(line).Append('\n');
        }

        return builder.ToString();
    }

    /// <summary>Parses a checkpoint body (a note's text); throws <see cref="MalformedNoteException"/>.</summary>
    public static Checkpoint Parse(string text)
    {
        SignedNote.CheckText(text);
        var lines = text[..^1].Split('\n');
        if (lines.Length < 3)
        {
            throw new MalformedNoteException("A checkpoint has an origin, a size and a root hash line.");
        }

        var sizeText = lines[1];
        if (sizeText.Length == 0 || sizeText.Length > 19 || !sizeText.All(char.IsAsciiDigit) || (sizeText.Length > 1 && sizeText[0] == '0')
            || !long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            throw new MalformedNoteException($"'{sizeText}' is not a checkpoint tree size.");
        }

        byte[] root;
        try
        {
            root = Convert.FromBase64String(lines[2]);
        }
        catch (FormatException)
        {
            throw new MalformedNoteException("The checkpoint root hash is not valid base64.");
        }

        if (lines[2].Contains(' ', StringComparison.Ordinal))
        {
            throw new MalformedNoteException("The checkpoint root hash is not valid base64.");
        }

        return new Checkpoint(lines[0], size, root, lines[3..]);
    }

    /// <summary>Opens a signed checkpoint: verifies the log's signature, then parses and checks the origin.</summary>
    public static (Checkpoint Checkpoint, SignedNote Note) Open(string note, NoteVerifier logKey, string? expectedOrigin = null)
    {
        ArgumentNullException.ThrowIfNull(logKey);
        var signed = logKey.Open(note);
        var checkpoint = Parse(signed.Text);
        var origin = expectedOrigin ?? logKey.Name;
        return checkpoint.Origin == origin
            ? (checkpoint, signed)
            : throw new NoteVerificationException($"The checkpoint origin '{checkpoint.Origin}' is not '{origin}'.");
    }
}
