using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Governance;

/// <summary>What the governance tests share: the camera path's own question to the engine, the log, extra accounts.</summary>
internal static class GovernanceKit
{
    public static readonly string Photo = TestPaths.Faces("ageitgey", "examples", "lin-manuel-miranda.png");
    public static readonly string OtherPhoto = TestPaths.Faces("ageitgey", "examples", "biden.jpg");

    /// <summary>Asks the server's engine exactly what a camera worker asks every ~10 s: live, this camera, every watchlist, partial allowed.</summary>
    public static Task<PolicyDecision> CameraPathAsync(this RunningServer server, long cameraId)
    {
        var all = server.Services.GetRequiredService<WatchlistStore>().List().Select(w => w.Id).ToList();
        return server.Services.GetRequiredService<PolicyEngine>().AuthorizeAsync(
            new PolicyRequest(FrameAnalyzer.CameraActor, ProcessingPurpose.Live, cameraId, all, AllowPartial: true));
    }

    public static IReadOnlyList<LoggedAct> Logged(this RunningServer server, string action) =>
        server.Services.GetRequiredService<AuditTrail>().Read(0, 10_000, action);

    public static async Task<HttpResponseMessage> AnalyzeAsync(this RunningServer server, string watchlist, string? caseId)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(Photo)), "file", "probe.png");
        var query = caseId is null ? $"watchlist={watchlist}" : $"watchlist={watchlist}&case={caseId}";
        return await server.Investigator.PostAsync($"/api/analyze?{query}", form);
    }
}
