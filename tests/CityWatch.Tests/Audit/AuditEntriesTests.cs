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
    public async Task A_leaf_row_is_its_index_action_and_entry_and_holds_nothing_in_clear_that_the_entry_commits_to()
    {
        await using var server = await RunningServer.StartAsync();
        var trail = server.Services.GetRequiredService<AuditTrail>();
        var index = await trail.AppendAsync(new AuditRecord(
            "alice-the-operator", AuditActions.Analysis, "looked", LegalBasisId: 7, CaseId: "CASE-SECRET-1",
            Parameters: new Dictionary<string, string> { ["camera"] = "CAM-SECRET-9" }));
        using var connection = new SqliteConnection($"Data Source={server.Options.DatabasePath}");
        connection.Open();

        var columns = connection.Query<string>("SELECT name FROM pragma_table_info('audit_leaves') ORDER BY cid");
        Assert.Equal(["idx", "action", "entry"], columns);
        var row = connection.QuerySingle<(long Index, string Action, byte[] Entry)>("SELECT idx, action, entry FROM audit_leaves WHERE idx = @index", new { index });
        Assert.Equal(AuditActions.Analysis, row.Action);
        var entry = System.Text.Encoding.UTF8.GetString(row.Entry);
        foreach (var secret in new[] { "alice-the-operator", "CASE-SECRET-1", "CAM-SECRET-9" })
        {
            Assert.DoesNotContain(secret, entry, StringComparison.Ordinal);
        }

        // The values are only in the openings, which store no commitment; each is computed and found in the leaf.
        var stored = connection.QuerySingle<string>("SELECT openings FROM audit_leaf_openings WHERE idx = @index", new { index });
        Assert.DoesNotContain("Commitment", stored, StringComparison.Ordinal);
        var openings = trail.Openings(index);
        Assert.Equal(["Actor", "CaseId", "camera"], openings.Select(o => o.Field).Order(StringComparer.Ordinal));
        Assert.All(openings, o => Assert.Contains($"\"{o.Commitment}\"", entry, StringComparison.Ordinal));
        Assert.Equal("alice-the-operator", openings.Single(o => o.Field == "Actor").Value);
    }

    [Fact]
    public async Task Entries_show_the_signed_leaf_even_when_the_index_column_was_rewritten()
    {
        await using var server = await RunningServer.StartAsync();
        var trail = server.Services.GetRequiredService<AuditTrail>();
        var index = await trail.AppendAsync(new AuditRecord("alice", AuditActions.Analysis, "looked", LegalBasisId: 7, CaseId: "C-1"));
        using (var connection = new SqliteConnection($"Data Source={server.Options.DatabasePath}"))
        {
            connection.Open();
            connection.Execute("DROP TRIGGER audit_leaves_no_update");
            Assert.Equal(1, connection.Execute("UPDATE audit_leaves SET action = 'policy.grant' WHERE idx = @index", new { index }));
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
        Assert.DoesNotContain("C-9", shown.GetRawText(), StringComparison.Ordinal);
        // Inside the system the commitments open to what the act recorded, not to the rewritten columns.
        var opened = Assert.Single(trail.Read(index, 1));
        Assert.Equal(("alice", "C-1"), (opened.Actor, opened.CaseId));
        // A rewritten action column does not slip the act into another action's listing either.
        Assert.DoesNotContain(trail.Read(0, 100_000, AuditActions.PolicyGrant), a => a.Index == index);
    }
}
