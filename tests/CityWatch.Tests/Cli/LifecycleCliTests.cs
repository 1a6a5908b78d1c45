using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Cli.Hosting;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Settings;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Cli;

/// <summary>The whole lifecycle of a live use with the `citywatch` command only, each step as the account that may take it.</summary>
public sealed class LifecycleCliTests
{
    [Fact]
    public async Task The_cli_alone_registers_authorises_deploys_verifies_exports_and_reports()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("SQ1", null);
        var scratch = Directory.CreateTempSubdirectory("citywatch-cli-").FullName;
        var now = TimeProvider.System.GetUtcNow();
        var basisFile = Path.Combine(scratch, "basis.yaml");
        await File.WriteAllTextAsync(basisFile, $"""
            title: Search for a missing child
            instrument: Police Act s.12
            authority: District court
            objective: VictimOrMissingPersonSearch
            objectiveDetail: "A child reported missing on 1 December"
            purposes: [Live, Enrolment, Retrospective]
            validFrom: {now.AddMinutes(-1):O}
            validUntil: {now.AddDays(1):O}
            maxRetentionDays: 14
            """);

        var watchlist = await Cli(server, "investigator", "watchlist", "create", "missing", "--description", "missing child");
        var watchlistId = Id(watchlist[(watchlist.IndexOf("watchlist ", StringComparison.Ordinal) + 10)..].Split(' ')[0]);
        var basisId = Json(await Cli(server, "investigator", "legal-basis", "register", "--file", basisFile, "--cameras", Text(camera.Id), "--watchlists", Text(watchlistId), "--json")).GetProperty("id").GetInt64();
        await Cli(server, "investigator", "legal-basis", "prerequisites", Text(basisId),
            "--dpia", "DPIA-7", "--registration", "EU-DB-7", "--regulator-opinion", "REG-7",
            "--fria-processes", "live search", "--fria-period", "one day", "--fria-affected", "passers-by", "--fria-risks", "misidentification",
            "--fria-oversight", "two verifiers", "--fria-mitigation", "complaints office");
        var byRegistrant = await CliRunner.RunAsync(["legal-basis", "authorise", Text(basisId), "--reference", "COURT-7", .. As(server, "investigator")]);
        var authorised = Json(await Cli(server, "authority", "legal-basis", "authorise", Text(basisId), "--reference", "COURT-7", "--json"));
        await Cli(server, "investigator", "watchlist", "enroll", "missing", TestPaths.Faces("ageitgey", "examples", "obama.jpg"), "--label", "missing child", "--category", "missing person");
        await Cli(server, "authority", "watchlist", "approve", "missing");
        var deployment = Json(await Cli(server, "operator", "deployment", "start", "--basis", Text(basisId), "--cameras", Text(camera.Id), "--watchlists", Text(watchlistId), "--json"));
        var deployments = await Cli(server, "operator", "deployment", "list");
        var shown = await Cli(server, "operator", "legal-basis", "show", Text(basisId));

        // The camera path raises the alert (as EvidenceFixture stores it); everything after is the CLI again.
        var raised = server.AddAlert(EvidenceFixture.PhotoCrop("obama_small.jpg"), camera.Id, watchlistId, basisId);
        var listed = Json(await Cli(server, "operator", "alerts", "list", "--json"));
        var table = await Cli(server, "operator", "alerts", "list");
        var first = await Cli(server, "verifier", "alerts", "decide", Text(raised.Id), "confirm", "--note", "same person");
        var second = await Cli(server, "verifier2", "alerts", "decide", Text(raised.Id), "confirm");
        var zipPath = Path.Combine(scratch, "evidence.zip");
        var export = Json(await Cli(server, "investigator", "alerts", "export", Text(raised.Id), "--purpose", "return the child", "--recipient", "child protection", "--out", zipPath, "--json"));
        var report = await Cli(server, "authority", "reports", "use", Text(basisId));

