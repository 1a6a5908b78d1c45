using System.Globalization;
using System.Text;
using CityWatch.Alerts;
using CityWatch.Cameras;
using CityWatch.Matching;
using CityWatch.Policy;
using Markdig;

namespace CityWatch.Transparency;

/// <summary>A report in the two forms the regulator, the data-protection authority and the public read; <paramref name="Body"/> is the HTML's body alone, for a page that frames it (no raw HTML from the Markdown: it is disabled).</summary>
public sealed record Report(string Title, string Markdown, string Html, string Body);

/// <summary>What one deployment did in a period: the figures G17 asks for.</summary>
public sealed record DeploymentFigures(long DeploymentId, long LegalBasisId, long Faces, int Alerts, int Confirmed, int FalseAlerts)
{
    /// <summary>False alerts per face analysed (null when no face was analysed).</summary>
    public double? FalseAlertRateAgainstFaces => Faces == 0 ? null : (double)FalseAlerts / Faces;

    /// <summary>False alerts per alert raised (null when there was no alert).</summary>
    public double? FalseAlertRateAgainstAlerts => Alerts == 0 ? null : (double)FalseAlerts / Alerts;
}

/// <summary>
/// The reports G15 and G18 ask for (AI Act 5(4), 5(6), 26(10)): the notification of each use of a legal
/// basis to the market-surveillance authority and the data-protection authority, and the yearly report with
/// per-deployment statistics (faces analysed, alerts, confirmed and false alerts — a false alert is one a
/// verifier rejected — and the false-alert rate against faces and against alerts) and the DPIA and FRIA
/// summaries. Written as Markdown, rendered to HTML with Markdig. Figures come from the aggregate
/// statistics, which outlive the alerts that retention deletes.
/// </summary>
public sealed class Reports(LegalBasisStore legalBases, DeploymentStore deployments, CameraStore cameras, WatchlistStore watchlists, AlertStatistics statistics, TimeProvider time)
{
    // Only what the reports use (pipe tables); no raw HTML, no bare-URL autolinks: whatever a value smuggles past
    // Escape renders as text, never as markup or a link.
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UsePipeTables().DisableHtml().Build();

    /// <summary>The reports' one inline stylesheet; the server's content security policy admits it by its hash.</summary>
    public const string Stylesheet = "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.25rem .5rem;text-align:left}blockquote{border-left:4px solid #c00;margin:0;padding:.5rem 1rem;background:#fee}";

