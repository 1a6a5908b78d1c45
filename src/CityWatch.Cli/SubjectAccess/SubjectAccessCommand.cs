using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CityWatch.Cli.Hosting;
using CityWatch.SubjectAccess;

namespace CityWatch.Cli.SubjectAccess;

/// <summary>
/// Subject-access requests through the API: a DPO registers the request and runs its one search with the
/// requester's photo (the answer is sealed); a second DPO or an authority approves; then the DPO reads the
/// answer (the redacted crops can be written to a folder to send).
/// </summary>
internal static class SubjectAccessCommand
{
    public static Command Create()
    {
        var identity = new Option<string>("--identity-ref") { Description = "The requester's verified identity reference (stored only as a salted hash)", Required = true };
        var verification = new Option<string>("--verification") { Description = "How the identity was verified", Required = true };
        verification.AcceptOnlyFromAmong(Enum.GetNames<IdentityVerification>());
        var received = new Option<DateTimeOffset>("--received-at") { Description = "When the request came in (ISO 8601; not in the future): the answer's legal deadline runs from it", Required = true };
        var register = ApiCommand.Create("register", "Register a request (DPO)", identity, verification, received)
            .Sends<SubjectAccessRequest>(
                (r, client, ct) => client.PostAsync("api/subject-access/requests", ApiCommand.Body(new { identityReference = r.GetValue(identity), verification = r.GetValue(verification), receivedAt = r.GetValue(received) }), ct),
                q => Console.WriteLine($"registered request {q.Id} ({q.Reference}); next: `citywatch subject-access search {q.Id} PHOTO`"));

        var id = new Argument<long>("id") { Description = "The request's id" };
        var photo = new Argument<FileInfo>("photo") { Description = "The requester's own photo (held in memory by the server, never stored)" };
        var search = ApiCommand.Create("search", "Run the request's one search with the requester's photo; the answer stays sealed until approved (DPO)", id, photo);
        search.SetAction((r, ct) => CliCommon.Guard(async () =>
        {
            var file = r.GetValue(photo)!;
            if (!file.Exists)
            {
                throw new FileNotFoundException($"no such file: {file.FullName}");
            }

            using var client = CliCommon.Client(r);
            using var form = new MultipartFormDataContent();
            form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(file.FullName, ct)), "photo", file.Name);
            using var response = await client.PostAsync(Path(r, id, "search"), form, ct);
            await CliCommon.EnsureAsync(response, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            if (r.GetValue(ApiCommand.Json))
            {
                ApiCommand.PrintJson(body);
            }
            else
            {
                var searched = JsonSerializer.Deserialize<SubjectAccessRequest>(body, CliCommon.JsonOptions)!;
                Console.WriteLine($"request {searched.Id} searched; the answer is sealed until a second DPO or an authority runs `citywatch subject-access approve {searched.Id}`");
            }

            return 0;
        }));

        var approve = ApiCommand.Create("approve", "Release a searched request's answer (a second DPO or an Authority)", id)
            .Sends<SubjectAccessRequest>(
                (r, client, ct) => client.PostAsync(Path(r, id, "approve"), null, ct),
                q => Console.WriteLine($"request {q.Id} {q.State.ToString().ToLowerInvariant()}; the DPO reads it with `citywatch subject-access answer {q.Id}`"));

        var folder = new Option<DirectoryInfo?>("--out") { Description = "Write each record's redacted crop as a JPEG into this folder" };
        var answer = ApiCommand.Create("answer", "Read a released answer: the records showing the requester (DPO); --out writes their redacted crops", id, folder);
        answer.SetAction((r, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(r);
            using var response = await client.GetAsync(Path(r, id, "answer"), ct);
            await CliCommon.EnsureAsync(response, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            var released = JsonSerializer.Deserialize<SubjectAccessAnswer>(body, CliCommon.JsonOptions)!;
            if (r.GetValue(folder) is { } directory)
            {
                directory.Create();
                foreach (var record in released.Records)
                {
                    await File.WriteAllBytesAsync(System.IO.Path.Combine(directory.FullName, string.Create(CultureInfo.InvariantCulture, $"record-{record.AlertId}.jpg")), record.RedactedCropJpeg, ct);
                }
            }

            if (r.GetValue(ApiCommand.Json))
            {
                ApiCommand.PrintJson(body);
                return 0;
            }

            Console.WriteLine($"{released.Reference}: {released.Records.Count} of {released.Searched} stored records show the requester (threshold {ApiCommand.Number(released.Threshold)})");
            ApiCommand.Table(
                ["alert", "camera", "from", "until", "status", "score"],
                released.Records.Select(x => new[] { x.AlertId.ToString(CultureInfo.InvariantCulture), x.CameraId?.ToString(CultureInfo.InvariantCulture) ?? "media", ApiCommand.Time(x.At), ApiCommand.Time(x.LastSeen), x.Status, ApiCommand.Number(x.Score) }));
            return 0;
        }));

        var list = ApiCommand.Create("list", "List requests (DPO or Authority)")
            .Sends<List<SubjectAccessRequest>>(
                (_, client, ct) => client.GetAsync("api/subject-access/requests", ct),
                all => ApiCommand.Table(
                    ["id", "reference", "verification", "received", "state", "searched by", "approved by"],
                    all.Select(q => new[] { q.Id.ToString(CultureInfo.InvariantCulture), q.Reference, q.Verification.ToString(), ApiCommand.Time(q.ReceivedAt), q.State.ToString(), q.SearchedBy, q.ApprovedBy })));

        return new Command("subject-access", "Subject-access requests (GDPR Art. 15): register, search, approve, answer, list") { register, search, approve, answer, list };
    }

    private static string Path(ParseResult result, Argument<long> id, string action) =>
        $"api/subject-access/requests/{result.GetValue(id).ToString(CultureInfo.InvariantCulture)}/{action}";
}
