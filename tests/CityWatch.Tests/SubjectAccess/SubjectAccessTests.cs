using System.Net;
using System.Net.Http.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.SubjectAccess;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using CityWatch.Vision;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.SubjectAccess;

/// <summary>G19 through the API: the requester's own photo finds only their records, with everyone else pixelated.</summary>
public sealed class SubjectAccessTests
{
    [Fact]
    public async Task A_subject_access_answer_holds_only_the_requesters_records_with_others_blurred()
    {
        await using var server = await RunningServer.StartAsync();
        var alone = server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"));
        var someoneElse = server.AddAlert(EvidenceFixture.PhotoCrop("biden.jpg"));
        var together = server.AddAlert(EvidenceFixture.PhotoCrop(Path.Combine("knn_examples", "test", "obama_and_biden.jpg")));
        var evidenceFiles = Directory.GetFiles(server.Services.GetRequiredService<AlertStore>().EvidenceDirectory).Length;

        var request = await RegisterAsync(server);
        await ApiCalls.ReadAsync<SubjectAccessRequest>(await SearchAsync(server, request.Id, "obama.jpg"));
        await ApiCalls.ReadAsync<SubjectAccessRequest>(await server.Authority.PostAsync($"/api/subject-access/requests/{request.Id}/approve", null));
        var answer = await ApiCalls.ReadAsync<SubjectAccessAnswer>(await server.Dpo.GetAsync($"/api/subject-access/requests/{request.Id}/answer"));

        Assert.Equal(3, answer.Searched);
        Assert.Equal([alone.Id, together.Id], answer.Records.Select(r => r.AlertId).Order());
        Assert.DoesNotContain(answer.Records, r => r.AlertId == someoneElse.Id);

        // In the returned crop of the two of them, the requester is still recognisable and the other person is not.
        var (pipeline, grant) = await VisionAsync(server);
        var requester = Largest(pipeline, grant, "obama.jpg");
        var other = Largest(pipeline, grant, "biden.jpg");
        var shown = ImageCodec.Decode(answer.Records.Single(r => r.AlertId == together.Id).RedactedCropJpeg);
        var faces = pipeline.Detect(grant, shown).Select(f => pipeline.Embed(grant, shown, f)).ToList();
        Assert.Contains(faces, f => FacePipeline.Similarity(f, requester) >= answer.Threshold);
        Assert.All(faces, f => Assert.True(FacePipeline.Similarity(f, other) < 0.3f, $"a face in the answer still resembles the other person ({FacePipeline.Similarity(f, other):0.00})"));
        var original = ImageCodec.Decode(EvidenceFixture.PhotoCrop(Path.Combine("knn_examples", "test", "obama_and_biden.jpg")));
        var bidenBox = pipeline.Detect(grant, original).MaxBy(f => FacePipeline.Similarity(pipeline.Embed(grant, original, f), other))!.Box;
        Assert.True(Detail(shown, bidenBox) < Detail(original, bidenBox) / 4, "the other face keeps its detail");

        var logged = Assert.Single(server.Logged(EvidenceActions.SubjectAccess));
        Assert.Equal(("dpo", request.Reference, 2), (logged.Actor, logged.CaseId, EvidenceSearchTests.ResultCount(logged)));
        Assert.Equal(evidenceFiles, Directory.GetFiles(server.Services.GetRequiredService<AlertStore>().EvidenceDirectory).Length); // the probe is not stored
    }

    [Fact]
    public async Task A_search_for_an_unregistered_request_processes_nothing()
    {
        await using var server = await RunningServer.StartAsync();
        server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"));

        using var response = await SearchAsync(server, 999, "obama.jpg");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(server.Logged(AuditActions.PolicyGrant));
        Assert.Empty(server.Logged(EvidenceActions.KeyRelease));
    }

