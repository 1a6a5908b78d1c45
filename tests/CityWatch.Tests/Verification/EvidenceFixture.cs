using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Matching;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Verification;

/// <summary>Alerts made without a live camera: stored through the server's own AlertStore, as the recognition path stores them.</summary>
internal static class EvidenceFixture
{
    public static byte[] BlankCrop { get; } = ImageCodec.EncodeJpeg(BgrImage.Blank(32, 32));

    /// <summary>The crop of an alert: a shared photo, re-encoded as JPEG as the camera path does.</summary>
    public static byte[] PhotoCrop(string name) => ImageCodec.EncodeJpeg(ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", name)));

    public static Alert AddAlert(this RunningServer server, byte[]? crop = null, long cameraId = 1, long watchlistId = 1, long legalBasisId = 1, DateTimeOffset? at = null) =>
        server.Services.GetRequiredService<AlertStore>().Add(New(crop ?? BlankCrop, cameraId, watchlistId, legalBasisId, at ?? TimeProvider.System.GetUtcNow()));

    public static NewAlert New(byte[] crop, long cameraId, long watchlistId, long legalBasisId, DateTimeOffset at) =>
        new(
            cameraId, watchlistId, 7, "entry-7", legalBasisId, Guid.NewGuid(), at, 0.61f, 0.45f, new FaceBox(10, 10, 40, 40), crop,
            Guid.NewGuid(), 3, 0.83f, [new MatchCandidate(watchlistId, 7, "entry-7", 0.61f), new MatchCandidate(watchlistId, 9, "entry-9", 0.47f)]);

    public static IReadOnlyList<LoggedAct> Logged(this RunningServer server, string action) =>
        server.Services.GetRequiredService<AuditTrail>().Read(0, 100_000, action);
}
