using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Vision;

namespace CityWatch.Policy;

/// <summary>A photo offered for enrolment: its name (for messages) and its bytes.</summary>
public sealed record EnrolmentPhoto(string Name, byte[] Bytes);

/// <summary>
/// Enrols a person into a watchlist from one or more photos: under an enrolment grant, the largest face
/// of each photo is embedded, the templates averaged into one, and the entry stored and logged with the
/// watchlist's new digest. A photo with no usable face is rejected with the reason; if no photo is usable,
/// nothing is stored. Each entry records the legal basis it was enrolled under and expires at the latest
/// when that basis ends; a basis caps how many entries may be enrolled under it. Every change leaves the
/// watchlist unapproved until a second account approves it (<see cref="ApproveAsync"/>).
/// </summary>
public sealed class Enrolment(WatchlistStore store, LegalBasisStore legalBases, PolicyEngine policy, FacePipeline vision, AuditTrail audit, TimeProvider time)
{
    /// <summary>Faces smaller than this (pixels between the eyes) give templates too poor to enrol.</summary>
    public const float MinimumEyeDistance = 24;

    public async Task<WatchlistEntry> EnrolAsync(long watchlistId, EntryInput input, IReadOnlyList<EnrolmentPhoto> photos, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (string.IsNullOrWhiteSpace(input.Label) || string.IsNullOrWhiteSpace(input.Category) || string.IsNullOrWhiteSpace(input.ImageSource))
        {
            throw new InvalidRequestException("'label', 'category' and 'imageSource' are required to enrol a person.");
        }

        if (photos.Count == 0)
        {
            throw new InvalidRequestException("Enrolment needs at least one photo.");
        }

        store.Get(watchlistId);
        var grant = await policy.RequireAsync(new PolicyRequest(actor, ProcessingPurpose.Enrolment, null, [watchlistId]), cancellationToken);
        var basis = legalBases.Get(grant.LegalBasisId);
        if (input.ExpiresAt is { } requested && (requested <= time.GetUtcNow() || requested > basis.ValidUntil))
        {
            throw new InvalidRequestException($"'expiresAt' must be in the future and no later than the end of legal basis {basis.Id} ({basis.ValidUntil:O}).");
        }

        // An early refusal saves the embedding work; the cap itself is kept by the insert (below), which counts
        // and writes in one statement, so concurrent enrolments cannot all pass this check and overshoot it.
        if (store.CountUnderBasis(basis.Id) >= basis.MaxWatchlistEntries)
        {
            await RefuseCapAsync(basis, watchlistId, actor, cancellationToken);
        }

        input = input with { ExpiresAt = input.ExpiresAt ?? basis.ValidUntil };
        var templates = new List<float[]>();
        var rejections = new List<string>();
        byte[]? shown = null; // the face crop of the first usable photo: what the candidate view shows beside the probe
        foreach (var photo in photos)
        {
            if (Template(grant, photo, out var reason, out var crop) is { } template)
            {
                templates.Add(template);
                shown ??= crop;
            }
            else
            {
                rejections.Add($"{photo.Name}: {reason}");
            }
        }

        if (templates.Count == 0)
        {
            await audit.AppendAsync(
                new AuditRecord(actor, AuditActions.EnrolmentRejected, "no usable face", grant.LegalBasisId,
                    Parameters: new Dictionary<string, string> { ["watchlist"] = Invariant(watchlistId), ["photos"] = Invariant(photos.Count) }),
                cancellationToken);
            throw new InvalidRequestException($"No usable face to enrol: {string.Join("; ", rejections)}");
        }

        var salt = RandomNumberGenerator.GetBytes(16);
        StagedRecord? staged = null;
        var entry = store.AddEntry(watchlistId, input, vision.EmbedderName, Mean(templates), salt, actor, basis.Id, basis.MaxWatchlistEntries, (connection, transaction, entryId, templateHash, digest) =>
        {
            store.StorePhoto(connection, transaction, entryId, shown!);
            staged = audit.Stage(connection, transaction, new AuditRecord(
                actor,
                AuditActions.Enrolment,
                "enrolled",
                grant.LegalBasisId,
                Parameters: new Dictionary<string, string>
                {
                    ["watchlist"] = Invariant(watchlistId),
                    ["entry"] = Invariant(entryId),
                    ["photosUsed"] = Invariant(templates.Count),
                    ["photosRejected"] = Invariant(rejections.Count),
                    ["watchlistCount"] = Invariant(digest.Count),
                    ["watchlistRoot"] = Convert.ToHexStringLower(digest.RootHash),
                },
                ResultCount: 1,
                Commitments: [Commit(input.Label, salt), templateHash]));
        });
        if (entry is null)
        {
            await RefuseCapAsync(basis, watchlistId, actor, cancellationToken);
        }

        await audit.CommittedAsync(staged!, cancellationToken);
        return entry!;
    }

