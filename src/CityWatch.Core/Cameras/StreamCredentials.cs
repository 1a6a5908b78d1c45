using System.Buffers.Text;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using CityWatch.Data;
using CityWatch.Keys;

namespace CityWatch.Cameras;

/// <summary>
/// Stream credentials are write-only: a URL's user information (<c>rtsp://user:password@host/...</c>) is
/// stored only sealed (<see cref="Seal"/>: AES-GCM under the <see cref="KeyRing.StreamCredentials"/> key,
/// which the KEK wraps, bound to the URL without it), opened only for ingest (<see cref="Open"/>), and
/// never shown: the API returns <see cref="Strip"/> and <see cref="HasCredentials"/>, the audit log only
/// <see cref="Fingerprint"/>. A sealed URL stays a URL (<c>rtsp://cws1.BASE64URL@host/...</c>), so
/// stripping, merging and fingerprinting work on it unchanged.
/// </summary>
public static class StreamCredentials
{
    /// <summary>The URL without its user information; null stays null. The rest is kept exactly as written.</summary>
    public static string? Strip(string? url)
    {
        if (At(url) is not { } at)
        {
            return url;
        }

        return string.Concat(url.AsSpan(0, at.Start), url.AsSpan(at.At + 1));
    }

    /// <summary>Whether the URL carries user information (a user name, a password or both).</summary>
    public static bool HasCredentials(string? url) => url is not null && Strip(url) != url;

    /// <summary>
    /// The user information of the URL ("user:password"), or null: for scrubbing it out of text that may
    /// quote the URL (ffmpeg's error messages).
    /// </summary>
    public static string? UserInfo(string? url)
    {
        return At(url) is { } at ? url![at.Start..at.At] : null;
    }

    /// <summary>Removes the URL's credentials from <paramref name="text"/> (an error message that quotes it).</summary>
    public static string? Scrub(string? text, string? url) =>
        text is null || UserInfo(url) is not { Length: > 0 } secret ? text : text.Replace(secret + "@", "", StringComparison.Ordinal).Replace(secret, "***", StringComparison.Ordinal);

    /// <summary>
    /// What the audit log records of a stream: SHA-256 over the URL without its credentials, so a repointed
    /// camera shows as a changed hash while neither the address nor the password is published. A guessable
    /// address can be confirmed by hashing the guess: the hash hides a password, not a well-known URL.
    /// </summary>
    public static string Fingerprint(string? url) =>
        Strip(url) is { } stripped ? "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(stripped))) : "none";

    /// <summary>
    /// The URL to store when a client sends <paramref name="given"/> for a camera that has <paramref name="stored"/>:
    /// a URL without credentials that equals the stored one stripped keeps the stored credentials (a client
    /// writes back what it read); anything else replaces it.
    /// </summary>
    public static string? Merge(string? given, string? stored) =>
        given is not null && stored is not null && !HasCredentials(given) && HasCredentials(stored) && Strip(stored) == given ? stored : given;

    // Where the authority starts (after "scheme://") and where its last '@' is, if it has one; the
    // authority ends at the first '/', '?' or '#'.
    private static (int Start, int At)? At(string? url)
    {
        var scheme = url?.IndexOf("://", StringComparison.Ordinal) ?? -1;
        if (scheme < 0)
        {
            return null;
        }

        var start = scheme + 3;
        var end = url!.IndexOfAny(['/', '?', '#'], start);
        var at = url.LastIndexOf('@', (end < 0 ? url.Length : end) - 1, (end < 0 ? url.Length : end) - start);
        return at < 0 ? null : (start, at);
    }

    /// <summary>What sealed user information starts with; the rest is the sealed bytes in base64url.</summary>
    public const string SealedPrefix = "cws1.";

    /// <summary>Whether the URL's user information is sealed.</summary>
    public static bool IsSealed(string? url) => UserInfo(url) is { } info && info.StartsWith(SealedPrefix, StringComparison.Ordinal);

    /// <summary>
    /// The URL with its user information sealed, inside the caller's write transaction (either engine: the key
    /// ring's <see cref="KeyRing.SecretWithin"/>, on PostgreSQL when the database was opened with its KEK); a URL
    /// without credentials, or already sealed, is returned as it is (and needs no key).
    /// </summary>
    internal static string? Seal(CityWatchDatabase database, DbConnection connection, DbTransaction transaction, string? url)
    {
        if (At(url) is not { } at || at.At == at.Start || IsSealed(url))
        {
            return url;
        }

        var key = database.Keys.SecretWithin(KeyRing.StreamCredentials, "camera register: sealing stream credentials", connection, transaction);
        var info = url![at.Start..at.At];
        var sealedInfo = SealedPrefix + Base64Url.EncodeToString(Sealing.Seal(key, Encoding.UTF8.GetBytes(info), Binding(url)));
        return string.Concat(url.AsSpan(0, at.Start), sealedInfo, url.AsSpan(at.At));
    }

    /// <summary>The URL with its credentials in clear, for ingest only (never stored, shown or logged); an unwrap of the key, logged once per process.</summary>
    internal static string? Open(CityWatchDatabase database, string? url)
    {
        if (!IsSealed(url))
        {
            return url;
        }

        var at = At(url)!.Value;
        var key = database.Keys.Secret(KeyRing.StreamCredentials, "ingest: opening a camera stream", create: false);
        try
        {
            var info = Sealing.Open(key, Base64Url.DecodeFromChars(url.AsSpan(at.Start + SealedPrefix.Length, at.At - at.Start - SealedPrefix.Length)), Binding(url!));
            return string.Concat(url.AsSpan(0, at.Start), Encoding.UTF8.GetString(info), url.AsSpan(at.At));
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or FormatException)
        {
            throw new InvalidOperationException($"The stream credentials of {Strip(url)} do not open: they were altered or moved from another stream.");
        }
    }

    // Sealed credentials belong to the stream they were given for: moved to another URL they do not open.
    private static byte[] Binding(string url) => Encoding.UTF8.GetBytes("stream/" + Strip(url));
}
