using System.Security.Cryptography;
using System.Text;

namespace CityWatch.Keys;

/// <summary>
/// The key-encryption key (KEK): 32 random bytes that wrap every other key of a data folder (the log's
/// signing key, the evidence master key, the template key) and that are never stored in the data folder.
/// It comes from exactly one source: a key file outside the data folder, the <c>CITYWATCH_KEK</c>
/// environment secret (base64), or k-of-n custodian shares entered at start (<see cref="Resolve"/>).
/// </summary>
/// <remarks>
/// Wrapping is AES-256-GCM with the wrapped key's name as associated data, so a wrapped key moved to
/// another name does not unwrap. <see cref="Id"/> names the KEK without revealing it (an HMAC of a fixed
/// label), so a data folder can say "not my KEK" before trying to unwrap anything.
/// </remarks>
public sealed class KeyEncryptionKey
{
    public const int Size = 32;
    public const string EnvironmentVariable = "CITYWATCH_KEK";
    private const string FilePrefix = "cwkek1:";

    private readonly byte[] _key;

    private KeyEncryptionKey(byte[] key, string source)
    {
        if (key.Length != Size)
        {
            throw new KeyEncryptionKeyException($"The key-encryption key from {source} is {key.Length} bytes, not {Size}.");
        }

        _key = key;
        Source = source;
        Id = Convert.ToHexStringLower(HMACSHA256.HashData(key, "citywatch kek id v1"u8).AsSpan(0, 8));
    }

    /// <summary>A public name of this KEK (16 hex digits), stored next to what it wraps.</summary>
    public string Id { get; }

    /// <summary>Where it came from, for messages: never the key itself.</summary>
    public string Source { get; }

    public static KeyEncryptionKey Generate() => new(RandomNumberGenerator.GetBytes(Size), "a new random key");

    /// <summary>A KEK given as base64 text (the environment secret, or the body of a key file).</summary>
    public static KeyEncryptionKey FromBase64(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        if (trimmed.StartsWith(FilePrefix, StringComparison.Ordinal))
        {
            trimmed = trimmed[FilePrefix.Length..];
        }

        byte[] key;
        try
        {
            key = Convert.FromBase64String(trimmed);
        }
        catch (FormatException)
        {
            throw new KeyEncryptionKeyException($"The key-encryption key from {source} is not base64 of {Size} bytes.");
        }

        return new KeyEncryptionKey(key, source);
    }

    /// <summary>The KEK in a key file, which must lie outside <paramref name="dataDirectory"/> (also after following links).</summary>
    public static KeyEncryptionKey FromFile(string path, string dataDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = RefuseInside(path, dataDirectory, "key-encryption key file");
        if (!File.Exists(full))
        {
            throw new KeyEncryptionKeyException($"The key-encryption key file {full} does not exist (create one with `citywatch keys kek create --out {full}`).");
        }

        return FromBase64(File.ReadAllText(full), $"file {full}");
    }

    /// <summary>The KEK recombined from custodian shares (lines of text; blank lines and # comments are skipped).</summary>
    public static KeyEncryptionKey FromShares(IEnumerable<string> shares)
    {
        var list = shares.ToList();
        return new KeyEncryptionKey(CustodianShares.Combine(list), "custodian shares");
    }

