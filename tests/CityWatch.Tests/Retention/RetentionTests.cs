using System.Security.Cryptography;
using CityWatch.Alerts;
using CityWatch.Evidence;
using CityWatch.Retention;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using CityWatch.Vision;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;

namespace CityWatch.Tests.Retention;

/// <summary>G10, G11, G21 on a controllable clock: per-kind retention, crypto-shredding, statistics that survive, the log that stays.</summary>
public sealed class RetentionTests : IDisposable
{
    private readonly TestCity city = new();
    private readonly AlertStore alerts;
    private readonly AlertVerification verification;

    public RetentionTests()
    {
        alerts = new AlertStore(city.Database, Path.Combine(city.Directory, "evidence"));
        verification = new AlertVerification(city.Database, alerts, new EvidenceAccess(alerts, city.Audit), city.Audit, city.Time);
    }

    public void Dispose() => city.Dispose();

    [Fact]
    public async Task Records_past_their_time_are_gone_from_the_database_and_the_disk()
    {
        var enforcer = new RetentionEnforcer(alerts, city.LegalBases, city.Audit, city.Time, new RetentionOptions());
        var candidate = Add();
        var rejected = Add();
        var confirmed = Add();
        await verification.DecideAsync(rejected.Id, "v1", new DecisionInput(VerificationDecision.Reject), default);
        await verification.DecideAsync(confirmed.Id, "v1", new DecisionInput(VerificationDecision.Confirm), default);
        await verification.DecideAsync(confirmed.Id, "v2", new DecisionInput(VerificationDecision.Confirm), default);
        var logBefore = city.Audit.Size;

        city.Time.Advance(TimeSpan.FromHours(23));
        Assert.Equal(0, (await enforcer.RunOnceAsync()).Total);

        city.Time.Advance(TimeSpan.FromHours(2)); // 25 h: the rejected candidate goes
        var first = await enforcer.RunOnceAsync();
        Assert.Equal([rejected.Id], first.Rejected);
        AssertGone(rejected);
        AssertKept(candidate);
        AssertKept(confirmed);

        city.Time.Advance(TimeSpan.FromDays(6)); // 7 days + 1 h: the unconfirmed candidate goes
        Assert.Equal([candidate.Id], (await enforcer.RunOnceAsync()).Candidates);
        AssertGone(candidate);
        AssertKept(confirmed);

        city.Time.Advance(TimeSpan.FromDays(23)); // 30 days + 1 h: confirmed evidence goes
        Assert.Equal([confirmed.Id], (await enforcer.RunOnceAsync()).Confirmed);
        AssertGone(confirmed);
        Assert.Empty(Directory.GetFiles(alerts.EvidenceDirectory));

        // Each deletion is in the log, with its kind and ids; the log itself only grew.
        var deletions = city.Audit.Read(0, 10_000, EvidenceActions.RetentionDeletion);
        Assert.Equal(["rejected", "candidate", "confirmed"], deletions.Select(d => Parameter(d, "kind")));
        Assert.Equal([rejected.Id.ToString(), candidate.Id.ToString(), confirmed.Id.ToString()], deletions.Select(d => Parameter(d, "alerts")));
        Assert.True(city.Audit.Size > logBefore);
        Assert.NotEmpty(city.Audit.Read(0, 10_000, EvidenceActions.Decision));

        // The aggregate statistics survive the deletions.
        var day = DateOnly.FromDateTime(candidate.At.UtcDateTime);
        var statistics = Assert.Single(new AlertStatistics(city.Database).Statistics(day, day));
        Assert.Equal((3, 1, 1), (statistics.Raised, statistics.Confirmed, statistics.Rejected));
    }

