using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Cameras;
using CityWatch.Cli.Hosting;

namespace CityWatch.Cli.Alerts;

/// <summary>
/// Alerts through the API: list and show (a verifier sees an alert they have not decided on as pending),
/// decide (two different verifiers confirm; one rejection rejects), export a confirmed alert's evidence
/// bundle (Investigator, with purpose and recipient).
/// </summary>
internal static class AlertsCommand
{
    public static Command Create()
    {
        var offset = new Option<int?>("--offset") { Description = "Skip this many (newest first)" };
        var limit = new Option<int?>("--limit") { Description = "At most this many (default 50)" };
        var camera = new Option<long?>("--camera") { Description = "Only this camera's alerts" };
        var list = ApiCommand.Create("list", "List alerts, newest first (Operator, Verifier, Investigator or DPO)", offset, limit, camera)
            .Sends<Page<Alert>>(
                (r, client, ct) =>
                {
                    var query = new List<string>();
                    if (r.GetValue(offset) is { } o)
                    {
                        query.Add(string.Create(CultureInfo.InvariantCulture, $"offset={o}"));
                    }

                    if (r.GetValue(limit) is { } l)
                    {
                        query.Add(string.Create(CultureInfo.InvariantCulture, $"limit={l}"));
                    }

                    if (r.GetValue(camera) is { } c)
                    {
                        query.Add(string.Create(CultureInfo.InvariantCulture, $"cameraId={c}"));
                    }

                    return client.GetAsync(query.Count == 0 ? "api/alerts" : "api/alerts?" + string.Join('&', query), ct);
                },
                page =>
                {
                    ApiCommand.Table(
                        ["id", "at", "camera", "label", "score", "threshold", "status", "basis"],
                        page.Items.Select(a => new[]
                        {
                            a.Id.ToString(CultureInfo.InvariantCulture), ApiCommand.Time(a.At), a.CameraId?.ToString(CultureInfo.InvariantCulture) ?? "media", a.Label,
                            ApiCommand.Number(a.Score), ApiCommand.Number(a.Threshold), a.Status, a.LegalBasisId.ToString(CultureInfo.InvariantCulture),
                        }));
                    Console.WriteLine($"{page.Offset + 1}-{page.Offset + page.Items.Count} of {page.Total}");
                });

        var id = new Argument<long>("id") { Description = "The alert's id" };
        var show = ApiCommand.Create("show", "One alert with its evidence: score, threshold, quality, top candidates", id)
            .Sends<Alert>(
                (r, client, ct) => client.GetAsync(Path(r, id, null), ct),
                a => ApiCommand.Fields(
                    ("id", a.Id.ToString(CultureInfo.InvariantCulture)),
                    ("status", a.Status),
                    ("label", a.Label),
                    ("camera", a.CameraId?.ToString(CultureInfo.InvariantCulture) ?? "supplied media"),
                    ("seen", $"{ApiCommand.Time(a.At)} to {ApiCommand.Time(a.LastSeen)}, {a.Frames} frames"),
                    ("score", $"{ApiCommand.Number(a.Score)} (threshold {ApiCommand.Number(a.Threshold)})"),
                    ("quality", a.Quality is { } q ? ApiCommand.Number(q) : null),
                    ("candidates", string.Join("; ", a.TopCandidates.Select(c => $"{c.Label} {ApiCommand.Number(c.Score)}"))),
                    ("watchlist", $"{a.WatchlistId} entry {a.EntryId}"),
                    ("legal basis", a.LegalBasisId.ToString(CultureInfo.InvariantCulture)),
                    ("settled", a.SettledAt is { } s ? ApiCommand.Time(s) : null)));

        var decision = new Argument<string>("decision") { Description = "confirm or reject" };
        decision.AcceptOnlyFromAmong("confirm", "reject");
        var note = new Option<string?>("--note") { Description = "A note kept with the decision" };
        var decide = ApiCommand.Create("decide", "Confirm or reject a candidate (Verifier; two different verifiers confirm, one rejection rejects)", id, decision, note)
            .Sends<DecisionReceipt>(
                (r, client, ct) => client.PostAsync(Path(r, id, "decisions"), ApiCommand.Body(new { decision = r.GetValue(decision), note = r.GetValue(note) }), ct),
                receipt => Console.WriteLine($"alert {receipt.AlertId}: you decided {receipt.Decision.ToString().ToLowerInvariant()}; it is now {receipt.Status}"));

        var purpose = new Option<string>("--purpose") { Description = "Why the evidence leaves (logged)", Required = true };
        var recipient = new Option<string>("--recipient") { Description = "Who receives it (logged)", Required = true };
        var output = new Option<FileInfo?>("--out") { Description = "Where to write the ZIP (default: the server's file name, in the current folder)" };
        var export = ApiCommand.Create("export", "Export a confirmed alert's evidence bundle as a ZIP (Investigator); --json prints the file, size and manifest hash", id, purpose, recipient, output);
        export.SetAction((r, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(r);
            using var response = await client.PostAsync(Path(r, id, "export"), ApiCommand.Body(new { purpose = r.GetValue(purpose), recipient = r.GetValue(recipient) }), ct);
            await CliCommon.EnsureAsync(response, ct);
            var name = response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName?.Trim('"')
                ?? string.Create(CultureInfo.InvariantCulture, $"alert-{r.GetValue(id)}.zip");
            var file = r.GetValue(output) ?? new FileInfo(System.IO.Path.GetFileName(name));
            var zip = await response.Content.ReadAsByteArrayAsync(ct);
            await File.WriteAllBytesAsync(file.FullName, zip, ct);
            var manifest = response.Headers.TryGetValues("X-Manifest-Sha256", out var values) ? values.FirstOrDefault() : null;
            if (r.GetValue(ApiCommand.Json))
            {
                ApiCommand.PrintJson(JsonSerializer.Serialize(new { alertId = r.GetValue(id), file = file.FullName, bytes = zip.Length, manifestSha256 = manifest }, CliCommon.JsonOptions));
            }
            else
            {
                Console.WriteLine($"wrote {file.FullName} ({zip.Length} bytes); manifest SHA-256 {manifest} (recorded in the audit log)");
            }

            return 0;
        }));

        return new Command("alerts", "Alerts: list, show, decide, export") { list, show, decide, export };
    }

    private static string Path(ParseResult result, Argument<long> id, string? action)
    {
        var path = $"api/alerts/{result.GetValue(id).ToString(CultureInfo.InvariantCulture)}";
        return action is null ? path : $"{path}/{action}";
    }
}
