using CityWatch.Alerts;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Retention;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;

namespace CityWatch.Tests.Retention;

/// <summary>
/// Issue 9, item 9: confirmed evidence never outlives its legal basis's maximum retention, whatever the
/// city's own retention periods say; the deletion is in the log, naming the alerts the basis's maximum removed.
/// </summary>
public sealed class BasisRetentionTests : IDisposable
{
    private readonly TestCity city = new();

    public void Dispose() => city.Dispose();

    [Fact]
    public async Task Confirmed_evidence_is_deleted_when_its_basis_maximum_is_reached_even_if_the_city_keeps_it_longer()
    {
        var camera = city.AddCamera("C1");
        var shortBasis = await city.ActiveBasisAsync([camera.Id], [1], ProcessingPurpose.Live);
        var draft = city.Draft([camera.Id], [1], ProcessingPurpose.Live) with { MaxRetentionDays = 2 };
        var twoDays = await city.LegalBases.AuthoriseAsync((await city.PreparedBasisAsync(draft)).Id, new AuthorityDecision("T-2"), TestCity.AuthorityActor);
        var shortLived = await ConfirmedAsync(twoDays.Id);
        var usual = await ConfirmedAsync(shortBasis.Id);
        var options = new RetentionOptions { Confirmed = TimeSpan.FromDays(365) }; // the city would keep confirmed evidence a year
        var enforcer = new RetentionEnforcer(city.Alerts, city.LegalBases, city.Audit, city.Time, options);

        city.Time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(0, (await enforcer.RunOnceAsync()).Total);
        city.Time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        var report = await enforcer.RunOnceAsync();

        Assert.Equal([shortLived.Id], report.Confirmed);
        Assert.Throws<NotFoundException>(() => city.Alerts.Get(shortLived.Id));
        Assert.Equal(usual.Id, city.Alerts.Get(usual.Id).Id);
        var deletion = Assert.Single(city.Audit.Read(0, 10_000, EvidenceActions.RetentionDeletion));
        Assert.Equal(CityWatch.Retention.RetentionEnforcer.Actor, deletion.Actor);
        Assert.Contains($"\"byBasisMaximum\":\"{shortLived.Id}\"", deletion.Body, StringComparison.Ordinal);
        Assert.Contains("\"kind\":\"confirmed\"", deletion.Body, StringComparison.Ordinal);

        // The usual basis's maximum (30 days) is reached in turn, long before the city's year.
        city.Time.Advance(TimeSpan.FromDays(28));
        Assert.Equal([usual.Id], (await enforcer.RunOnceAsync()).Confirmed);
    }

    private async Task<Alert> ConfirmedAsync(long basisId)
    {
        var alert = city.Alerts.Add(EvidenceFixture.New(EvidenceFixture.BlankCrop, 1, 1, basisId, city.Time.GetUtcNow()));
        var verification = new AlertVerification(city.Database, city.Alerts, new EvidenceAccess(city.Alerts, city.Audit), city.Audit, city.Time);
        await verification.DecideAsync(alert.Id, "v1", new DecisionInput(VerificationDecision.Confirm), default);
        await verification.DecideAsync(alert.Id, "v2", new DecisionInput(VerificationDecision.Confirm), default);
        Assert.Equal(AlertStore.Confirmed, city.Alerts.Get(alert.Id).Status);
        return alert;
    }
}