        Assert.NotEqual(0, byRegistrant.ExitCode);
        Assert.StartsWith("error: server answered 403", Assert.Single(byRegistrant.Errors), StringComparison.Ordinal);
        Assert.Equal(nameof(LegalBasisStatus.Active), authorised.GetProperty("status").GetString());
        Assert.Equal(14, authorised.GetProperty("maxRetentionDays").GetInt32());
        Assert.Equal("A child reported missing on 1 December", authorised.GetProperty("objectiveDetail").GetString());
        Assert.True(deployment.GetProperty("running").GetBoolean());
        Assert.Contains("running", deployments, StringComparison.Ordinal);
        Assert.Contains("COURT-7 by authority", shown, StringComparison.Ordinal);
        Assert.Equal(raised.Id, listed.GetProperty("items")[0].GetProperty("id").GetInt64());
        Assert.Contains(table.Split('\n'), line => line.Contains("entry-7", StringComparison.Ordinal) && line.Contains("candidate", StringComparison.Ordinal));
        Assert.Contains("it is now candidate", first, StringComparison.Ordinal);
        Assert.Contains("it is now confirmed", second, StringComparison.Ordinal);
        Assert.Equal(AlertStore.Confirmed, server.Services.GetRequiredService<AlertStore>().Get(raised.Id).Status);
        var zip = await File.ReadAllBytesAsync(zipPath);
        Assert.Equal(zip.Length, export.GetProperty("bytes").GetInt32());
        using (var archive = new ZipArchive(new MemoryStream(zip)))
        {
            var manifest = archive.GetEntry("manifest.json")!;
            using var stream = manifest.Open();
            Assert.Equal(export.GetProperty("manifestSha256").GetString(), Convert.ToHexStringLower(await SHA256.HashDataAsync(stream)));
        }

