using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Cases;

/// <summary>The case register and the engine on a fake clock: a grant never outlives its case, and an expired case grants nothing.</summary>
public sealed class CaseExpiryTests : IDisposable
{
    private readonly TestCity _city = new();

    [Fact]
    public async Task An_expired_case_grants_nothing_and_the_refusal_is_recorded()
    {
        var basis = await _city.ActiveBasisAsync([], [1], ProcessingPurpose.Retrospective);
        var now = _city.Time.GetUtcNow();
        await _city.Cases.OpenAsync(new CaseInput("PD-2026-8", basis.Id, "missing child", [], basis.ValidFrom, basis.ValidUntil, now.AddSeconds(5)), "investigator");
        var request = new PolicyRequest("investigator", ProcessingPurpose.Retrospective, null, [1], "PD-2026-8");

        var during = await _city.Policy.AuthorizeAsync(request);
        _city.Time.Advance(TimeSpan.FromSeconds(6));
        var after = await _city.Policy.AuthorizeAsync(request);

        Assert.Equal(now.AddSeconds(5), during.Grant!.ExpiresAt); // the grant ends with the case, not after the usual 10 s
        Assert.Equal("PD-2026-8", during.Grant.CaseId);
        Assert.Null(after.Grant);
        Assert.StartsWith("case PD-2026-8 expired at", after.RefusalReason, StringComparison.Ordinal);
        Assert.Equal(CaseStatus.Expired, _city.Cases.Find("PD-2026-8")!.Status);
        Assert.Contains(_city.Audit.Read(0, 1000, AuditActions.PolicyRefusal), r => r.CaseId == "PD-2026-8" && r.Outcome == after.RefusalReason);
    }

    [Fact]
    public async Task Only_the_cases_own_basis_grants_for_it_and_only_on_its_cameras()
    {
        var cameraA = _city.AddCamera("C-A");
        var cameraB = _city.AddCamera("C-B");
        var own = await _city.ActiveBasisAsync([cameraA.Id, cameraB.Id], [1], ProcessingPurpose.Retrospective);
        await _city.ActiveBasisAsync([cameraA.Id, cameraB.Id], [2], ProcessingPurpose.Retrospective);
        await _city.OpenCaseAsync(own, "PD-2026-10", cameraA.Id);

        var otherBasisList = await _city.Policy.AuthorizeAsync(new PolicyRequest("investigator", ProcessingPurpose.Retrospective, null, [2], "PD-2026-10"));
        var otherCamera = await _city.Policy.AuthorizeAsync(new PolicyRequest("investigator", ProcessingPurpose.Retrospective, cameraB.Id, [1], "PD-2026-10"));
        var fits = await _city.Policy.AuthorizeAsync(new PolicyRequest("investigator", ProcessingPurpose.Retrospective, cameraA.Id, [1], "PD-2026-10"));

        Assert.Contains("watchlist 2 is outside the scope", otherBasisList.RefusalReason, StringComparison.Ordinal);
        Assert.Equal($"camera {cameraB.Id} is outside the scope of case PD-2026-10", otherCamera.RefusalReason);
        Assert.Equal(own.Id, fits.Grant!.LegalBasisId);
    }

    [Fact]
    public async Task A_case_under_a_revoked_basis_grants_nothing()
    {
        var basis = await _city.ActiveBasisAsync([], [1], ProcessingPurpose.Retrospective);
        await _city.OpenCaseAsync(basis, "PD-2026-11");

        await _city.LegalBases.RevokeAsync(basis.Id, "overseer");
        var decision = await _city.Policy.AuthorizeAsync(new PolicyRequest("investigator", ProcessingPurpose.Retrospective, null, [1], "PD-2026-11"));

        Assert.Equal("no legal basis is in force", decision.RefusalReason);
    }

    public void Dispose() => _city.Dispose();
}
