using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Grants;
using CityWatch.Keys;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Grants;

public sealed class SignedGrantTests : IDisposable
{
    private const string Worker = "worker-1";

    private readonly TestCity _city = new();

    public void Dispose() => _city.Dispose();

    [Fact]
    public async Task A_signed_grant_round_trips_through_its_wire_form_to_an_equal_grant()
    {
        var (grant, camera) = await IssueAsync();
        var wire = _city.Policy.Sign(grant, Worker).ToString();

        var verified = Verifier().Verify(wire);

        Assert.Equal(grant.Id, verified.Id);
        Assert.Equal(grant.LegalBasisId, verified.LegalBasisId);
        Assert.Equal(ProcessingPurpose.Live, verified.Purpose);
        Assert.Equal(camera, verified.CameraId);
        Assert.Equal(grant.WatchlistIds, verified.WatchlistIds);
        Assert.Null(verified.CaseId);
        Assert.Equal(grant.IssuedAt, verified.IssuedAt);
        Assert.Equal(grant.ExpiresAt, verified.ExpiresAt);
        Assert.True(verified.Covers(1));
        verified.EnsureCovers(1, _city.Time.GetUtcNow());
        Assert.Throws<GrantScopeException>(() => verified.EnsureCovers(2, _city.Time.GetUtcNow()));
    }

    [Fact]
    public async Task A_flipped_byte_in_the_claims_or_the_signature_is_refused()
    {
        var signed = _city.Policy.Sign((await IssueAsync()).Grant, Worker);
        var verifier = Verifier();

        // The claims still parse (a digit of the basis id changed) but no longer match the signature.
        var claims = signed.ClaimsBytes.ToArray();
        var digit = Encoding.UTF8.GetString(claims).IndexOf("\"basis\":", StringComparison.Ordinal) + "\"basis\":".Length;
        claims[digit] = (byte)(claims[digit] == (byte)'9' ? '8' : claims[digit] + 1);
        var forgedClaims = $"{Base64Url.EncodeToString(claims)}.{Base64Url.EncodeToString(signed.Signature.Span)}";
        Assert.Throws<GrantSignatureException>(() => verifier.Verify(forgedClaims));

        var signature = signed.Signature.ToArray();
        signature[10] ^= 0x01;
        var forgedSignature = $"{Base64Url.EncodeToString(signed.ClaimsBytes.Span)}.{Base64Url.EncodeToString(signature)}";
        Assert.Throws<GrantSignatureException>(() => verifier.Verify(forgedSignature));
    }

    [Fact]
    public async Task A_grant_signed_by_another_key_is_refused()
    {
        var (grant, _) = await IssueAsync();
        using var other = new GrantSigner(RandomNumberGenerator.GetBytes(32));
        var wire = other.Sign(grant, Worker).ToString();

        // Named as its own key: not the trusted one.
        Assert.Throws<GrantKeyException>(() => Verifier().Verify(wire));

        // Claiming the trusted key's id does not help: the signature is not that key's.
        var claims = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(other.Sign(grant, Worker).ClaimsBytes.Span)!;
        var relabelled = Encoding.UTF8.GetString(other.Sign(grant, Worker).ClaimsBytes.Span)
            .Replace($"\"kid\":\"{other.KeyId}\"", $"\"kid\":\"{Verifier().KeyId}\"", StringComparison.Ordinal);
        Assert.Equal(other.KeyId, claims["kid"].GetString());
        var forged = $"{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(relabelled))}.{wire.Split('.')[1]}";
        Assert.Throws<GrantSignatureException>(() => Verifier().Verify(forged));
    }

    [Fact]
    public async Task A_grant_for_another_audience_is_refused()
    {
        var (grant, _) = await IssueAsync();

        Assert.Throws<GrantAudienceException>(() => Verifier().Verify(_city.Policy.Sign(grant, "worker-2").ToString()));
        Assert.Throws<GrantAudienceException>(() => Verifier().Verify(_city.Policy.Sign(grant, GrantClaims.Local).ToString()));
    }

    [Fact]
    public async Task An_expired_grant_is_refused_and_one_from_the_future_too()
    {
        var (grant, _) = await IssueAsync();
        var wire = _city.Policy.Sign(grant, Worker).ToString();
        var verifier = Verifier();

        _city.Time.Advance(PolicyEngine.GrantLifetime);
        Assert.Throws<GrantExpiredException>(() => verifier.Verify(wire));

        var early = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(grant.IssuedAt - TimeSpan.FromSeconds(1));
        Assert.Throws<GrantExpiredException>(() => new GrantVerifier(_city.Policy.GrantSigningPublicKey, Worker, early).Verify(wire));
    }

    [Fact]
    public async Task Only_a_grant_the_engine_issued_is_signed()
    {
        var (grant, _) = await IssueAsync();
        var verified = Verifier().Verify(_city.Policy.Sign(grant, Worker).ToString());

        Assert.Throws<ArgumentException>(() => _city.Policy.Sign(verified, Worker));
    }