    [Fact]
    public async Task Only_the_data_protection_officer_registers_and_searches_access_requests()
    {
        await using var server = await RunningServer.StartAsync();
        var request = await RegisterAsync(server);

        using var form = new MultipartFormDataContent { { new ByteArrayContent(File.ReadAllBytes(TestPaths.Faces("ageitgey", "examples", "obama.jpg"))), "photo", "obama.jpg" } };
        using var search = await server.Investigator.PostAsync($"/api/subject-access/requests/{request.Id}/search", form);
        using var register = await server.Investigator.PostAsJsonAsync("/api/subject-access/requests", Input, ApiCalls.Json);

        Assert.Equal(HttpStatusCode.Forbidden, search.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, register.StatusCode);
        Assert.Equal(2, server.Logged(CityWatch.Server.Identity.SessionAuthentication.Denied).Count(d => d.Actor == "investigator"));
    }

    [Fact]
    public void Redaction_keeps_the_subject_and_flattens_the_rest()
    {
        var image = new BgrImage(64, 64, Enumerable.Range(0, 64 * 64 * 3).Select(i => (byte)(i * 37 % 251)).ToArray());
        var subject = new FaceBox(4, 4, 16, 16);

        var redacted = FaceRedaction.Redact(image, subject, [new FaceBox(40, 40, 16, 16)]);

        var keep = subject.ToPixelRect(64, 64, 0.15f);
        Assert.Equal(Region(image, keep), Region(redacted, keep));
        Assert.True(Detail(redacted, new FaceBox(40, 40, 16, 16)) < Detail(image, new FaceBox(40, 40, 16, 16)) / 4);
        Assert.NotSame(image.Pixels, redacted.Pixels);
    }

    internal static readonly SubjectAccessRequestInput Input = new("passport X1234567", IdentityVerification.DocumentInPerson, TimeProvider.System.GetUtcNow().AddDays(-3));

    /// <summary>The DPO registers a request whose requester's identity was checked in person three days ago.</summary>
    internal static async Task<SubjectAccessRequest> RegisterAsync(RunningServer server) =>
        await ApiCalls.ReadAsync<SubjectAccessRequest>(await server.Dpo.PostAsJsonAsync("/api/subject-access/requests", Input, ApiCalls.Json));

    internal static async Task<HttpResponseMessage> SearchAsync(RunningServer server, long requestId, string photo, HttpClient? dpo = null)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(TestPaths.Faces("ageitgey", "examples", photo))), "photo", photo);
        return await (dpo ?? server.Dpo).PostAsync($"/api/subject-access/requests/{requestId}/search", form);
    }

    private static async Task<(FacePipeline Pipeline, ProcessingGrant Grant)> VisionAsync(RunningServer server)
    {
        var grant = await server.Services.GetRequiredService<PolicyEngine>().RequireAsync(
            new PolicyRequest("test", ProcessingPurpose.SubjectAccess, null, [], "test-check"));
        return (server.Services.GetRequiredService<FacePipeline>(), grant);
    }

    private static float[] Largest(FacePipeline pipeline, ProcessingGrant grant, string photo)
    {
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", photo));
        return pipeline.Embed(grant, image, pipeline.Detect(grant, image).MaxBy(f => f.Box.Area)!);
    }

    // Mean absolute difference between horizontal neighbours: high for a face, near zero for a mosaic.
    private static double Detail(BgrImage image, FaceBox box)
    {
        var r = box.ToPixelRect(image.Width, image.Height);
        double sum = 0;
        var n = 0;
        for (var y = r.Y; y < r.Y + r.Height; y++)
        {
            for (var x = r.X; x < r.X + r.Width - 1; x++)
            {
                var i = (y * image.Stride) + (x * 3);
                sum += Math.Abs(image.Pixels[i + 1] - image.Pixels[i + 4]);
                n++;
            }
        }

        return sum / n;
    }

    private static byte[] Region(BgrImage image, PixelRect r) =>
        Enumerable.Range(r.Y, r.Height).SelectMany(y => image.Pixels.Skip((y * image.Stride) + (r.X * 3)).Take(r.Width * 3)).ToArray();
}
