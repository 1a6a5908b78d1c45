using System.Reflection;
using CityWatch.Audit;
using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Policy;

public sealed class PolicyEngineTests : IDisposable
{
    private readonly TestCity _city = new();

    public void Dispose() => _city.Dispose();

    [Fact]
    public async Task No_legal_basis_means_no_grant_and_the_refusal_is_logged()
    {
        var camera = _city.AddCamera("C1");

        var decision = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1]));

        Assert.Null(decision.Grant);
        Assert.Equal("no legal basis is in force", decision.RefusalReason);
        var refusal = Assert.Single(_city.Audit.Read(0, 100, AuditActions.PolicyRefusal));
        Assert.Equal("tester", refusal.Actor);
        Assert.Equal("no legal basis is in force", refusal.Outcome);
    }

    [Fact]
    public async Task An_active_basis_grants_its_camera_and_watchlist_and_the_grant_is_logged()
    {
        var camera = _city.AddCamera("C1");
        var basis = await _city.ActiveBasisAsync([camera.Id], [7]);

        var grant = await _city.Policy.RequireAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [7]));

        Assert.Equal(basis.Id, grant.LegalBasisId);
        Assert.Equal([7L], grant.WatchlistIds);
        Assert.Equal(camera.Id, grant.CameraId);
        Assert.Equal(_city.Time.GetUtcNow() + PolicyEngine.GrantLifetime, grant.ExpiresAt);
        var logged = Assert.Single(_city.Audit.Read(0, 100, AuditActions.PolicyGrant));
        Assert.Equal(basis.Id, logged.LegalBasisId);
    }

    [Fact]
    public async Task A_camera_outside_the_scope_is_refused()
    {
        var inScope = _city.AddCamera("C1");
        var outOfScope = _city.AddCamera("C2");
        await _city.ActiveBasisAsync([inScope.Id], [1]);

        var decision = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, outOfScope.Id, [1]));

        Assert.Null(decision.Grant);
        Assert.Contains("outside the scope", decision.RefusalReason);
    }

    [Fact]
    public async Task A_camera_registered_without_face_recognition_is_refused_even_under_a_basis()
    {
        var camera = _city.AddCamera("C1", faceRecognitionAllowed: false);
        await _city.ActiveBasisAsync([camera.Id], [1]);

        var decision = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1]));

        Assert.Equal($"camera {camera.Id} is registered without face recognition", decision.RefusalReason);
    }

    [Fact]
    public async Task A_watchlist_outside_the_scope_is_refused()
    {
        var camera = _city.AddCamera("C1");
        _city.EnsureWatchlists([2]);
        await _city.ActiveBasisAsync([camera.Id], [1]);

        var decision = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1, 2]));

        Assert.Null(decision.Grant);
        Assert.Contains("watchlist 2", decision.RefusalReason);
    }

    [Fact]
    public async Task A_camera_stream_asking_for_every_watchlist_gets_only_the_covered_ones()
    {
        var camera = _city.AddCamera("C1");
        await _city.ActiveBasisAsync([camera.Id], [1]);

        var grant = await _city.Policy.RequireAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1, 2], AllowPartial: true));

        Assert.Equal([1L], grant.WatchlistIds);
    }

    [Fact]
    public async Task After_the_window_no_grant_is_made()
    {
        var camera = _city.AddCamera("C1");
        await _city.ActiveBasisAsync([camera.Id], [1]);
        _city.Time.Advance(TimeSpan.FromDays(2));

        var decision = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1]));

        Assert.Equal("no legal basis is in force", decision.RefusalReason);
        Assert.Equal(LegalBasisStatus.Expired, _city.LegalBases.List().Single().Status);
    }

    [Fact]
    public async Task A_revoked_basis_stops_processing_once_the_held_grant_expires()
    {
        var camera = _city.AddCamera("C1");
        var basis = await _city.ActiveBasisAsync([camera.Id], [1]);
        var grant = await _city.Policy.RequireAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1]));

        await _city.LegalBases.RevokeAsync(basis.Id, "overseer");
        _city.Time.Advance(PolicyEngine.GrantLifetime);

        Assert.Throws<GrantExpiredException>(() => grant.EnsureValid(_city.Time.GetUtcNow()));
        var again = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1]));
        Assert.Null(again.Grant);
    }

    [Fact]
    public async Task Retrospective_use_without_a_case_id_is_refused()
    {
        var basis = await _city.ActiveBasisAsync([], [1], ProcessingPurpose.Retrospective);
        await _city.OpenCaseAsync(basis, "CASE-1");

        var refused = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Retrospective, null, [1]));
        var granted = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Retrospective, null, [1], CaseId: "CASE-1"));

        Assert.Equal("retrospective use needs a case id", refused.RefusalReason);
        Assert.Equal("CASE-1", granted.Grant!.CaseId);
    }

    [Fact]
    public async Task A_draft_basis_grants_nothing()
    {
        var camera = _city.AddCamera("C1");
        await _city.LegalBases.RegisterAsync(_city.Draft([camera.Id], [1], ProcessingPurpose.Live), "tester");

        var decision = await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1]));

        Assert.Null(decision.Grant);
    }

    [Fact]
    public void Only_the_policy_engine_and_the_grant_verifier_can_make_a_grant()
    {
        // The grant's constructor is private protected: only subclasses in Core can call it. This checks
        // that there are exactly two, the engine's and the verifier's private sealed types, across every
        // CityWatch assembly loaded; a third anywhere fails it.
        var assemblies = new[] { typeof(ProcessingGrant).Assembly, typeof(CityWatch.Server.CityWatchServer).Assembly, typeof(PolicyEngineTests).Assembly };
        var subclasses = assemblies.SelectMany(a => a.GetTypes()).Where(t => t.IsSubclassOf(typeof(ProcessingGrant))).ToList();

        Assert.Equal(2, subclasses.Count);
        Assert.Equal(
            new[] { typeof(GrantVerifier), typeof(PolicyEngine) }.Select(t => t.FullName).Order(),
            subclasses.Select(t => t.DeclaringType?.FullName).Order());
        Assert.All(subclasses, t => Assert.True(t.IsNestedPrivate && t.IsSealed, $"{t.FullName} is not a private sealed nested type"));
        Assert.All(
            typeof(ProcessingGrant).GetConstructors(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic),
            c => Assert.True(c.IsFamilyAndAssembly));
    }

    [Fact]
    public void Core_and_the_server_open_their_internals_to_the_tests_only()
    {
        // With the server, the CLI or the bench as friends, Core's internal members (the stores' raw writes,
        // template reads, session start) would be open to all production code, and a grant subclass in the
        // server would reach the private protected constructor. Only the test assembly may see them.
        foreach (var assembly in new[] { typeof(ProcessingGrant).Assembly, typeof(CityWatch.Server.CityWatchServer).Assembly })
        {
            var friends = assembly.GetCustomAttributes<System.Runtime.CompilerServices.InternalsVisibleToAttribute>().Select(a => a.AssemblyName).ToList();
            Assert.Equal(["CityWatch.Tests"], friends);
        }
    }

    [Fact]
    public async Task Evaluation_is_granted_only_under_a_basis_for_evaluation_and_never_with_a_watchlist()
    {
        var none = await _city.Policy.AuthorizeAsync(new PolicyRequest("eval", ProcessingPurpose.Evaluation, null, []));
        await _city.ActiveBasisAsync([], [], ProcessingPurpose.Evaluation);

        var granted = await _city.Policy.AuthorizeAsync(new PolicyRequest("eval", ProcessingPurpose.Evaluation, null, []));
        var withWatchlist = await _city.Policy.AuthorizeAsync(new PolicyRequest("eval", ProcessingPurpose.Evaluation, null, [1]));

        Assert.Equal("no legal basis is in force", none.RefusalReason);
        Assert.Empty(granted.Grant!.WatchlistIds);
        Assert.Null(withWatchlist.Grant);
    }
    [Fact]
    public async Task An_area_basis_covers_the_cameras_at_sites_inside_its_polygon_only()
    {
        var inside = _city.AddCamera("C-IN");
        _city.Cameras.CreateSite(new CityWatch.Cameras.SiteInput("FAR", "Far away", 45.5, 21.5, "Test city"));
        var outside = _city.Cameras.Create(new CityWatch.Cameras.CameraInput("C-OUT", "FAR", "Far camera", "Test city", "test", null, true));
        GeoPoint[] area = [new(44.7, 20.3), new(44.7, 20.5), new(44.9, 20.5), new(44.9, 20.3)];
        var draft = _city.Draft([], [1], ProcessingPurpose.Live) with { Area = area };
        var basis = await _city.LegalBases.AuthoriseAsync((await _city.PreparedBasisAsync(draft)).Id, new AuthorityDecision("A-1"), TestCity.AuthorityActor);

        await _city.DeployAsync(basis.Id, [inside.Id], [1]);
        var refused = await Assert.ThrowsAsync<PolicyRefusedException>(() => _city.DeployAsync(basis.Id, [outside.Id], [1]));

        Assert.True((await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, inside.Id, [1]))).IsGranted);
        Assert.Contains("outside the scope", refused.Reason);
        Assert.Contains("outside the scope", (await _city.Policy.AuthorizeAsync(new PolicyRequest("tester", ProcessingPurpose.Live, outside.Id, [1]))).RefusalReason);
    }

    [Fact]
    public async Task An_urgent_retrospective_basis_grants_for_48_hours_before_authorisation_and_a_live_one_for_24()
    {
        var camera = _city.AddCamera("C1");
        var draft = _city.Draft([camera.Id], [1], ProcessingPurpose.Retrospective);
        var urgent = await _city.PreparedBasisAsync(draft with { Urgent = true, ValidUntil = draft.ValidFrom.AddDays(5) });
        await _city.OpenCaseAsync(urgent, "C-1");
        var live = await _city.PreparedBasisAsync(_city.Draft([camera.Id], [1], ProcessingPurpose.Live) with { Urgent = true, ValidUntil = draft.ValidFrom.AddDays(5) });
        await _city.DeployAsync(live.Id, [camera.Id], [1]);
        var retrospective = new PolicyRequest("tester", ProcessingPurpose.Retrospective, null, [1], CaseId: "C-1");
        var stream = new PolicyRequest("tester", ProcessingPurpose.Live, camera.Id, [1]);

        Assert.True((await _city.Policy.AuthorizeAsync(stream)).IsGranted);
        _city.Time.Advance(TimeSpan.FromHours(25));
        Assert.Null((await _city.Policy.AuthorizeAsync(stream)).Grant);
        Assert.True((await _city.Policy.AuthorizeAsync(retrospective)).IsGranted);
        _city.Time.Advance(TimeSpan.FromHours(24));
        Assert.Null((await _city.Policy.AuthorizeAsync(retrospective)).Grant);
        Assert.All(_city.LegalBases.List(), b => Assert.Equal(LegalBasisStatus.Lapsed, b.Status));
    }

    [Fact]
    public async Task A_deployment_cannot_start_before_the_basis_is_authorised()
    {
        var camera = _city.AddCamera("C1");
        var basis = await _city.PreparedBasisAsync(_city.Draft([camera.Id], [1], ProcessingPurpose.Live));

        var refused = await Assert.ThrowsAsync<PolicyRefusedException>(() => _city.DeployAsync(basis.Id, [camera.Id], [1]));

        Assert.Contains("PrerequisitesRecorded", refused.Reason);
        Assert.Single(_city.Audit.Read(0, 100, GovernanceActions.Refusal));
    }
}