    [Theory]
    [InlineData("")]
    [InlineData("no-dot")]
    [InlineData("a.b.c")]
    [InlineData("!!!.AAAA")]
    [InlineData("eyJ2IjoxfQ==.AAAA")]
    [InlineData(" eyJ2IjoxfQ.AAAA")]
    public void Malformed_wire_forms_are_refused_with_a_clear_exception(string wire)
    {
        var refused = Assert.Throws<MalformedGrantException>(() => SignedGrant.Parse(wire));
        Assert.Contains("grant", refused.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"v\":1}")]
    [InlineData("{\"v\":2,\"id\":\"00000000-0000-0000-0000-000000000001\"}")]
    [InlineData("{\"v\":1,\"id\":\"00000000-0000-0000-0000-000000000001\",\"basis\":1,\"purpose\":\"Everything\",\"camera\":null,\"watchlists\":[],\"case\":null,\"iat\":0,\"exp\":1,\"aud\":\"w\",\"kid\":\"k\"}")]
    [InlineData("{\"v\":1,\"id\":\"00000000-0000-0000-0000-000000000001\",\"basis\":\"1\",\"purpose\":\"Live\",\"camera\":null,\"watchlists\":[],\"case\":null,\"iat\":0,\"exp\":1,\"aud\":\"w\",\"kid\":\"k\"}")]
    [InlineData("{\"v\":1, \"id\":\"00000000-0000-0000-0000-000000000001\",\"basis\":1,\"purpose\":\"Live\",\"camera\":null,\"watchlists\":[],\"case\":null,\"iat\":0,\"exp\":1,\"aud\":\"w\",\"kid\":\"k\"}")]
    [InlineData("{\"id\":\"00000000-0000-0000-0000-000000000001\",\"v\":1,\"basis\":1,\"purpose\":\"Live\",\"camera\":null,\"watchlists\":[],\"case\":null,\"iat\":0,\"exp\":1,\"aud\":\"w\",\"kid\":\"k\"}")]
    [InlineData("{\"v\":1,\"id\":\"00000000-0000-0000-0000-000000000001\",\"basis\":1,\"purpose\":\"Live\",\"camera\":null,\"watchlists\":[],\"case\":null,\"iat\":0,\"exp\":1,\"aud\":\"w\",\"kid\":\"k\",\"extra\":1}")]
    public void Claims_that_are_not_canonical_json_are_refused_with_a_clear_exception(string claims)
    {
        var wire = $"{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(claims))}.{Base64Url.EncodeToString(new byte[64])}";

        var refused = Assert.Throws<MalformedGrantException>(() => SignedGrant.Parse(wire));
        Assert.Contains("claims", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Canonical_claims_parse_and_a_short_signature_is_refused()
    {
        const string claims = "{\"v\":1,\"id\":\"00000000-0000-0000-0000-000000000001\",\"basis\":1,\"purpose\":\"Live\",\"camera\":null,\"watchlists\":[3],\"case\":null,\"iat\":0,\"exp\":1,\"aud\":\"w\",\"kid\":\"k\"}";
        var encoded = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(claims));

        var parsed = SignedGrant.Parse($"{encoded}.{Base64Url.EncodeToString(new byte[64])}");
        Assert.Equal([3L], parsed.Claims.WatchlistIds);
        Assert.Throws<MalformedGrantException>(() => SignedGrant.Parse($"{encoded}.{Base64Url.EncodeToString(new byte[63])}"));
    }

    [Fact]
    public async Task The_grant_signing_key_is_created_once_and_its_public_half_is_in_the_logs_key_event()
    {
        var (grant, _) = await IssueAsync();
        var publicKey = Convert.ToBase64String(_city.Policy.GrantSigningPublicKey);
        _city.Policy.Sign(grant, Worker);
        await _city.Audit.FlushAsync();

        Assert.Equal(KeyLog.Actor, Assert.Single(_city.Audit.Read(0, 10_000, KeyRing.CreateAction)).Actor);

        // What the public reads: the signed leaf itself.
        var created = Assert.Single(_city.Audit.ReadSigned(0, 10_000, KeyRing.CreateAction));
        using var body = JsonDocument.Parse(created.Body);
        var parameters = body.RootElement.GetProperty("Parameters");
        Assert.Equal(KeyRing.GrantSigning, parameters.GetProperty("key").GetString());
        Assert.Equal(publicKey, parameters.GetProperty("public_key").GetString());

        // An outside reader who learnt the key from the log verifies the worker's grant with it.
        var fromLog = Convert.FromBase64String(parameters.GetProperty("public_key").GetString()!);
        var verified = new GrantVerifier(fromLog, Worker, _city.Time).Verify(_city.Policy.Sign(grant, Worker).ToString());
        Assert.Equal(grant.Id, verified.Id);
    }

    private GrantVerifier Verifier() => new(_city.Policy.GrantSigningPublicKey, Worker, _city.Time);

    private async Task<(ProcessingGrant Grant, long Camera)> IssueAsync()
    {
        var camera = _city.AddCamera("C1");
        await _city.ActiveBasisAsync([camera.Id], [1], ProcessingPurpose.Live);
        var grant = await _city.Policy.RequireAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1]));
        return (grant, camera.Id);
    }
}
