using CityWatch.Alerts;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Vision;

namespace CityWatch.Investigations;

/// <summary>A face found in a decrypted crop, with its similarity to the probe.</summary>
internal sealed record CropFace(DetectedFace Face, float Score);

/// <summary>
/// Compares a probe face with the faces in stored crops, under a grant that it renews from the policy
/// engine before it runs out (a search over many crops outlasts one grant). The probe's embedding lives
/// only in memory for the call.
/// </summary>
internal sealed class EvidenceMatcher(PolicyEngine policy, FacePipeline vision, TimeProvider time, PolicyRequest request)
{
    private static readonly TimeSpan RenewBefore = TimeSpan.FromSeconds(1);

    private ProcessingGrant? grant;

    public async Task<ProcessingGrant> GrantAsync(CancellationToken cancellationToken)
    {
        if (grant is null || time.GetUtcNow() + RenewBefore >= grant.ExpiresAt)
        {
            grant = await policy.RequireAsync(request, cancellationToken);
        }

        return grant;
    }

    /// <summary>The embedding of the largest face in the probe photo; a photo without a face is a clear 400.</summary>
    public async Task<float[]> ProbeAsync(byte[] photo, CancellationToken cancellationToken)
    {
        var image = ImageCodec.Decode(photo, "probe photo");
        var current = await GrantAsync(cancellationToken);
        var face = vision.Detect(current, image).MaxBy(f => f.Box.Area)
            ?? throw new InvalidRequestException("No face was found in the probe photo.");
        return vision.Embed(current, image, face);
    }

    /// <summary>Every face in the crop with its similarity to <paramref name="probe"/>, best first.</summary>
    public async Task<(BgrImage Image, IReadOnlyList<CropFace> Faces)> CompareAsync(byte[] cropJpeg, float[] probe, CancellationToken cancellationToken)
    {
        var image = ImageCodec.Decode(cropJpeg, "evidence crop");
        var current = await GrantAsync(cancellationToken);
        var faces = vision.Detect(current, image)
            .Select(f => new CropFace(f, FacePipeline.Similarity(probe, vision.Embed(current, image, f))))
            .OrderByDescending(f => f.Score)
            .ToList();
        return (image, faces);
    }
}
