using System.Net;
using CityWatch.Alerts;
using CityWatch.Audit;
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

        var answer = await ApiCalls.ReadAsync<SubjectAccessAnswer>(await RequestAsync(server, "obama.jpg", "SAR-2026-001"));

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
        Assert.Equal(("dpo", "SAR-2026-001", 2), (logged.Actor, logged.CaseId, EvidenceSearchTests.ResultCount(logged)));
        Assert.Equal(evidenceFiles, Directory.GetFiles(server.Services.GetRequiredService<AlertStore>().EvidenceDirectory).Length); // the probe is not stored
    }

    [Fact]
    public async Task A_subject_access_request_without_a_reference_is_refused_and_recorded()
    {
        await using var server = await RunningServer.StartAsync();
        server.AddAlert(EvidenceFixture.PhotoCrop("obama2.jpg"));

        using var response = await RequestAsync(server, "obama.jpg", reference: null);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var refusal = Assert.Single(server.Logged(AuditActions.PolicyRefusal));
        Assert.Equal(("dpo", "a subject-access request needs its request reference"), (refusal.Actor, refusal.Outcome));
        Assert.Empty(server.Logged(EvidenceActions.KeyRelease));
    }

    [Fact]
    public async Task Only_the_data_protection_officer_answers_access_requests()
    {
        await using var server = await RunningServer.StartAsync();

        using var form = new MultipartFormDataContent { { new StringContent("SAR-1"), "reference" } };
        using var response = await server.Investigator.PostAsync("/api/subject-access", form);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains(server.Logged(CityWatch.Server.Identity.SessionAuthentication.Denied), d => d.Actor == "investigator");
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

    private static Task<HttpResponseMessage> RequestAsync(RunningServer server, string photo, string? reference)
    {
        var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(File.ReadAllBytes(TestPaths.Faces("ageitgey", "examples", photo))), "photo", photo);
        if (reference is not null)
        {
            form.Add(new StringContent(reference), "reference");
        }

        return server.Dpo.PostAsync("/api/subject-access", form);
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