    /// <summary>The notification of one use: the basis, its prerequisites, the decision and its deployments.</summary>
    public Report UseNotification(long legalBasisId)
    {
        var basis = legalBases.Get(legalBasisId);
        var md = new StringBuilder();
        var title = $"Notification of use: legal basis {basis.Id}, {basis.Title}";
        md.AppendLine(CultureInfo.InvariantCulture, $"# {Escape(title)}");
        md.AppendLine();
        if (basis.IsDemonstration)
        {
            md.AppendLine("> **DEMONSTRATION** — this basis exists to show how CityWatch works. It is not an authorisation under any law.");
            md.AppendLine();
        }

        md.AppendLine(CultureInfo.InvariantCulture, $"For the market-surveillance authority and the data-protection authority (AI Act art. 5(4)). Generated {Format(time.GetUtcNow())}.");
        md.AppendLine();
        md.AppendLine("## The use");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("|---|---|");
        Row(md, "Legal instrument", basis.Instrument);
        Row(md, "Issuing authority", basis.Authority);
        Row(md, "Objective", $"{basis.Objective}{(basis.Offence is null ? "" : $" ({basis.Offence})")}: {basis.ObjectiveDetail}");
        Row(md, "Purposes", string.Join(", ", basis.Purposes));
        Row(md, "Cameras", CameraList(basis.CameraIds));
        Row(md, "Area", basis.Area is { Count: > 0 } area ? string.Join("; ", area.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Latitude:0.#####},{p.Longitude:0.#####}"))) : "none");
        Row(md, "Watchlists", string.Join(", ", basis.WatchlistIds.Select(WatchlistName)));
        Row(md, "Time window", $"{Format(basis.ValidFrom)} to {Format(basis.ValidUntil)}");
        Row(md, "Maximum retention", $"{basis.MaxRetentionDays} days");
        Row(md, "Watchlist size cap", basis.MaxWatchlistEntries.ToString(CultureInfo.InvariantCulture));
        Row(md, "Urgency", basis.Urgent ? $"yes, authorisation due by {Format(basis.UrgencyDeadline!.Value)}" : "no");
        Row(md, "Status", basis.Status.ToString());
        Row(md, "Registered by", $"{basis.CreatedBy} at {Format(basis.CreatedAt)}");
        Row(md, "Decision", basis.DecisionReference is null ? "none yet" : $"{basis.DecisionReference} by {basis.DecidedBy} at {Format(basis.DecidedAt!.Value)}");
        md.AppendLine();
        AppendAssessments(md, basis);
        md.AppendLine("## Deployments");
        md.AppendLine();
        var uses = deployments.List().Where(d => d.LegalBasisId == basis.Id).ToList();
        if (uses.Count == 0)
        {
            md.AppendLine("None.");
        }
        else
        {
            md.AppendLine("| deployment | cameras | watchlist versions | started | stopped |");
            md.AppendLine("|---|---|---|---|---|");
            foreach (var d in uses)
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {d.Id} | {Escape(CameraList(d.CameraIds))} | {Escape(string.Join(", ", d.Watchlists.Select(w => $"{WatchlistName(w.WatchlistId)} {w.Digest[..Math.Min(12, w.Digest.Length)]}")))} | {Escape(d.StartedBy)} {Format(d.StartedAt)} | {(d.StoppedAt is { } at ? $"{Escape(d.StoppedBy ?? "")} {Format(at)}" : "running")} |");
            }
        }

        return Render(title, md);
    }

    /// <summary>The yearly report: every basis and deployment active in <paramref name="year"/>, with figures and assessments.</summary>
    public Report AnnualReport(int year)
    {
        if (year is < 2000 or > 9999)
        {
            throw new InvalidRequestException($"'{year}' is not a year.");
        }

        var from = new DateOnly(year, 1, 1);
        var to = new DateOnly(year, 12, 31);
        var yearStart = new DateTimeOffset(year, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var yearEnd = yearStart.AddYears(1);
        var days = statistics.Statistics(from, to);
        var uses = deployments.List().Where(d => d.StartedAt < yearEnd && (d.StoppedAt ?? DateTimeOffset.MaxValue) >= yearStart).ToList();
        var title = string.Create(CultureInfo.InvariantCulture, $"Annual report {year}: biometric identification in public spaces");
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# {title}");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"For the market-surveillance authority, the data-protection authority and the public (AI Act art. 5(6), 26(10)). Generated {Format(time.GetUtcNow())}. A false alert is a candidate match that a verifier rejected.");
        md.AppendLine();
        md.AppendLine("## Per deployment");
        md.AppendLine();
        if (uses.Count == 0)
        {
            md.AppendLine("No deployment was active this year.");
        }
        else
        {
            md.AppendLine("| deployment | legal basis | period | faces analysed | alerts | confirmed | false alerts | false alerts per face | false alerts per alert |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var d in uses)
            {
                var f = Figures(d, days);
                var basis = legalBases.Get(d.LegalBasisId);
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {d.Id} | {basis.Id} {Escape(basis.Title)}{(basis.IsDemonstration ? " (demonstration)" : "")} | {Format(d.StartedAt)} to {(d.StoppedAt is { } s ? Format(s) : "running")} | {f.Faces} | {f.Alerts} | {f.Confirmed} | {f.FalseAlerts} | {Rate(f.FalseAlertRateAgainstFaces)} | {Rate(f.FalseAlertRateAgainstAlerts)} |");
            }
        }

        md.AppendLine();
        md.AppendLine("## Legal bases and their assessments");
        md.AppendLine();
        foreach (var basis in legalBases.List().Where(b => b.ValidFrom < yearEnd && b.ValidUntil >= yearStart))
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"### {basis.Id}. {Escape(basis.Title)}{(basis.IsDemonstration ? " (DEMONSTRATION)" : "")}");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"{Escape(basis.Instrument)}; {basis.Objective}; {Format(basis.ValidFrom)} to {Format(basis.ValidUntil)}; status {basis.Status}.");
            md.AppendLine();
            AppendAssessments(md, basis, level: "####");
        }

        return Render(title, md);
    }

