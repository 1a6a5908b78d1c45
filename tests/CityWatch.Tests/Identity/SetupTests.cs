using CityWatch.Identity;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Identity;

/// <summary>The one bootstrap: the set-up token invites the first administrator and the first oversight quorum, or nothing.</summary>
public sealed class SetupTests : IDisposable
{
    private readonly TestCity _city = new();
    private readonly IdentityStore _store;
    private readonly SignInService _signIn;

    public SetupTests()
    {
        _store = new IdentityStore(_city.Database, _city.Time);
        _signIn = new SignInService(_store, new Invitations(_store, _city.Audit, _city.Time, new IdentityOptions()), _city.Audit, _city.Time);
    }

    public void Dispose() => _city.Dispose();

    private static readonly AccountInput Admin = new("first-admin", "First Admin", "ID-1");

    [Fact]
    public async Task A_set_up_without_two_people_in_two_oversight_roles_is_refused_recorded_and_leaves_nothing_behind()
    {
        var token = _signIn.IssueSetupToken()!;

        await Assert.ThrowsAsync<InvalidRequestException>(() => _signIn.SetUpAsync(token, Admin, [new QuorumMember("judge", "A Judge", "ID-2", Role.Authority)]));
        await Assert.ThrowsAsync<InvalidRequestException>(() => _signIn.SetUpAsync(
            token, Admin, [new QuorumMember("judge", "A Judge", "ID-2", Role.Authority), new QuorumMember("judge2", "B Judge", "ID-3", Role.Authority)]));
        await Assert.ThrowsAsync<InvalidRequestException>(() => _signIn.SetUpAsync(
            token, Admin, [new QuorumMember("judge", "A Judge", "ID-2", Role.Authority), new QuorumMember("ops", "An Operator", "ID-3", Role.Operator)]));
        // The administrator naming themselves in the quorum under a second username: the same person.
        await Assert.ThrowsAsync<ConflictException>(() => _signIn.SetUpAsync(
            token, Admin, [new QuorumMember("judge", "A Judge", "ID-2", Role.Authority), new QuorumMember("me-as-dpo", "First Admin", "id 1", Role.DataProtectionOfficer)]));

        Assert.False(_store.AnyAccount());
        Assert.Empty(_store.History());
        Assert.Equal(4, _city.Audit.Read(0, 100, SignInService.SetupRefused).Count);
        Assert.Empty(_city.Audit.Read(0, 100, SignInService.Setup));
    }

    [Fact]
    public async Task A_set_up_whose_record_the_log_refuses_writes_nothing_and_leaves_the_token_usable()
    {
        var token = _signIn.IssueSetupToken()!;
        // Seventy members with 64-character names: the quorum parameter is over the log's limit.
        var crowd = Enumerable.Range(0, 70)
            .Select(i => new QuorumMember($"member-{i:D2}-".PadRight(64, 'x'), $"Member {i}", $"ID-M{i}", i % 2 == 0 ? Role.Authority : Role.DataProtectionOfficer))
            .ToList();

        await Assert.ThrowsAsync<InvalidRequestException>(() => _signIn.SetUpAsync(token, Admin, crowd));

        Assert.False(_store.AnyAccount());
        Assert.Empty(_store.History());
        Assert.Empty(_city.Audit.Read(0, 100, SignInService.Setup));
        Assert.Single(_city.Audit.Read(0, 100, SignInService.SetupRefused));
        QuorumMember[] quorum = [new("judge", "A Judge", "ID-2", Role.Authority), new("dpo", "A DPO", "ID-3", Role.DataProtectionOfficer)];
        await _signIn.SetUpAsync(token, Admin, quorum);
        Assert.Single(_city.Audit.Read(0, 100, SignInService.Setup));
    }

    [Fact]
    public async Task The_quorum_is_in_force_without_approval_once_and_the_token_then_stops_working()
    {
        var token = _signIn.IssueSetupToken()!;
        QuorumMember[] quorum = [new("judge", "A Judge", "ID-2", Role.Authority), new("dpo", "A DPO", "ID-3", Role.DataProtectionOfficer)];

        var result = await _signIn.SetUpAsync(token, Admin, quorum);
        var again = await Assert.ThrowsAsync<UnauthorizedException>(() => _signIn.SetUpAsync(token, new AccountInput("second", "Second", "ID-9"), quorum));

        Assert.Equal(["first-admin", "judge", "dpo"], result.Quorum.Prepend(result.Administrator).Select(i => i.Username));
        Assert.All(result.Quorum.Prepend(result.Administrator), i => Assert.Equal(InvitationStatus.Open, i.Status));
        var accounts = _store.List();
        Assert.All(accounts, a => Assert.False(a.Accepted));
        Assert.All(accounts.SelectMany(a => a.Roles), g => Assert.Equal((GrantStatus.Active, SignInService.SetupActor), (g.Status, g.DecidedBy)));
        Assert.Equal([Role.Administrator, Role.Authority, Role.DataProtectionOfficer], _store.History().Select(c => c.Role));
        Assert.All(_store.History(), c => Assert.Equal(RoleChangeKind.Bootstrap, c.Change));
        Assert.Contains("wrong or has been used", again.Message, StringComparison.Ordinal);
        Assert.StartsWith("bootstrap", Assert.Single(_city.Audit.Read(0, 100, SignInService.Setup)).Outcome, StringComparison.Ordinal);
    }
}
