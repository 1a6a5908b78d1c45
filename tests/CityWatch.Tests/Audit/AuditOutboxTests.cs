using CityWatch.Audit;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using Dapper;

namespace CityWatch.Tests.Audit;

/// <summary>The act and its record commit together: the review's "basis Active, record refused" cannot happen.</summary>
public sealed class AuditOutboxTests
{
    [Fact]
    public async Task Over_long_field_refuses_the_act_before_anything_is_written()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("C1").Id;
        var basis = await city.PreparedBasisAsync(city.Draft([camera], [1]));
        var sizeBefore = city.Audit.Size;

        var refused = await Assert.ThrowsAsync<InvalidRequestException>(
            () => city.LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision(new string('x', AuditRecordLimits.ParameterValue + 1)), TestCity.AuthorityActor));

        Assert.Contains("at most", refused.Message, StringComparison.Ordinal);
        Assert.Equal(LegalBasisStatus.PrerequisitesRecorded, city.LegalBases.Get(basis.Id).Status);
        await city.Audit.FlushAsync();
        Assert.Equal(sizeBefore, city.Audit.Size);
        Assert.DoesNotContain(city.Audit.Read(0, 1000), a => a.Outcome == "authorised");
    }

    [Fact]
    public async Task Rolled_back_act_leaves_no_record_and_a_committed_one_is_logged()
    {
        using var city = new TestCity();
        using (var connection = city.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            city.Audit.Stage(connection, transaction, new AuditRecord("mallory", AuditActions.Analysis, "never happened"));
            transaction.Rollback();
        }

        StagedRecord staged;
        using (var connection = city.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            staged = city.Audit.Stage(connection, transaction, new AuditRecord("alice", AuditActions.Analysis, "happened"));
            transaction.Commit();
        }

        var index = await city.Audit.CommittedAsync(staged);
        await city.Audit.FlushAsync();
        var acts = city.Audit.Read(0, 1000);
        Assert.Equal("happened", acts.Single(a => a.Index == index).Outcome);
        Assert.DoesNotContain(acts, a => a.Outcome == "never happened");
    }

    [Fact]
    public async Task A_bad_row_in_the_outbox_never_fails_the_others()
    {
        using var city = new TestCity();
        using (var connection = city.Database.Open())
        {
            // A row written around the checks (by hand, or by an older binary): too long for a log entry.
            connection.Execute(
                "INSERT INTO audit_outbox (token, at, record) VALUES ('bad', '2026-11-27T09:00:00.0000000+00:00', @record)",
                new { record = System.Text.Json.JsonSerializer.Serialize(new AuditRecord("x", "y", new string('z', 70_000))) });
        }

        var indices = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => city.Audit.AppendAsync(new AuditRecord("t", AuditActions.Analysis, $"ok {i}"))));

        Assert.Equal(20, indices.Distinct().Count());
        using var check = city.Database.Open();
        Assert.Equal(0, check.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_outbox"));
        Assert.Equal("bad", check.ExecuteScalar<string>("SELECT token FROM audit_outbox_rejected"));
        Assert.True(AuditVerifier.VerifyDatabase(city.Database.Path).Ok);
    }

    [Fact]
    public async Task Records_staged_before_a_stop_are_logged_at_the_next_start()
    {
        using var city = new TestCity();
        await city.Audit.DisposeAsync();
        using (var connection = city.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            // The act committed; the process died before the sequencer ran.
            connection.Execute(
                "INSERT INTO audit_outbox (token, at, record) VALUES ('t1', '2026-11-27T09:00:00.0000000+00:00', @record)",
                new { record = System.Text.Json.JsonSerializer.Serialize(new AuditRecord("alice", AuditActions.CameraChange, "moved")) },
                transaction);
            transaction.Commit();
        }

        await using var reopened = new AuditTrail(city.Database, city.Time);
        await reopened.FlushAsync();
        Assert.Contains(reopened.Read(0, 100), a => a.Outcome == "moved" && a.Actor == "alice");
        Assert.True(AuditVerifier.VerifyDatabase(city.Database.Path).Ok);
    }

    [Fact]
    public async Task Two_concurrent_decisions_on_one_basis_let_exactly_one_win()
    {
        using var city = new TestCity();
        var camera = city.AddCamera("C1").Id;
        var basis = await city.PreparedBasisAsync(city.Draft([camera], [1]));

        var results = await Task.WhenAll(
            Capture(() => city.LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision("A-1"), TestCity.AuthorityActor)),
            Capture(() => city.LegalBases.RefuseAsync(basis.Id, new AuthorityDecision("R-1", "no"), "other-authority")));

        Assert.Single(results, r => r is null);
        await city.Audit.FlushAsync();
        var decisions = city.Audit.Read(0, 1000).Where(a => a.LegalBasisId == basis.Id && a.Outcome is "authorised" or "refused by the authority").ToList();
        Assert.Single(decisions);
    }

    private static async Task<Exception?> Capture(Func<Task> act)
    {
        try
        {
            await act();
            return null;
        }
        catch (Exception e) when (e is ConflictException or PolicyRefusedException)
        {
            return e;
        }
    }
}
