using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Evaluation;
using CityWatch.Policy;
using CityWatch.Settings;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Evaluation;

/// <summary>`citywatch eval` run as a child process, as a user runs it.</summary>
public sealed class EvalCommandTests
{
    [Fact]
    public async Task Verify_json_is_one_object_with_the_figures_and_nulls_where_the_set_is_too_small()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "eval", "verify", "--set", TestPaths.Faces("ageitgey", "identities.csv"), "--models", TestPaths.Models, "--json");

        Assert.True(exit == 0, string.Join("\n", errors));
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(105, root.GetProperty("pairs").GetInt32());
        Assert.Equal(14, root.GetProperty("genuine").GetInt32());
        Assert.Equal(91, root.GetProperty("impostor").GetInt32());
        Assert.Equal(0, root.GetProperty("no_face").GetInt32());
        Assert.InRange(root.GetProperty("auc").GetDouble(), 0.99, 1.0);
        Assert.Equal(JsonValueKind.Number, root.GetProperty("eer").ValueKind);
        foreach (var name in new[] { "tar_at_far", "threshold_at_far" })
        {
            var byFar = root.GetProperty(name);
            Assert.Equal(JsonValueKind.Null, byFar.GetProperty("0.01").ValueKind);
            Assert.Equal(JsonValueKind.Null, byFar.GetProperty("0.001").ValueKind);
        }
    }

    [Fact]
    public async Task Verify_json_has_tar_and_threshold_where_the_set_resolves_the_far()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "eval", "verify", "--set", TestPaths.Faces("dlib_johns"), "--models", TestPaths.Models, "--json");

        Assert.True(exit == 0, string.Join("\n", errors));
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(1485, root.GetProperty("pairs").GetInt32());
        Assert.True(root.GetProperty("auc").GetDouble() > 0.99);
        Assert.InRange(root.GetProperty("tar_at_far").GetProperty("0.001").GetDouble(), 0.9, 1.0);
        var threshold = root.GetProperty("threshold_at_far").GetProperty("0.001").GetDouble();
        Assert.True(threshold > root.GetProperty("impostor_max").GetDouble() - 0.1);
    }

    [Fact]
    public async Task Verify_with_fuse_with_scores_the_fused_embedder_and_names_it_and_its_weights()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "eval", "verify", "--set", TestPaths.Faces("ageitgey", "identities.csv"), "--models", TestPaths.Models, "--json", "--fuse-with", "faceres");

        Assert.True(exit == 0, string.Join("\n", errors));
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal("fr_feature+faceres", root.GetProperty("embedder").GetString());
        Assert.Equal("faceres", root.GetProperty("fuse_with").GetString());
        var weights = root.GetProperty("fusion_weights");
        Assert.Equal(1.0, weights.GetProperty("fr_feature").GetDouble() + weights.GetProperty("faceres").GetDouble(), 5);
        Assert.Equal(105, root.GetProperty("pairs").GetInt32());
        Assert.InRange(root.GetProperty("auc").GetDouble(), 0.99, 1.0);
        Assert.True(root.GetProperty("impostor_sd").GetDouble() > 0);
    }

    [Fact]
    public async Task Calibrate_proposes_the_threshold_through_the_server_as_the_signed_in_person_and_it_applies_only_once_a_second_person_approves()
    {
        await using var server = await RunningServer.StartAsync();
        var charts = Path.Combine(server.Options.DataDirectory, "charts");
        var (exit, output, errors) = await CliRunner.RunAsync(
            "eval", "verify", "--set", TestPaths.Faces("dlib_johns"), "--models", TestPaths.Models, "--json",
            "--calibrate", "--server", server.Address.ToString(), "--token", server.Tokens["investigator"], "--out", charts);

        Assert.True(exit == 0, string.Join("\n", errors));
        var root = JsonDocument.Parse(output).RootElement;
        var calibrated = root.GetProperty("calibrated_threshold").GetSingle();
        Assert.Equal(root.GetProperty("threshold_at_far").GetProperty("0.001").GetSingle(), calibrated);
        Assert.Equal(3, root.GetProperty("charts").GetArrayLength());
        Assert.All(root.GetProperty("charts").EnumerateArray(), c => Assert.True(new FileInfo(c.GetString()!).Length > 1000));

        var proposals = server.Services.GetRequiredService<SettingProposals>();
        var settings = server.Services.GetRequiredService<SettingsStore>();
        var proposal = Assert.Single(proposals.List());
        Assert.Equal(ProposalStatus.Pending, proposal.Status);
        Assert.Equal("investigator", proposal.ProposedBy);
        Assert.NotEqual(calibrated, settings.OperatingThreshold("fr_feature"));
        // The city's register holds no evaluation basis: the evaluation ran in a scratch folder of its own.
        Assert.DoesNotContain(server.Services.GetRequiredService<LegalBasisStore>().List(), b => b.Title == EvaluationCity.BasisTitle);

        (await server.Dpo.PostAsync($"/api/settings/proposals/{proposal.Id}/approve", null)).EnsureSuccessStatusCode();

        Assert.Equal(calibrated, settings.OperatingThreshold("fr_feature"));
        Assert.Single(server.Services.GetRequiredService<AuditTrail>().Read(0, 1000, AuditActions.SettingChange));
    }

    [Fact]
    public async Task Eval_pointed_at_a_citys_data_folder_is_refused_and_writes_nothing_into_its_register()
    {
        var data = TestPaths.NewScratchDirectory();
        try
        {
            await using (var server = await RunningServer.StartAsync(dataDirectory: data))
            {
                // The city as it stands: accounts, and no legal basis.
            }

            var before = RegisterOf(data);
            var (exit, _, errors) = await CliRunner.RunAsync(
                "eval", "verify", "--set", TestPaths.Faces("ageitgey", "identities.csv"), "--models", TestPaths.Models, "--data", data);

            Assert.NotEqual(0, exit);
            Assert.Contains(errors, e => e.Contains("--data", StringComparison.Ordinal));
            Assert.Equal(before, RegisterOf(data));
            Assert.Equal(0, before.Bases);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
            TestPaths.DeleteKekOf(data);
        }
    }

    // The city's register and log as they stand on disk: legal bases, setting proposals, log entries.
    private static (long Bases, long Proposals, long Logged) RegisterOf(string data)
    {
        using var connection = new CityWatchDatabase(Path.Combine(data, "citywatch.db"), TestPaths.KekFor(data)).Open();
        var proposals = connection.ExecuteScalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE name = 'setting_proposals'") == 0
            ? 0
            : connection.ExecuteScalar<long>("SELECT COUNT(*) FROM setting_proposals");
        return (connection.ExecuteScalar<long>("SELECT COUNT(*) FROM legal_bases"), proposals, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_leaves"));
    }

    [Fact]
    public async Task Detect_json_reports_precision_and_recall_at_both_ious()
    {
        var (exit, output, errors) = await CliRunner.RunAsync(
            "eval", "detect", "--set", TestPaths.Faces("dlib_faces", "testing.xml"), "--models", TestPaths.Models, "--json");

        Assert.True(exit == 0, string.Join("\n", errors));
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(25, root.GetProperty("faces").GetInt32());
        Assert.Equal(1.0, root.GetProperty("iou").GetProperty("0.3").GetProperty("recall").GetDouble());
        Assert.Equal(JsonValueKind.Number, root.GetProperty("iou").GetProperty("0.5").GetProperty("precision").ValueKind);
    }

    [Theory]
    [InlineData("verify", "--set", "/no/such/set.csv")]
    [InlineData("verify", "--set", "@ageitgey", "--calibrate")]
    [InlineData("verify", "--set", "@ageitgey", "--target-far", "2")]
    [InlineData("detect", "--set", "@ageitgey")]
    [InlineData("verify", "--set", "@ageitgey", "--fuse-with", "fr_feature")]
    [InlineData("verify", "--set", "@ageitgey", "--fuse-with", "faceres", "--calibrate", "--token", "t")]
    public async Task Bad_input_gives_one_error_line_and_a_non_zero_exit(params string[] arguments)
    {
        var resolved = arguments.Select(a => a == "@ageitgey" ? TestPaths.Faces("ageitgey", "identities.csv") : a).ToArray();
        var (exit, _, errors) = await CliRunner.RunAsync(["eval", .. resolved, "--models", TestPaths.Models]);

        Assert.NotEqual(0, exit);
        var error = Assert.Single(errors);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
    }
}
