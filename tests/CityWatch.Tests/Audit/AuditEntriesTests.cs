using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Audit;

/// <summary>/audit/entries shows what the signed leaves say, never the side columns that only index them.</summary>
public sealed class AuditEntriesTests
{
    [Fact]
    public async Task Entries_show_the_signed_leaf_even_when_the_index_columns_were_rewritten()
    {
        await using var server = await RunningServer.StartAsync();
        var trail = server.Services.GetRequiredService<AuditTrail>();
        var index = await trail.AppendAsync(new AuditRecord("alice", AuditActions.Analysis, "looked", LegalBasisId: 7, CaseId: "C-1"));
        using (var connection = new SqliteConnection($"Data Source={server.Options.DatabasePath}"))
        {
            connection.Open();
            connection.Execute("DROP TRIGGER audit_leaves_no_update");
            connection.Execute(
                "UPDATE audit_leaves SET actor = 'mallory', action = 'policy.grant', outcome = 'forged', legal_basis_id = 99, case_id = 'C-9' WHERE idx = @index",
                new { index });
        }

        SqliteConnection.ClearAllPools();
        var entries = await server.Anonymous.GetFromJsonAsync<List<JsonElement>>($"/audit/entries?start={index}&count=1");
        var shown = Assert.Single(entries!);
        Assert.Equal(index, shown.GetProperty("index").GetInt64());
        var signed = Assert.Single(trail.ReadSigned(index, 1));
        Assert.Equal(signed.Actor, shown.GetProperty("actor").GetString()); // the leaf's commitment, not a column
        Assert.StartsWith("c:", signed.Actor, StringComparison.Ordinal);
        Assert.Equal(AuditActions.Analysis, shown.GetProperty("action").GetString());
        Assert.Equal("looked", shown.GetProperty("outcome").GetString());
        Assert.Equal(7, shown.GetProperty("legalBasisId").GetInt64());
        Assert.Equal(signed.CaseId, shown.GetProperty("caseId").GetString());
        Assert.DoesNotContain("mallory", shown.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain("C-9", shown.GetRawText(), StringComparison.Ordinal);
        // Inside the system the commitments open to what the act recorded, not to the rewritten columns.
        var opened = Assert.Single(trail.Read(index, 1));
        Assert.Equal(("alice", "C-1"), (opened.Actor, opened.CaseId));
        // A rewritten action column does not slip the act into another action's listing either.
        Assert.DoesNotContain(trail.Read(0, 100_000, AuditActions.PolicyGrant), a => a.Index == index);
    }
}