        Assert.Contains(server.Logged(EvidenceActions.Export), r => r.Actor == "investigator" && r.Body.Contains(export.GetProperty("manifestSha256").GetString()!, StringComparison.Ordinal));
        Assert.Contains($"# Notification of use: legal basis {basisId}, Search for a missing child", report, StringComparison.Ordinal);
        Assert.Contains("Status | Active", report, StringComparison.Ordinal);
        Directory.Delete(scratch, recursive: true);
    }

    [Fact]
    public async Task Cases_settings_subject_access_and_revocation_go_through_the_api_as_the_signed_in_account()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("ARCHIVE", null);
        var watchlist = await server.AddWatchlistAsync("archive");
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id], ProcessingPurpose.Retrospective);

        var opened = Json(await Cli(server, "investigator", "case", "open", "--number", "PD-2026-0017", "--basis", Text(basis.Id), "--cameras", Text(camera.Id), "--json"));
        var cases = await Cli(server, "dpo", "case", "list");
        var closed = await Cli(server, "investigator", "case", "close", Text(opened.GetProperty("id").GetInt64()), "--reason", "solved");
        var key = SettingsStore.ThresholdKey("fr_feature");
        var proposal = Json(await Cli(server, "investigator", "settings", "propose", key, "0.5", "--reason", "calibrated on our footage", "--json"));
        var approved = await Cli(server, "dpo", "settings", "approve", Text(proposal.GetProperty("id").GetInt64()));
        var settings = Json(await Cli(server, "operator", "settings", "list", "--json"));
        var request = Json(await Cli(server, "dpo", "subject-access", "register", "--identity-ref", "P-123456", "--verification", "DocumentInPerson", "--received-at", TimeProvider.System.GetUtcNow().AddHours(-2).ToString("O", CultureInfo.InvariantCulture), "--json"));
        var early = await CliRunner.RunAsync(["subject-access", "approve", Text(request.GetProperty("id").GetInt64()), .. As(server, "authority")]);
        var requests = await Cli(server, "authority", "subject-access", "list");
        var revoked = Json(await Cli(server, "dpo", "legal-basis", "revoke", Text(basis.Id), "--json"));

        Assert.Equal(basis.ValidUntil, opened.GetProperty("expiresAt").GetDateTimeOffset());
        Assert.Contains(cases.Split('\n'), line => line.Contains("PD-2026-0017", StringComparison.Ordinal) && line.Contains("Open", StringComparison.Ordinal));
        Assert.Contains("closed case", closed, StringComparison.Ordinal);
        Assert.Contains("proposal", approved, StringComparison.Ordinal);
        Assert.Contains("approved", approved, StringComparison.Ordinal);
        Assert.Contains(settings.EnumerateArray(), s => s.GetProperty("key").GetString() == key && s.GetProperty("value").GetString() == "0.5");
        Assert.DoesNotContain("P-123456", request.GetRawText(), StringComparison.Ordinal);
        Assert.NotEqual(0, early.ExitCode);
        Assert.StartsWith("error: server answered 4", Assert.Single(early.Errors), StringComparison.Ordinal);
        Assert.Contains("Received", requests, StringComparison.Ordinal);
        Assert.Equal(nameof(LegalBasisStatus.Revoked), revoked.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Help_never_shows_the_token_or_the_totp_code_from_the_environment()
    {
        var secrets = new Dictionary<string, string> { ["CITYWATCH_TOKEN"] = "cws_not-for-your-eyes", ["CITYWATCH_TOTP"] = "918273" };

        var alerts = await CliRunner.RunWithEnvironmentAsync(secrets, "alerts", "list", "--help");
        var signIn = await CliRunner.RunWithEnvironmentAsync(secrets, "users", "sign-in", "--help");
        var cameras = await CliRunner.RunWithEnvironmentAsync(secrets, "cameras", "list", "--help");

        Assert.Contains("--token", alerts.Output, StringComparison.Ordinal);
        Assert.Contains("--totp", signIn.Output, StringComparison.Ordinal);
        foreach (var help in new[] { alerts, signIn, cameras })
        {
            Assert.Equal(0, help.ExitCode);
            Assert.DoesNotContain("not-for-your-eyes", help.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("918273", help.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_refused_step_is_one_line_and_a_nonzero_exit_and_leaves_the_basis_as_it_was()
    {
        await using var server = await RunningServer.StartAsync();
        var registered = await CliRunner.RunAsync(["legal-basis", "register", "--title", "No detail", "--instrument", "Act", "--authority", "Court",
            "--objective", "ImminentThreat", "--purposes", "Live", "--from", "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z", .. As(server, "investigator")]);
        var missing = await CliRunner.RunAsync(["legal-basis", "show", "999", .. As(server, "authority")]);
        var list = Json(await Cli(server, "authority", "legal-basis", "list", "--json"));

        Assert.NotEqual(0, registered.ExitCode);
        Assert.StartsWith("error: server answered 400", Assert.Single(registered.Errors), StringComparison.Ordinal);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.StartsWith("error: server answered 404", Assert.Single(missing.Errors), StringComparison.Ordinal);
        Assert.Equal(0, list.GetArrayLength());
    }

    [Fact]
    public void A_yaml_request_file_keeps_quoted_text_as_text_and_reads_plain_numbers_booleans_and_lists()
    {
        var file = new FileInfo(Path.Combine(Path.GetTempPath(), $"citywatch-{Guid.NewGuid():N}.yaml"));
        File.WriteAllText(file.FullName, "title: '30'\nmaxRetentionDays: 30\nurgent: true\noffence: ~\ncameraIds: [1, 2]\nfria:\n  risks: |\n    misidentification\n");

        var body = RequestFile.Read(file);
        file.Delete();

        Assert.Equal("30", body["title"]!.GetValue<string>());
        Assert.Equal(30, body["maxRetentionDays"]!.GetValue<long>());
        Assert.True(body["urgent"]!.GetValue<bool>());
        Assert.Null(body["offence"]);
        Assert.Equal([1L, 2L], body["cameraIds"]!.AsArray().Select(n => n!.GetValue<long>()));
        Assert.Equal("misidentification\n", body["fria"]!["risks"]!.GetValue<string>());
    }

    private static string[] As(RunningServer server, string account) => ["--server", server.Address.ToString(), "--token", server.Tokens[account]];

    /// <summary>Runs a CLI command as <paramref name="account"/>; it must succeed. Returns its output.</summary>
    private static async Task<string> Cli(RunningServer server, string account, params string[] arguments)
    {
        var (exit, output, errors) = await CliRunner.RunAsync([.. arguments, .. As(server, account)]);
        Assert.True(exit == 0, $"citywatch {string.Join(' ', arguments)} as {account} exited {exit}: {string.Join(" | ", errors)}");
        return output;
    }

    private static JsonElement Json(string output) => JsonDocument.Parse(output).RootElement.Clone();

    private static string Text(long id) => id.ToString(CultureInfo.InvariantCulture);

    private static long Id(string text) => long.Parse(text, CultureInfo.InvariantCulture);
}
