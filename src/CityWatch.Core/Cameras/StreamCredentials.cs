using System.Security.Cryptography;
using System.Text;

namespace CityWatch.Cameras;

/// <summary>
/// Stream credentials are write-only: a URL's user information (<c>rtsp://user:password@host/...</c>) is
/// stored as given (for now in clear in the database; encrypting it under a key-encryption key is separate
/// work) and used by ingest, but never shown: the API returns <see cref="Strip"/> and
/// <see cref="HasCredentials"/>, the audit log only <see cref="Fingerprint"/>.
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
}
