using System.Buffers.Binary;
using System.Text;

namespace CityWatch.AuditLog;

/// <summary>One signature line of a note: the key name, the 4-byte key ID and the signature bytes after it.</summary>
public sealed record NoteSignature(string Name, uint KeyId, byte[] Signature)
{
    /// <summary>The line as it appears in a note, newline included.</summary>
    public string ToLine()
    {
        var blob = new byte[4 + Signature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(blob, KeyId);
        Signature.CopyTo(blob, 4);
        return $"— {Name} {Convert.ToBase64String(blob)}\n";
    }
}

/// <summary>
/// A C2SP signed note: a text ending in a newline, a blank line, and one or more signature lines
/// (<c>— name base64(keyID || signature)</c>). Parsing checks the syntax only; trust comes from
/// <see cref="NoteVerifier"/>.
/// </summary>
public sealed record SignedNote(string Text, IReadOnlyList<NoteSignature> Signatures)
{
    public const int MaxSignatures = 100;
    public const int MaxNoteBytes = 1 << 20;

    private const string SignaturePrefix = "— ";

    public string Format()
    {
        var builder = new StringBuilder(Text).Append('\n');
        foreach (var signature in Signatures)
        {
            builder.Append(signature.ToLine());
        }

        return builder.ToString();
    }

    public static SignedNote Parse(string note)
    {
        ArgumentNullException.ThrowIfNull(note);
        if (Encoding.UTF8.GetByteCount(note) > MaxNoteBytes)
        {
            throw new MalformedNoteException("The note is larger than 1 MiB.");
        }

        CheckCharacters(note);
        var split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
        {
            throw new MalformedNoteException("The note has no blank line before its signatures.");
        }

        var text = note[..(split + 1)];
        CheckText(text);
        var block = note[(split + 2)..];
        if (block.Length == 0 || block[^1] != '\n')
        {
            throw new MalformedNoteException("The note's signature block must end with a newline.");
        }

        var lines = block[..^1].Split('\n');
        if (lines.Length > MaxSignatures)
        {
            throw new MalformedNoteException($"The note has more than {MaxSignatures} signatures.");
        }

        var signatures = new List<NoteSignature>(lines.Length);
        foreach (var line in lines)
        {
            signatures.Add(ParseSignatureLine(line));
        }

        return new SignedNote(text, signatures);
    }

    /// <summary>Checks that a text can be signed: non-empty, newline-terminated, no blank line, no control characters.</summary>
    public static void CheckText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0 || text[^1] != '\n')
        {
            throw new MalformedNoteException("A note text must be non-empty and end with a newline.");
        }

        if (text.Contains("\n\n", StringComparison.Ordinal) || text[0] == '\n')
        {
            throw new MalformedNoteException("A note text must not contain a blank line.");
        }

        CheckCharacters(text);
    }

    /// <summary>A key name: non-empty, no spaces (Unicode or ASCII), no '+'.</summary>
    public static void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Any(c => char.IsWhiteSpace(c) || c == '+' || char.IsControl(c)))
        {
            throw new MalformedNoteException($"'{name}' is not a valid key name (non-empty, no spaces, no '+').");
        }
    }

    private static void CheckCharacters(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c < 0x20 && c != '\n')
            {
                throw new MalformedNoteException($"The note contains control character 0x{(int)c:x2}.");
            }

            if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) && !(char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(value[i - 1])))
            {
                throw new MalformedNoteException("The note is not valid UTF-8 text.");
            }
        }
    }

    private static NoteSignature ParseSignatureLine(string line)
    {
        if (!line.StartsWith(SignaturePrefix, StringComparison.Ordinal))
        {
            throw new MalformedNoteException("A signature line must start with an em dash and a space.");
        }

        var rest = line[SignaturePrefix.Length..];
        var space = rest.LastIndexOf(' ');
        if (space <= 0)
        {
            throw new MalformedNoteException("A signature line must hold a key name and a signature.");
        }

        var name = rest[..space];
        CheckName(name);
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(rest[(space + 1)..]);
        }
        catch (FormatException)
        {
            throw new MalformedNoteException($"The signature by '{name}' is not valid base64.");
        }

        if (blob.Length < 5)
        {
            throw new MalformedNoteException($"The signature by '{name}' is too short.");
        }

        return new NoteSignature(name, BinaryPrimitives.ReadUInt32BigEndian(blob), blob[4..]);
    }
}
