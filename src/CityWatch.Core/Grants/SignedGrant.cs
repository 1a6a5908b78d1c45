using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CityWatch.Grants;

/// <summary>
/// What a signed grant says: the grant's fields, who may use it (<see cref="Audience"/>: a worker id, or
/// <see cref="GrantClaims.Local"/> for the issuing process) and which key signed it (<see cref="KeyId"/>).
/// Times are whole Unix milliseconds.
/// </summary>
public sealed record GrantClaims(
    Guid Id,
    long LegalBasisId,
    ProcessingPurpose Purpose,
    long? CameraId,
    IReadOnlyList<long> WatchlistIds,
    string? CaseId,
    DateTimeOffset IssuedAt,
    DateTimeOffset ExpiresAt,
    string Audience,
    string KeyId)
{
    /// <summary>The audience of a grant used in the process that issued it.</summary>
    public const string Local = "local";

    /// <summary>The version of the claims' form; a grant of another version is refused.</summary>
    public const int Version = 1;

    /// <summary>
    /// The canonical UTF-8 JSON of the claims: fixed member order, no whitespace, times as Unix
    /// milliseconds, the purpose by name. The signature covers exactly these bytes.
    /// </summary>
    public byte[] ToCanonicalJson()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, SkipValidation = false }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("v", Version);
            writer.WriteString("id", Id.ToString("D"));
            writer.WriteNumber("basis", LegalBasisId);
            writer.WriteString("purpose", Purpose.ToString());
            if (CameraId is { } camera)
            {
                writer.WriteNumber("camera", camera);
            }
            else
            {
                writer.WriteNull("camera");
            }

            writer.WriteStartArray("watchlists");
            foreach (var watchlist in WatchlistIds)
            {
                writer.WriteNumberValue(watchlist);
            }

            writer.WriteEndArray();
            if (CaseId is { } caseId)
            {
                writer.WriteString("case", caseId);
            }
            else
            {
                writer.WriteNull("case");
            }

            writer.WriteNumber("iat", IssuedAt.ToUnixTimeMilliseconds());
            writer.WriteNumber("exp", ExpiresAt.ToUnixTimeMilliseconds());
            writer.WriteString("aud", Audience);
            writer.WriteString("kid", KeyId);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads canonical claims; anything else (other JSON, other order, extra members, whitespace) is refused.</summary>
    public static GrantClaims FromCanonicalJson(ReadOnlySpan<byte> json)
    {
        GrantClaims claims;
        try
        {
            using var document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 4 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new MalformedGrantException("The grant's claims are not a JSON object.");
            }

            if (root.GetProperty("v").GetInt32() != Version)
            {
                throw new MalformedGrantException($"The grant's claims are not version {Version}.");
            }

            var purposeName = root.GetProperty("purpose").GetString() ?? "";
            if (!Enum.TryParse<ProcessingPurpose>(purposeName, ignoreCase: false, out var purpose) || !Enum.IsDefined(purpose) || purposeName != purpose.ToString())
            {
                throw new MalformedGrantException($"The grant's claims name the purpose '{purposeName}', which is not a processing purpose.");
            }

            var camera = root.GetProperty("camera");
            var caseId = root.GetProperty("case");
            claims = new GrantClaims(
                Guid.ParseExact(root.GetProperty("id").GetString() ?? "", "D"),
                root.GetProperty("basis").GetInt64(),
                purpose,
                camera.ValueKind == JsonValueKind.Null ? null : camera.GetInt64(),
                [.. root.GetProperty("watchlists").EnumerateArray().Select(w => w.GetInt64())],
                caseId.ValueKind == JsonValueKind.Null ? null : caseId.GetString(),
                DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("iat").GetInt64()),
                DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("exp").GetInt64()),
                root.GetProperty("aud").GetString() ?? "",
                root.GetProperty("kid").GetString() ?? "");
        }
        catch (Exception e) when (e is (JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException) and not MalformedGrantException)
        {
            throw new MalformedGrantException($"The grant's claims are not well-formed JSON claims: {e.Message}", e);
        }

        if (!json.SequenceEqual(claims.ToCanonicalJson()))
        {
            throw new MalformedGrantException("The grant's claims are not in canonical form.");
        }

        return claims;
    }
}

/// <summary>
/// A grant in its wire form: <c>base64url(canonical claims) "." base64url(Ed25519 signature)</c>, the
/// signature over <see cref="SignedGrant.Domain"/> followed by the claims' bytes. <see cref="Parse"/>
/// accepts only well-formed input; it does not check the signature (see <see cref="GrantVerifier"/>).
/// </summary>
public sealed class SignedGrant
{
    /// <summary>Prefixed to the claims before signing, so that a grant signature is never valid for anything else.</summary>
    public const string Domain = "citywatch-grant-v1\n";

    public const int SignatureSize = 64;

    // A grant's claims are a few hundred bytes; this bounds what a parser reads.
    private const int MaxWireLength = 8192;

    internal SignedGrant(GrantClaims claims, byte[] claimsBytes, byte[] signature)
    {
        Claims = claims;
        ClaimsBytes = claimsBytes;
        Signature = signature;
    }

    public GrantClaims Claims { get; }

    /// <summary>The exact bytes that were signed (after <see cref="Domain"/>).</summary>
    public ReadOnlyMemory<byte> ClaimsBytes { get; }

    public ReadOnlyMemory<byte> Signature { get; }

    public static SignedGrant Parse(string wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        if (wire.Length > MaxWireLength)
        {
            throw new MalformedGrantException($"A signed grant is at most {MaxWireLength} characters.");
        }

        var parts = wire.Split('.');
        if (parts.Length != 2)
        {
            throw new MalformedGrantException("A signed grant is two base64url parts joined by '.'.");
        }

        var claimsBytes = Decode(parts[0], "claims");
        var signature = Decode(parts[1], "signature");
        if (signature.Length != SignatureSize)
        {
            throw new MalformedGrantException($"A grant's signature is {SignatureSize} bytes, not {signature.Length}.");
        }

        return new SignedGrant(GrantClaims.FromCanonicalJson(claimsBytes), claimsBytes, signature);
    }

    /// <summary>The bytes the signature covers: <see cref="Domain"/> then the claims.</summary>
    internal static byte[] SignedBytes(ReadOnlySpan<byte> claims)
    {
        var domain = Encoding.ASCII.GetBytes(Domain);
        var message = new byte[domain.Length + claims.Length];
        domain.CopyTo(message, 0);
        claims.CopyTo(message.AsSpan(domain.Length));
        return message;
    }

    /// <summary>A key's id: the first 8 bytes of the SHA-256 of its raw public key, in lower-case hex.</summary>
    public static string KeyIdOf(ReadOnlySpan<byte> publicKey) =>
        Convert.ToHexStringLower(SHA256.HashData(publicKey)[..8]);

    public override string ToString() =>
        $"{Base64Url.EncodeToString(ClaimsBytes.Span)}.{Base64Url.EncodeToString(Signature.Span)}";

    private static byte[] Decode(string text, string what)
    {
        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(text);
        }
        catch (FormatException e)
        {
            throw new MalformedGrantException($"The grant's {what} part is not unpadded base64url.", e);
        }

        // One spelling only: no padding, whitespace or stray bits.
        if (bytes.Length == 0 || Base64Url.EncodeToString(bytes) != text)
        {
            throw new MalformedGrantException($"The grant's {what} part is not unpadded base64url.");
        }

        return bytes;
    }
}
