using System.Text.Json;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Settings;
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
    public async Task Calibrate_proposes_the_threshold_which_applies_only_once_a_second_person_approves()
    {
        var data = TestPaths.NewScratchDirectory();
        TestPaths.KekFor(data);
        var charts = Path.Combine(data, "charts");
        var (exit, output, errors) = await CliRunner.RunAsync(
            "eval", "verify", "--set", TestPaths.Faces("dlib_johns"), "--models", TestPaths.Models, "--json",
            "--data", data, "--calibrate", "--out", charts, "--kek-file", TestPaths.KekFileFor(data));

        Assert.True(exit == 0, string.Join("\n", errors));
        var root = JsonDocument.Parse(output).RootElement;
        var calibrated = root.GetProperty("calibrated_threshold").GetSingle();
        Assert.Equal(root.GetProperty("threshold_at_far").GetProperty("0.001").GetSingle(), calibrated);
        Assert.Equal(3, root.GetProperty("charts").GetArrayLength());
        Assert.All(root.GetProperty("charts").EnumerateArray(), c => Assert.True(new FileInfo(c.GetString()!).Length > 1000));

        var database = new CityWatchDatabase(Path.Combine(data, "citywatch.db"), TestPaths.KekFor(data));
        using var audit = new AuditTrail(database, TimeProvider.System);
        var settings = new SettingsStore(database, audit, TimeProvider.System);
        var proposals = new SettingProposals(database, settings, audit, TimeProvider.System);
        var proposal = Assert.Single(proposals.List());
        Assert.Equal(ProposalStatus.Pending, proposal.Status);
        Assert.NotEqual(calibrated, settings.OperatingThreshold("fr_feature"));
        await Assert.ThrowsAsync<ForbiddenException>(() => proposals.ApproveAsync(proposal.Id, "cli:eval"));

        await proposals.ApproveAsync(proposal.Id, "dpo");

        Assert.Equal(calibrated, settings.OperatingThreshold("fr_feature"));
        Assert.Single(audit.Read(0, 1000, AuditActions.SettingChange));
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
    public async Task Bad_input_gives_one_error_line_and_a_non_zero_exit(params string[] arguments)
    {
        var resolved = arguments.Select(a => a == "@ageitgey" ? TestPaths.Faces("ageitgey", "identities.csv") : a).ToArray();
        var (exit, _, errors) = await CliRunner.RunAsync(["eval", .. resolved, "--models", TestPaths.Models]);

        Assert.NotEqual(0, exit);
        var error = Assert.Single(errors);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
    }
}
