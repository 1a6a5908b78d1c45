using NSec.Cryptography;

namespace CityWatch.Grants;

/// <summary>
/// What a worker holds instead of a policy engine: the server's grant-signing public key, its own id and
/// a clock. <see cref="Verify"/> makes a <see cref="ProcessingGrant"/> from a <see cref="SignedGrant"/>
/// only once the key id, the signature, the audience and the validity window all check out; otherwise
/// it throws, and no grant exists.
/// </summary>
public sealed class GrantVerifier
{
    private readonly PublicKey _key;
    private readonly string _audience;
    private readonly TimeProvider _time;

    public GrantVerifier(ReadOnlySpan<byte> publicKey, string audience, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(audience);
        ArgumentNullException.ThrowIfNull(time);
        if (publicKey.Length != 32)
        {
            throw new ArgumentException($"An Ed25519 public key is 32 bytes, not {publicKey.Length}.", nameof(publicKey));
        }

        _key = PublicKey.Import(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey);
        _audience = audience;
        _time = time;
        KeyId = SignedGrant.KeyIdOf(publicKey);
    }

    /// <summary>The id of the key this verifier trusts.</summary>
    public string KeyId { get; }

    /// <summary>Parses the wire form and verifies it (see <see cref="Verify(SignedGrant)"/>).</summary>
    public ProcessingGrant Verify(string wire) => Verify(SignedGrant.Parse(wire));

    public ProcessingGrant Verify(SignedGrant signed)
    {
        ArgumentNullException.ThrowIfNull(signed);
        var claims = signed.Claims;
        if (claims.KeyId != KeyId)
        {
            throw new GrantKeyException($"Grant {claims.Id} is signed by key {claims.KeyId}, not by the trusted grant-signing key {KeyId}.");
        }

        if (!SignatureAlgorithm.Ed25519.Verify(_key, SignedGrant.SignedBytes(signed.ClaimsBytes.Span), signed.Signature.Span))
        {
            throw new GrantSignatureException($"The signature of grant {claims.Id} does not verify with key {KeyId}.");
        }

        if (claims.Audience != _audience)
        {
            throw new GrantAudienceException($"Grant {claims.Id} is for '{claims.Audience}', not for '{_audience}'.");
        }

        var now = _time.GetUtcNow();
        if (now < claims.IssuedAt || now >= claims.ExpiresAt)
        {
            throw new GrantExpiredException(claims.Id, claims.IssuedAt, claims.ExpiresAt, now);
        }

        return new VerifiedGrant(claims);
    }

    // The second and last concrete grant: made only above, after every check.
    private sealed class VerifiedGrant(GrantClaims claims)
        : ProcessingGrant(claims.Id, claims.LegalBasisId, claims.Purpose, claims.CameraId, claims.WatchlistIds, claims.CaseId, claims.IssuedAt, claims.ExpiresAt);
}
