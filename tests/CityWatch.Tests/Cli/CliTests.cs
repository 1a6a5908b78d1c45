using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Cli;

/// <summary>The `citywatch` command as a user runs it, against the real server on 127.0.0.1.</summary>
public sealed class CliTests
{
    [Fact]
    public async Task Analyze_on_a_corrupt_image_prints_one_line_and_exits_non_zero()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        await server.OpenCaseAsync(await server.AddActiveBasisAsync([], [watchlist.Id], CityWatch.Grants.ProcessingPurpose.Retrospective), "C-1");
        var corrupt = Path.Combine(TestPaths.NewScratchDirectory(), "broken.jpg");
        await File.WriteAllBytesAsync(corrupt, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5]);

        var (exit, _, errors) = await CliRunner.RunAsync("analyze", corrupt, "--watchlist", "sought", "--case", "C-1", "--server", server.Address.ToString(), "--token", server.Tokens["investigator"]);

        // The job is queued, fails on decoding, and says why in one line.
        Assert.NotEqual(0, exit);
        var line = Assert.Single(errors);
        Assert.StartsWith("error: analysis job 1 failed: ", line);
        Assert.Contains("broken.jpg", line);
    }

    [Fact]
    public async Task Analyze_on_a_video_without_a_grant_is_refused_and_the_refusal_is_logged()
    {
        await using var server = await RunningServer.StartAsync();
        await server.AddWatchlistAsync("sought");

        var (exit, _, errors) = await CliRunner.RunAsync(
            "analyze", TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4"), "--watchlist", "sought", "--case", "C-1", "--server", server.Address.ToString(), "--token", server.Tokens["investigator"]);

        Assert.NotEqual(0, exit);
        Assert.Contains("403", Assert.Single(errors));
        var refusal = Assert.Single(server.Services.GetRequiredService<AuditTrail>().Read(0, 100, AuditActions.PolicyRefusal));
        Assert.Equal("C-1", refusal.CaseId);
    }

    [Fact]
    public async Task Analyze_on_a_video_under_a_grant_lists_the_faces_and_the_match()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var basis = await server.AddActiveBasisAsync([], [watchlist.Id], CityWatch.Grants.ProcessingPurpose.Retrospective, CityWatch.Grants.ProcessingPurpose.Enrolment);
        await server.OpenCaseAsync(basis, "C-1");
        (await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png"))).EnsureSuccessStatusCode();

        var (exit, output, errors) = await CliRunner.RunAsync(
            "analyze", TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4"), "--watchlist", "sought", "--case", "C-1", "--server", server.Address.ToString(), "--token", server.Tokens["investigator"]);

        Assert.True(exit == 0, string.Join('\n', errors));
        Assert.Contains("lin_manuel_miranda", output);
        Assert.Matches(@"job 1 done \(100%\): short_hamilton_clip.mp4, case C-1: \d+ frame\(s\), \d+ face\(s\), [1-9]\d* match\(es\), [1-9]\d* candidate\(s\)", output);
        var analysis = Assert.Single(server.Services.GetRequiredService<AuditTrail>().Read(0, 1000, AuditActions.Analysis));
        Assert.Equal("C-1", analysis.CaseId);
        // The upload was deleted when the job ended.
        Assert.Empty(Directory.EnumerateFiles(server.Options.UploadDirectory));
    }

    [Fact]
    public async Task Enrolling_a_photo_without_a_face_is_rejected_with_the_reason()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        await server.AddActiveBasisAsync([], [watchlist.Id], CityWatch.Grants.ProcessingPurpose.Enrolment);
        var blank = Path.Combine(TestPaths.NewScratchDirectory(), "wall.png");
        using (var bitmap = new SkiaSharp.SKBitmap(200, 200))
        {
            bitmap.Erase(SkiaSharp.SKColors.Gray);
            using var png = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
            await File.WriteAllBytesAsync(blank, png.ToArray());
        }

        var (exit, _, errors) = await CliRunner.RunAsync("watchlist", "enroll", "sought", blank, "--label", "nobody", "--server", server.Address.ToString(), "--token", server.Tokens["investigator"]);

        Assert.NotEqual(0, exit);
        Assert.Contains("wall.png: no face found", Assert.Single(errors));
        Assert.Single(server.Services.GetRequiredService<AuditTrail>().Read(0, 100, AuditActions.EnrolmentRejected));
    }

    [Fact]
    public async Task Camera_import_reports_a_bad_row_by_line_before_sending_anything()
    {
        await using var server = await RunningServer.StartAsync();
        var csv = Path.Combine(TestPaths.NewScratchDirectory(), "city.csv");
        await File.WriteAllTextAsync(csv, "site_code,latitude,longitude,camera_code,camera_name,owner,purpose\nS1,44.8,20.4,C1,North,City,order\nS1,91,20.4,C2,South,City,order\n");

        var (exit, _, errors) = await CliRunner.RunAsync("cameras", "import", csv, "--server", server.Address.ToString(), "--token", server.Tokens["admin"]);

        Assert.NotEqual(0, exit);
        Assert.Equal("error: 1 problem in the inventory, nothing imported: line 3, latitude: 91 is out of range: -90 to 90", Assert.Single(errors));
    }

    [Fact]
    public async Task Models_fetch_refuses_a_file_whose_checksum_does_not_match()
    {
        var source = TestPaths.NewScratchDirectory();
        foreach (var model in Directory.EnumerateFiles(TestPaths.Models, "*.onnx"))
        {
            File.Copy(model, Path.Combine(source, Path.GetFileName(model)));
        }

        var tampered = Path.Combine(source, "fr_feature.onnx");
        var bytes = await File.ReadAllBytesAsync(tampered);
        bytes[^1] ^= 0xFF;
        await File.WriteAllBytesAsync(tampered, bytes);
        var target = TestPaths.NewScratchDirectory();

        var (exit, _, errors) = await CliRunner.RunAsync(
            "models", "fetch", "--models", target, "--from", source, "--assets", Path.Combine(target, "assets"), "--assets-from", TestPaths.SharedData);

        Assert.NotEqual(0, exit);
        Assert.Contains("fr_feature.onnx", Assert.Single(errors));
        Assert.False(File.Exists(Path.Combine(target, "fr_feature.onnx")));
    }
}
