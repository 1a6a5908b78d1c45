using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Audit;

/// <summary>
/// Public leaves (what /audit/entries and the tiles serve) carry salted commitments of actor names, case and
/// subject references and camera/site ids; the openings are for the DPO and the Authority only, one entry at a
/// time, and each opening is itself logged. Older (version 1) leaves still decode.
/// </summary>
public sealed class PublicLeafTests
{
    [Fact]
    public async Task Public_leaves_commit_to_names_and_ids_and_only_oversight_opens_them_each_time_logged()
    {
        await using var server = await RunningServer.StartAsync();
        var trail = server.Services.GetRequiredService<AuditTrail>();
        var index = await trail.AppendAsync(new AuditRecord("alice.operator", AuditActions.Match, "matched", CaseId: "SAR-2026-17",
            Parameters: new Dictionary<string, string> { ["camera"] = "camera-4711", ["site"] = "site-market-square", ["score"] = "0.71" }));

        var entries = await server.Anonymous.GetStringAsync($"/audit/entries?start={index}&count=1");
        var tile = CityWatch.AuditLog.TileId.ForTree(0, index / CityWatch.AuditLog.TileId.FullWidth, trail.Size);
        var bundle = Encoding.UTF8.GetString(await server.Anonymous.GetByteArrayAsync("/audit/" + tile.EntriesPath()));
        foreach (var published in new[] { entries, bundle })
        {
            foreach (var secret in new[] { "alice.operator", "SAR-2026-17", "camera-4711", "site-market-square" })
            {
                Assert.DoesNotContain(secret, published, StringComparison.Ordinal);
            }
        }

        using var leaf = JsonDocument.Parse(Assert.Single(trail.ReadSigned(index, 1)).Body);
        Assert.Equal(2, leaf.RootElement.GetProperty("V").GetInt32());
        Assert.Equal("0.71", leaf.RootElement.GetProperty("Parameters").GetProperty("score").GetString());

        Assert.Equal(HttpStatusCode.Forbidden, (await server.Operator.GetAsync($"/api/audit/entries/{index}/opening")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.GetAsync($"/api/audit/entries/{index}/opening")).StatusCode);
        var openings = await ApiCalls.ReadAsync<List<AuditOpening>>(await server.Dpo.GetAsync($"/api/audit/entries/{index}/opening"));
        Assert.Equal(["Actor", "CaseId", "camera", "site"], openings.Select(o => o.Field).Order(StringComparer.Ordinal));
        Assert.Equal("alice.operator", openings.Single(o => o.Field == "Actor").Value);
        foreach (var opening in openings)
        {
            var hash = SHA256.HashData([.. Convert.FromBase64String(opening.Salt), .. Encoding.UTF8.GetBytes(opening.Value)]);
            Assert.Equal("c:" + Convert.ToHexStringLower(hash), opening.Commitment);
            Assert.Contains($"\"{opening.Commitment}\"", leaf.RootElement.GetRawText(), StringComparison.Ordinal);
        }

        (await server.Authority.GetAsync($"/api/audit/entries/{index}/opening")).EnsureSuccessStatusCode();
        await trail.FlushAsync();
        var logged = trail.Read(index, 100_000, AuditActions.Opening);
        Assert.Equal(["dpo", "authority"], logged.Select(o => o.Actor));
        Assert.All(logged, o => Assert.Contains($"\"index\":\"{index}\"", o.Body, StringComparison.Ordinal));
        Assert.True(AuditVerifier.VerifyDatabase(server.Options.DatabasePath).Ok);
    }

    [Fact]
    public void Version_1_and_version_2_leaves_both_decode()
    {
        var record = new AuditRecord("bob", AuditActions.Alert, "raised", 3, "C-2", new Dictionary<string, string> { ["camera"] = "9" });
        var v1 = AuditEntry.Decode(5, AuditEntry.Encode(5, DateTimeOffset.UnixEpoch, record));
        Assert.Equal(("bob", "C-2", 3L), (v1.Actor, v1.CaseId, v1.LegalBasisId!.Value));

        var openings = new List<AuditOpening>();
        var v2 = AuditEntry.Decode(5, AuditEntry.EncodePublic(5, DateTimeOffset.UnixEpoch, record, openings));
        Assert.StartsWith("c:", v2.Actor, StringComparison.Ordinal);
        Assert.Equal((AuditActions.Alert, "raised", 3L), (v2.Action, v2.Outcome, v2.LegalBasisId!.Value));
        var opened = AuditEntry.Opened(v2, openings.ToDictionary(o => o.Commitment, o => o.Value));
        Assert.Equal(("bob", "C-2"), (opened.Actor, opened.CaseId));
        Assert.Contains("\"camera\":\"9\"", opened.Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2000)]
    public void A_commitment_is_the_hex_sha256_of_salt_then_value(int length)
    {
        var salt = System.Security.Cryptography.RandomNumberGenerator.GetBytes(16);
        var value = new string('é', length);
        var expected = "c:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData([.. salt, .. System.Text.Encoding.UTF8.GetBytes(value)]));
        Assert.Equal(expected, AuditEntry.Commitment(salt, value));
    }
}