    /// <summary>
    /// The KEK from exactly one configured source: a key file, share files (<c>-</c> reads shares from
    /// <paramref name="input"/> until enough are entered), or the environment secret. None, or more than
    /// one, is refused with a message naming the ways to give one.
    /// </summary>
    public static KeyEncryptionKey Resolve(string? keyFile, IReadOnlyList<string>? shareFiles, string? environmentSecret, string dataDirectory, TextReader? input = null)
    {
        var given = new[] { !string.IsNullOrWhiteSpace(keyFile), shareFiles is { Count: > 0 }, !string.IsNullOrWhiteSpace(environmentSecret) }.Count(g => g);
        if (given == 0)
        {
            throw new KeyEncryptionKeyRequiredException(
                $"no key-encryption key: give --kek-file FILE (outside the data folder), --kek-shares-from FILE... (k custodian shares; - reads stdin) or set {EnvironmentVariable}");
        }

        if (given > 1)
        {
            throw new KeyEncryptionKeyException($"give exactly one key-encryption key source: --kek-file, --kek-shares-from or {EnvironmentVariable}, not several");
        }

        if (!string.IsNullOrWhiteSpace(keyFile))
        {
            return FromFile(keyFile, dataDirectory);
        }

        if (!string.IsNullOrWhiteSpace(environmentSecret))
        {
            return FromBase64(environmentSecret, $"the {EnvironmentVariable} environment secret");
        }

        var lines = new List<string>();
        foreach (var file in shareFiles!)
        {
            if (file == "-")
            {
                lines.AddRange(ReadSharesFrom(input ?? Console.In));
            }
            else
            {
                lines.AddRange(File.ReadAllLines(RefuseInside(file, dataDirectory, "custodian share file")));
            }
        }

        return FromShares(lines);
    }

    /// <summary>Writes the KEK to a new file (owner read/write only); an existing file is never overwritten.</summary>
    public void WriteTo(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using var stream = new FileStream(full, options);
            stream.Write(Encoding.ASCII.GetBytes(FilePrefix + Convert.ToBase64String(_key) + "\n"));
            stream.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(full))
        {
            throw new KeyEncryptionKeyException($"{full} already exists; a key-encryption key file is never overwritten.");
        }
    }

    /// <summary>The KEK as base64 (for the environment secret).</summary>
    public string ToBase64() => Convert.ToBase64String(_key);

    /// <summary>k-of-n custodian shares of this KEK.</summary>
    public IReadOnlyList<string> Split(int k, int n) => CustodianShares.Split(_key, k, n);

    internal byte[] Wrap(string keyName, ReadOnlySpan<byte> plaintext) => Sealing.Seal(_key, plaintext, AssociatedData(keyName));

    internal byte[] Unwrap(string keyName, byte[] wrapped)
    {
        try
        {
            return Sealing.Open(_key, wrapped, AssociatedData(keyName));
        }
        catch (CryptographicException)
        {
            throw new WrongKeyEncryptionKeyException($"The wrapped key '{keyName}' does not open with the key-encryption key from {Source}: wrong key, or the wrapped key was altered.");
        }
    }

    private static byte[] AssociatedData(string keyName) => Encoding.UTF8.GetBytes("citywatch-key/" + keyName);

    /// <summary>The full path, or a <see cref="KeyEncryptionKeyException"/> if it lies inside the data folder (also through links).</summary>
    public static string RefuseInside(string path, string dataDirectory, string what)
    {
        var full = Path.GetFullPath(path);
        var data = Path.GetFullPath(dataDirectory);
        if (IsInside(full, data) || IsInside(RealPath(full), RealPath(data)))
        {
            throw new KeyEncryptionKeyException($"the {what} {full} is inside the data folder {data}: keep it elsewhere, so that a copy of the data folder reads nothing");
        }

        return full;
    }

    private static bool IsInside(string path, string directory)
    {
        var trimmed = Path.TrimEndingDirectorySeparator(directory);
        return path == trimmed || path.StartsWith(trimmed + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    // The path with every symbolic link along it followed, as far as it exists (like realpath(3)).
    private static string RealPath(string path, int depth = 0)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full) ?? "/";
        var current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            current = info.Exists && info.LinkTarget is not null && depth < 32 && info.ResolveLinkTarget(returnFinalTarget: true) is { } target
                ? RealPath(target.FullName, depth + 1)
                : next;
        }

        return current;
    }

    private static IEnumerable<string> ReadSharesFrom(TextReader input)
    {
        // Reads share lines until k of them (k is in each share) have been entered, or the input ends.
        var lines = new List<string>();
        int? needed = null;
        while (input.ReadLine() is { } line)
        {
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }

            lines.Add(trimmed);
            var parts = trimmed.Split('-');
            if (needed is null && parts.Length > 1 && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k))
            {
                needed = k;
            }

            if (lines.Count >= needed)
            {
                break;
            }
        }

        return lines;
    }
}
