using System.Buffers.Binary;
using CityWatch.Alerts;
using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Retention;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Dapper;

namespace CityWatch.Tests.Insiders;

/// <summary>
/// Deletion that deletes (issue 9, item 3): after an urgent basis is refused, a retention pass runs and an
/// entry is removed, someone holding a copy of the data folder finds none of the destroyed bytes anywhere in
/// it: not the wrapped item keys, not the sealed or plain templates, not the crops, in the database file,
/// its -wal and -shm files or any other file. The same scan, run before the destruction, finds them, so the
/// test can fail.
/// </summary>
public sealed class SecureDeletionTests : IDisposable
{
    private readonly TestCity city = new();

    public void Dispose() => city.Dispose();

    [Fact]
    public async Task After_refusal_retention_and_removal_no_destroyed_key_template_or_crop_byte_is_left_in_the_data_folder()
    {
        var evidence = await MakeEvidenceAsync();

        await DestroyAsync(evidence);

        Assert.Empty(Scan(city.Directory, [.. evidence.Stored, .. evidence.Plain]));
        Assert.Empty(Scan(city.Directory, [("JPEG header of a crop", evidence.JpegHeader)]));
        Assert.Equal("destroyed: urgency use refused", Assert.Single(city.Audit.Read(0, 10_000, GovernanceActions.UrgencyDestruction)).Outcome);
        Assert.Single(city.Audit.Read(0, 10_000, EvidenceActions.RetentionDeletion));
    }

    [Fact]
    public async Task Before_the_destruction_the_same_scan_finds_every_key_and_template()
    {
        var evidence = await MakeEvidenceAsync();

        var found = Scan(city.Directory, evidence.Stored);

        // Every stored secret the other test looks for is on disk now: the scan is able to see them.
        Assert.Equal(evidence.Stored.Select(s => s.Name).Order(), found.Order());
        // Templates and crops are never in clear, even before destruction; a plain copy dropped into the folder is seen.
        Assert.Empty(Scan(city.Directory, evidence.Plain));
        Assert.Empty(Scan(city.Directory, [("JPEG header of a crop", evidence.JpegHeader)]));
        await File.WriteAllBytesAsync(Path.Combine(city.Directory, "stray-copy.jpg"), evidence.Crop);
        Assert.Single(Scan(city.Directory, [("JPEG header of a crop", evidence.JpegHeader)]));
    }

    private sealed record Evidence(
        LegalBasis Urgent,
        Alert UrgentAlert,
        Alert RetainedAlert,
        WatchlistEntry UrgentEntry,
        WatchlistEntry RemovedEntry,
        byte[] Crop,
        byte[] JpegHeader,
        IReadOnlyList<(string Name, byte[] Bytes)> Stored,
        IReadOnlyList<(string Name, byte[] Bytes)> Plain);

