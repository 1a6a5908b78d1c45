using NSec.Cryptography;

namespace CityWatch.Grants;

/// <summary>
/// Signs grants with the server's Ed25519 grant-signing key (the key ring's <c>grant-signing</c> key).
/// Only the policy engine holds one; workers hold a <see cref="GrantVerifier"/> made from its public half.
/// </summary>
public sealed class GrantSigner : IDisposable
{
    private readonly Key _key;

    /// <summary>A signer from the key's 32-byte Ed25519 seed.</summary>
    public GrantSigner(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != 32)
        {
            throw new ArgumentException($"An Ed25519 seed is 32 bytes, not {seed.Length}.", nameof(seed));
        }

        _key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
        PublicKey = _key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        KeyId = SignedGrant.KeyIdOf(PublicKey);
    }

    /// <summary>The raw 32-byte public key, for <see cref="GrantVerifier"/>.</summary>
    public byte[] PublicKey { get; }

    public string KeyId { get; }

    /// <summary>The public key of a 32-byte seed (what the key ring stores and logs).</summary>
    public static byte[] PublicKeyOf(ReadOnlySpan<byte> seed)
    {
        using var signer = new GrantSigner(seed);
        return signer.PublicKey;
    }

    /// <summary>Signs <paramref name="grant"/> for <paramref name="audience"/> (a worker id, or <see cref="GrantClaims.Local"/>).</summary>
    public SignedGrant Sign(ProcessingGrant grant, string audience)
    {
        ArgumentNullException.ThrowIfNull(grant);
        ArgumentException.ThrowIfNullOrWhiteSpace(audience);
        var claims = new GrantClaims(
            grant.Id, grant.LegalBasisId, grant.Purpose, grant.CameraId, [.. grant.WatchlistIds], grant.CaseId,
            grant.IssuedAt, grant.ExpiresAt, audience, KeyId);
        var bytes = claims.ToCanonicalJson();
        // What a verifier reads back: times at whole milliseconds.
        var signature = SignatureAlgorithm.Ed25519.Sign(_key, SignedGrant.SignedBytes(bytes));
        return new SignedGrant(GrantClaims.FromCanonicalJson(bytes), bytes, signature);
    }

    public void Dispose() => _key.Dispose();
}