    [Fact]
    public async Task A_deleted_key_makes_a_surviving_copy_of_the_crop_unreadable()
    {
        var crop = EvidenceFixture.PhotoCrop("obama_small.jpg");
        var alert = Add(crop);
        var (file, keyId) = alerts.CropLocation(alert.Id);
        var copy = await File.ReadAllBytesAsync(Path.Combine(alerts.EvidenceDirectory, file)); // a backup, a stray disk block
        Assert.Equal(crop, alerts.Vault.Open(keyId, copy));

        city.Time.Advance(TimeSpan.FromDays(8));
        await new RetentionEnforcer(alerts, city.LegalBases, city.Audit, city.Time, new RetentionOptions()).RunOnceAsync();

        Assert.False(alerts.Vault.Exists(keyId));
        Assert.Throws<EvidenceDestroyedException>(() => alerts.Vault.Open(keyId, copy));
        Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(copy));
        Assert.True(copy.AsSpan().IndexOf(crop.AsSpan(0, 64)) < 0, "the stored file holds the JPEG in clear");
    }

    [Fact]
    public void A_crop_sealed_for_one_item_does_not_open_with_another_items_key()
    {
        var first = Add(EvidenceFixture.PhotoCrop("obama_small.jpg"));
        var second = Add(EvidenceFixture.PhotoCrop("obama_small.jpg"));
        var (firstFile, _) = alerts.CropLocation(first.Id);
        var (_, secondKey) = alerts.CropLocation(second.Id);

        var sealedFirst = File.ReadAllBytes(Path.Combine(alerts.EvidenceDirectory, firstFile));

        Assert.ThrowsAny<CryptographicException>(() => alerts.Vault.Open(secondKey, sealedFirst));
    }

    [Fact]
    public void The_master_key_is_stored_only_wrapped_by_the_kek_and_never_as_a_file_in_the_data_folder()
    {
        Assert.False(alerts.Vault.HasMasterKey);

        Add();

        Assert.True(alerts.Vault.HasMasterKey);
        Assert.False(File.Exists(Path.Combine(city.Directory, EvidenceVault.MasterKeyFileName)));
        Assert.DoesNotContain(Directory.EnumerateFiles(city.Directory, "*.key", SearchOption.AllDirectories), _ => true);
    }

    [Fact]
    public async Task The_background_service_enforces_retention_on_the_clock_it_is_given()
    {
        var options = new RetentionOptions { Interval = TimeSpan.FromHours(1) };
        var alert = Add();
        await verification.DecideAsync(alert.Id, "v1", new DecisionInput(VerificationDecision.Reject), default);
        using var service = new RetentionService(new RetentionEnforcer(alerts, city.LegalBases, city.Audit, city.Time, options), city.Time, options, NullLogger<RetentionService>.Instance);
        await service.StartAsync(default);
        await RunningServer.WaitUntilAsync(() => Task.FromResult(service.Passes >= 1), TimeSpan.FromSeconds(30), "the first retention pass");
        AssertKept(alert);

        city.Time.Advance(TimeSpan.FromHours(25));
        await RunningServer.WaitUntilAsync(() => Task.FromResult(service.Passes >= 2), TimeSpan.FromSeconds(30), "a retention pass after the clock moved");

        await service.StopAsync(default);
        AssertGone(alert);
    }

    [Fact]
    public void Bad_retention_periods_are_refused_by_name()
    {
        var error = Assert.Throws<InvalidRequestException>(() => new RetentionOptions { Rejected = TimeSpan.Zero }.Validate());

        Assert.Contains("Rejected", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replaced_crops_key_is_erased_by_the_next_run_its_epoch_rotated_and_the_new_crop_still_opens()
    {
        var enforcer = new RetentionEnforcer(alerts, city.LegalBases, city.Audit, city.Time, new RetentionOptions());
        var alert = Add();
        var (_, oldKey) = alerts.CropLocation(alert.Id);
        string oldEpoch;
        using (var connection = city.Database.Connect())
        {
            oldEpoch = connection.ExecuteScalar<string>("SELECT epoch FROM evidence_keys WHERE key_id = @oldKey", new { oldKey })!;
        }

        var replacement = EvidenceFixture.PhotoCrop("biden.jpg");
        alerts.Improve(alert.Id, new AlertImprovement(0.9f, new FaceBox(1, 2, 30, 40), replacement, city.Time.GetUtcNow(), 5));
        Assert.False(alerts.Vault.Exists(oldKey));
        Assert.NotNull(city.Database.ErasureKeys.Get(oldEpoch)); // destroyed in the database, not yet erased

        Assert.Equal(0, (await enforcer.RunOnceAsync()).Total);

        Assert.Null(city.Database.ErasureKeys.Get(oldEpoch));
        Assert.Equal(replacement, alerts.Crop(alert.Id));
    }

    private Alert Add(byte[]? crop = null, long legalBasisId = 1) =>
        alerts.Add(EvidenceFixture.New(crop ?? EvidenceFixture.BlankCrop, 1, 1, legalBasisId, city.Time.GetUtcNow()));

    private void AssertGone(Alert alert)
    {
        Assert.Throws<NotFoundException>(() => alerts.Get(alert.Id));
        Assert.DoesNotContain(Directory.GetFiles(alerts.EvidenceDirectory), f => Path.GetFileName(f).StartsWith($"alert-{alert.Id}.", StringComparison.Ordinal));
    }

    private void AssertKept(Alert alert)
    {
        Assert.Equal(alert.Id, alerts.Get(alert.Id).Id);
        Assert.NotEmpty(alerts.Crop(alert.Id));
    }

    private static string Parameter(CityWatch.Audit.LoggedAct act, string name)
    {
        using var body = System.Text.Json.JsonDocument.Parse(act.Body);
        return body.RootElement.GetProperty("Parameters").GetProperty(name).GetString()!;
    }
}