    /// <summary>The figures of one deployment: statistics of its basis on its cameras, on the days it ran.</summary>
    public static DeploymentFigures Figures(Deployment deployment, IReadOnlyList<DailyAlertStatistics> days)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        var first = DateOnly.FromDateTime(deployment.StartedAt.UtcDateTime);
        var last = deployment.StoppedAt is { } stopped ? DateOnly.FromDateTime(stopped.UtcDateTime) : DateOnly.MaxValue;
        var mine = days.Where(d => d.LegalBasisId == deployment.LegalBasisId && d.CameraId is { } camera && deployment.CameraIds.Contains(camera) && d.Day >= first && d.Day <= last).ToList();
        return new DeploymentFigures(deployment.Id, deployment.LegalBasisId, mine.Sum(d => d.Faces), mine.Sum(d => d.Raised), mine.Sum(d => d.Confirmed), mine.Sum(d => d.Rejected));
    }

    private static void AppendAssessments(StringBuilder md, LegalBasis basis, string level = "##")
    {
        md.AppendLine(CultureInfo.InvariantCulture, $"{level} Impact assessments (summary)");
        md.AppendLine();
        if (basis.Prerequisites is not { } p)
        {
            md.AppendLine("Not recorded: this basis cannot be authorised or used.");
            md.AppendLine();
            return;
        }

        md.AppendLine("| | |");
        md.AppendLine("|---|---|");
        Row(md, "DPIA", p.DpiaReference);
        Row(md, "FRIA: processes", p.Fria.Processes);
        Row(md, "FRIA: period and frequency", p.Fria.PeriodAndFrequency);
        Row(md, "FRIA: affected groups", p.Fria.AffectedGroups);
        Row(md, "FRIA: risks", p.Fria.Risks);
        Row(md, "FRIA: human oversight", p.Fria.HumanOversight);
        Row(md, "FRIA: mitigation and complaints", p.Fria.MitigationAndComplaints);
        Row(md, "Registration", p.RegistrationId);
        Row(md, "Regulator's opinion", p.RegulatorOpinionReference);
        md.AppendLine();
    }

    private Report Render(string title, StringBuilder md)
    {
        var markdown = md.ToString();
        var body = Markdown.ToHtml(markdown, Pipeline);
        var html = $"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{System.Net.WebUtility.HtmlEncode(title)}</title>" +
            $"<style>{Stylesheet}</style>" +
            $"</head><body>\n{body}</body></html>\n";
        return new Report(title, markdown, html, body);
    }

    private string CameraList(IReadOnlyList<long> ids) =>
        ids.Count == 0 ? "none" : string.Join(", ", ids.Select(id => cameras.Find(id) is { } c ? $"{c.Code} ({c.Name})" : $"camera {id} (deleted)"));

    private string WatchlistName(long id)
    {
        try
        {
            return watchlists.Get(id).Name;
        }
        catch (NotFoundException)
        {
            return $"watchlist {id} (deleted)";
        }
    }

    private static void Row(StringBuilder md, string name, string value) => md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {Escape(value)} |");

    // Text from people goes into table cells, headings and paragraphs as plain text. Every ASCII punctuation
    // character that Markdown can give a meaning to is backslash-escaped (CommonMark's escape for any of them),
    // so no value can open a link, an image, an autolink, emphasis, a table cell, an entity or an HTML tag;
    // '-' and '.' only where they could start a list (first, or after leading digits). Line breaks and other
    // control characters become spaces, so no value can start a block of its own.
    internal static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length * 2);
        var leadingDigits = true;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var inert = char.IsAsciiLetterOrDigit(c) || c is ' ' or ',' or ';' or ':' or '/' or '?' or '%' or '\'' or '"' or '@'
                || (c == '-' && i > 0)
                || (c == '.' && !leadingDigits)
                || (c > 127 && !char.IsControl(c));
            if (inert)
            {
                escaped.Append(c);
            }
            else if (char.IsAscii(c) && (char.IsPunctuation(c) || char.IsSymbol(c)))
            {
                escaped.Append('\\').Append(c);
            }
            else
            {
                escaped.Append(' ');
            }

            leadingDigits &= char.IsAsciiDigit(c);
        }

        return escaped.ToString();
    }

    private static string Format(DateTimeOffset at) => at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    private static string Rate(double? rate) => rate is { } r ? r.ToString("0.######", CultureInfo.InvariantCulture) : "n/a";
}
