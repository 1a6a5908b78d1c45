using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Investigations;

/// <summary>`citywatch analyze` as an investigator runs it: upload and detach, then come back to the job.</summary>
public sealed class AnalyzeCliTests
{
    [Fact]
    public async Task A_detached_analysis_can_be_reattached_and_lists_its_candidates()
    {
        await using var server = await RunningServer.StartAsync();
        var watchlist = await server.AddWatchlistAsync("sought");
        var basis = await server.AddActiveBasisAsync([], [watchlist.Id], ProcessingPurpose.Retrospective, ProcessingPurpose.Enrolment);
        await server.OpenCaseAsync(basis, "C-7");
        (await server.EnrolAsync(watchlist.Id, "lin_manuel_miranda", TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png"))).EnsureSuccessStatusCode();
        string[] signedIn = ["--server", server.Address.ToString(), "--token", server.Tokens["investigator"]];

        var detached = await CliRunner.RunAsync(["analyze", TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4"), "--watchlist", "sought", "--case", "C-7", "--detach", .. signedIn]);
        var watched = await CliRunner.RunAsync(["analyze", "watch", "1", .. signedIn]);
        var status = await CliRunner.RunAsync(["analyze", "status", "1", .. signedIn]);
        var unknown = await CliRunner.RunAsync(["analyze", "status", "99", .. signedIn]);

        Assert.True(detached.ExitCode == 0, string.Join('\n', detached.Errors));
        Assert.Contains("job 1 queued for case C-7; follow it with: citywatch analyze watch 1", detached.Output, StringComparison.Ordinal);
        Assert.True(watched.ExitCode == 0, string.Join('\n', watched.Errors));
        Assert.Matches(@"alert \d+ lin_manuel_miranda 0\.\d{3} \(threshold 0\.\d{3}\) at 00:0\d\.\d-00:0\d\.\d, \d+ frame\(s\); top: lin_manuel_miranda", watched.Output);
        Assert.StartsWith("job 1 done (100%): short_hamilton_clip.mp4, case C-7:", status.Output, StringComparison.Ordinal);
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Equal("error: server answered 404: No analysis job 99.", Assert.Single(unknown.Errors));
    }
}