    /// <summary>Removes an entry, its template and its enrolment photo (the photo's key destroyed); its record is staged in the transaction of the deletion.</summary>
    public async Task RemoveAsync(long watchlistId, long entryId, string actor, CancellationToken cancellationToken = default)
    {
        StagedRecord? staged = null;
        store.RemoveEntry(watchlistId, entryId, actor, (connection, transaction) =>
        {
            var digest = WatchlistStore.Digest(connection, transaction, watchlistId);
            staged = audit.Stage(connection, transaction, new AuditRecord(actor, AuditActions.EnrolmentRemoval, "removed", Parameters: new Dictionary<string, string>
            {
                ["watchlist"] = Invariant(watchlistId),
                ["entry"] = Invariant(entryId),
                ["watchlistCount"] = Invariant(digest.Count),
                ["watchlistRoot"] = Convert.ToHexStringLower(digest.RootHash),
            }));
        });
        await audit.CommittedAsync(staged!, cancellationToken);
    }

    /// <summary>
    /// Approves the watchlist as it stands (G5): refused, and the refusal logged, when the approver made
    /// the last change or enrolled an entry awaiting approval. Logs the approved digest.
    /// </summary>
    public async Task<Watchlist> ApproveAsync(long watchlistId, string actor, CancellationToken cancellationToken = default)
    {
        StagedRecord? staged = null;
        Watchlist? approved;
        string? refusal;
        try
        {
            (approved, _, refusal) = store.Approve(watchlistId, actor, (connection, transaction, approval) =>
                staged = audit.Stage(connection, transaction, new AuditRecord(actor, GovernanceActions.WatchlistApproval, "approved", Parameters: new Dictionary<string, string>
                {
                    ["watchlist"] = Invariant(watchlistId),
                    ["digest"] = approval.Digest,
                    ["count"] = Invariant(approval.Count),
                    ["entriesApproved"] = string.Join(",", approval.Entries.Select(Invariant)),
                })));
        }
        catch (ConflictException lost)
        {
            await GovernanceLog.RefusalAsync(audit, actor, null, "approve watchlist", lost.Message, cancellationToken, new Dictionary<string, string> { ["watchlist"] = Invariant(watchlistId) });
            throw;
        }

        if (approved is null)
        {
            await GovernanceLog.RefusalAsync(audit, actor, null, "approve watchlist", refusal!, cancellationToken, new Dictionary<string, string> { ["watchlist"] = Invariant(watchlistId) });
            throw new PolicyRefusedException(refusal!);
        }

        await audit.CommittedAsync(staged!, cancellationToken);
        return approved;
    }

    // The cap of a basis reached: the refusal is logged, nothing was stored.
    private async Task RefuseCapAsync(LegalBasis basis, long watchlistId, string actor, CancellationToken cancellationToken)
    {
        var reason = $"legal basis {basis.Id} allows at most {basis.MaxWatchlistEntries} watchlist entries and has {store.CountUnderBasis(basis.Id)}";
        await GovernanceLog.RefusalAsync(audit, actor, basis.Id, "enrol", reason, cancellationToken, new Dictionary<string, string> { ["watchlist"] = Invariant(watchlistId) });
        throw new PolicyRefusedException(reason);
    }

    private float[]? Template(ProcessingGrant grant, EnrolmentPhoto photo, out string reason, out byte[]? crop)
    {
        crop = null;
        BgrImage image;
        try
        {
            image = ImageCodec.Decode(photo.Bytes, photo.Name);
        }
        catch (ImageDecodeException e)
        {
            reason = e.Message;
            return null;
        }

        var faces = vision.Detect(grant, image);
        if (faces.Count == 0)
        {
            reason = "no face found";
            return null;
        }

        var largest = faces.MaxBy(f => f.Box.Width * f.Box.Height)!;
        if (largest.InterEyeDistance < MinimumEyeDistance)
        {
            reason = $"the largest face is too small ({largest.InterEyeDistance:0} px between the eyes, need {MinimumEyeDistance})";
            return null;
        }

        reason = "";
        crop = ImageCodec.EncodeJpeg(image, largest.Box.ToPixelRect(image.Width, image.Height, 0.25f));
        return vision.Embed(grant, image, largest);
    }

    private static float[] Mean(List<float[]> templates)
    {
        var mean = new float[templates[0].Length];
        foreach (var template in templates)
        {
            for (var i = 0; i < mean.Length; i++)
            {
                mean[i] += template[i];
            }
        }

        var norm = MathF.Sqrt(mean.Sum(v => v * v));
        for (var i = 0; i < mean.Length; i++)
        {
            mean[i] /= norm;
        }

        return mean;
    }

    // A salted commitment: the log shows that a name was enrolled without showing it; the salt, kept with the
    // entry in the city's database, opens it for the data-protection authority.
    private static string Commit(string value, byte[] salt)
    {
        var digest = SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(value)]);
        return $"sha256:{Convert.ToHexStringLower(digest)}";
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
