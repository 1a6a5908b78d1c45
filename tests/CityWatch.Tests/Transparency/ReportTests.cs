using System.Net;
using CityWatch.Alerts;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Transparency;

namespace CityWatch.Tests.Transparency;

public sealed class ReportTests : IDisposable
{
    private readonly TestCity _city = new();

    public void Dispose() => _city.Dispose();

    [Fact]
    public async Task The_annual_report_gives_each_deployments_false_alert_rate_against_faces_and_alerts()
    {
        var camera = _city.AddCamera("CAM-R");
        var basis = await _city.ActiveBasisAsync([camera.Id], [1]);
        var statistics = new AlertStatistics(_city.Database);
        var now = _city.Time.GetUtcNow();
        statistics.AddFaces(now, camera.Id, basis.Id, 1000);
        using (var connection = _city.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            foreach (var counter in new[] { AlertStatistics.Raised, AlertStatistics.Raised, AlertStatistics.Raised, AlertStatistics.Raised, AlertStatistics.Confirmed, AlertStatistics.Rejected, AlertStatistics.Rejected })
            {
                AlertStatistics.Count(connection, transaction, counter, now, camera.Id, basis.Id);
            }

            transaction.Commit();
        }

        var reports = new Reports(_city.LegalBases, _city.Deployments, _city.Cameras, _city.Watchlists, statistics, _city.Time);
        var deployment = Assert.Single(_city.Deployments.List());
        var figures = Reports.Figures(deployment, statistics.Statistics(DateOnly.FromDateTime(now.UtcDateTime), DateOnly.FromDateTime(now.UtcDateTime)));
        var report = reports.AnnualReport(now.Year);

        Assert.Equal(new DeploymentFigures(deployment.Id, basis.Id, 1000, 4, 1, 2), figures);
        Assert.Equal(0.002, figures.FalseAlertRateAgainstFaces);
        Assert.Equal(0.5, figures.FalseAlertRateAgainstAlerts);
        Assert.Contains($"| {deployment.Id} | {basis.Id} Test basis |", report.Markdown, StringComparison.Ordinal);
        Assert.Contains("| 1000 | 4 | 1 | 2 | 0.002 | 0.5 |", report.Markdown, StringComparison.Ordinal);
        Assert.Contains("FRIA: human oversight", report.Markdown, StringComparison.Ordinal);
        Assert.Contains("<td>0.002</td>", report.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_use_notification_names_the_basis_decision_assessments_and_deployments_and_escapes_what_people_typed()
    {
        var camera = _city.AddCamera("CAM-N");
        var draft = _city.Draft([camera.Id], [1]) with { Title = "Search <script>alert(1)</script> | broken", IsDemonstration = true };
        var basis = await _city.PreparedBasisAsync(draft);
        basis = await _city.LegalBases.AuthoriseAsync(basis.Id, new AuthorityDecision("COURT-42"), TestCity.AuthorityActor);
        await _city.DeployAsync(basis.Id, [camera.Id], [1]);
        var reports = new Reports(_city.LegalBases, _city.Deployments, _city.Cameras, _city.Watchlists, new AlertStatistics(_city.Database), _city.Time);

        var report = reports.UseNotification(basis.Id);

        Assert.Contains("DEMONSTRATION", report.Markdown, StringComparison.Ordinal);
        Assert.Contains("COURT-42", report.Markdown, StringComparison.Ordinal);
        Assert.Contains("CAM-N", report.Markdown, StringComparison.Ordinal);
        Assert.Contains(TestCity.SamplePrerequisites.DpiaReference, report.Markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", report.Html, StringComparison.Ordinal);
        Assert.Contains("running", report.Markdown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_annual_report_is_public_and_a_notification_needs_the_authority_or_the_dpo()
    {
        await using var server = await RunningServer.StartAsync();
        var year = TimeProvider.System.GetUtcNow().Year;

        using var annual = await server.Anonymous.GetAsync($"/api/reports/annual/{year}?format=md");
        using var notificationAnonymous = await server.Anonymous.GetAsync("/api/reports/uses/1");
        using var badFormat = await server.Dpo.GetAsync($"/api/reports/annual/{year}?format=pdf");

        Assert.Equal(HttpStatusCode.OK, annual.StatusCode);
        Assert.Equal("text/markdown", annual.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith($"# Annual report {year}", await annual.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, notificationAnonymous.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badFormat.StatusCode);
    }
}