    // An urgent basis in use with an alert and an enrolled template; an authorised basis with a rejected alert
    // (retention deletes it after 24 h) and another enrolled template (removed by hand).
    private async Task<Evidence> MakeEvidenceAsync()
    {
        var camera = city.AddCamera("C1");
        var other = city.AddCamera("C2");
        city.EnsureWatchlists([2]);
        var urgent = await city.PreparedBasisAsync(city.Draft([camera.Id], [1], ProcessingPurpose.Live, ProcessingPurpose.Enrolment) with { Urgent = true });
        var usual = await city.ActiveBasisAsync([other.Id], [2], ProcessingPurpose.Live, ProcessingPurpose.Enrolment);
        var urgentTemplate = Template(1);
        var removedTemplate = Template(2);
        var urgentEntry = city.Watchlists.AddEntry(1, new EntryInput("sought", "test", "synthetic"), "test", urgentTemplate, [1], "investigator", urgent.Id);
        var removedEntry = city.Watchlists.AddEntry(2, new EntryInput("other", "test", "synthetic"), "test", removedTemplate, [2], "investigator", usual.Id);

        var crop = EvidenceFixture.PhotoCrop("obama_small.jpg");
        var urgentAlert = city.Alerts.Add(EvidenceFixture.New(crop, camera.Id, 1, urgent.Id, city.Time.GetUtcNow()));
        var retainedAlert = city.Alerts.Add(EvidenceFixture.New(EvidenceFixture.PhotoCrop("biden.jpg"), other.Id, 2, usual.Id, city.Time.GetUtcNow()));

        var secrets = new List<(string Name, byte[] Bytes)>();
        var plain = new List<(string Name, byte[] Bytes)>();
        using (var connection = city.Database.Open())
        {
            foreach (var alert in new[] { urgentAlert, retainedAlert })
            {
                var (file, keyId) = city.Alerts.CropLocation(alert.Id);
                secrets.Add(($"wrapped key of alert {alert.Id}", connection.ExecuteScalar<byte[]>("SELECT wrapped FROM evidence_keys WHERE key_id = @keyId", new { keyId })!));
                secrets.Add(($"sealed crop of alert {alert.Id}", await File.ReadAllBytesAsync(Path.Combine(city.Alerts.EvidenceDirectory, file))));
            }

            foreach (var (entry, template) in new[] { (urgentEntry, urgentTemplate), (removedEntry, removedTemplate) })
            {
                secrets.Add(($"sealed template of entry {entry.Id}", connection.ExecuteScalar<byte[]>("SELECT template FROM watchlist_entries WHERE id = @id", new { id = entry.Id })!));
                plain.Add(($"plain template of entry {entry.Id}", Bytes(template)));
            }
        }

        // A crop's first 20 bytes: the JPEG start marker (FF D8 FF) and the encoder's header.
        Assert.Equal([0xFF, 0xD8, 0xFF], crop[..3]);
        return new Evidence(urgent, urgentAlert, retainedAlert, urgentEntry, removedEntry, crop, crop[..20], secrets, plain);
    }

    private async Task DestroyAsync(Evidence evidence)
    {
        var verification = new AlertVerification(city.Database, city.Alerts, new EvidenceAccess(city.Alerts, city.Audit), city.Audit, city.Time);
        await verification.DecideAsync(evidence.RetainedAlert.Id, "v1", new DecisionInput(VerificationDecision.Reject), default);

        await city.Urgency.RefuseAsync(evidence.Urgent.Id, new AuthorityDecision("REFUSED-1", "not necessary"), TestCity.AuthorityActor);
        city.Time.Advance(TimeSpan.FromHours(25));
        var report = await new RetentionEnforcer(city.Alerts, city.LegalBases, city.Audit, city.Time, new RetentionOptions()).RunOnceAsync();
        city.Watchlists.RemoveEntry(evidence.RemovedEntry.WatchlistId, evidence.RemovedEntry.Id, "test-investigator");

        Assert.Equal([evidence.RetainedAlert.Id], report.Rejected);
        Assert.Empty(city.Alerts.All());
        Assert.Empty(city.Watchlists.Entries(1));
        Assert.Empty(city.Watchlists.Entries(2));
    }

    /// <summary>The names of the secrets any 16-byte piece of which occurs in any file under <paramref name="folder"/>.</summary>
    private static List<string> Scan(string folder, IReadOnlyList<(string Name, byte[] Bytes)> secrets)
    {
        var contents = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Select(ReadShared).ToList();
        return secrets
            .Where(secret => Pieces(secret.Bytes).Any(piece => contents.Any(content => content.AsSpan().IndexOf(piece) >= 0)))
            .Select(secret => secret.Name)
            .ToList();
    }

    private static IEnumerable<byte[]> Pieces(byte[] secret)
    {
        const int size = 16;
        if (secret.Length <= size)
        {
            yield return secret;
            yield break;
        }

        for (var offset = 0; offset + size <= secret.Length; offset += size)
        {
            yield return secret[offset..(offset + size)];
        }
    }

    private static byte[] ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static float[] Template(int seed)
    {
        var random = new Random(seed);
        var template = new float[512];
        for (var i = 0; i < template.Length; i++)
        {
            template[i] = (float)(random.NextDouble() - 0.5);
        }

        var norm = MathF.Sqrt(template.Sum(v => v * v));
        return template.Select(v => v / norm).ToArray();
    }

    private static byte[] Bytes(float[] template)
    {
        var bytes = new byte[template.Length * sizeof(float)];
        for (var i = 0; i < template.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), template[i]);
        }

        return bytes;
    }
}
