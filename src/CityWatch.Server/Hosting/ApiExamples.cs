using System.Text.Json;
using System.Text.RegularExpressions;
using CityWatch.Alerts;
using CityWatch.Cameras;
using CityWatch.Grants;
using CityWatch.Investigations;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Server.Alerts;
using CityWatch.Settings;
using CityWatch.SubjectAccess;
using Microsoft.AspNetCore.Http.Json;
using ProblemDetails = Microsoft.AspNetCore.Mvc.ProblemDetails;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace CityWatch.Server;

/// <summary>
/// Examples in the OpenAPI document, one operation transformer for all of them: the request bodies of the
/// governed operations, keyed by method and route, are built from the real input records (a renamed field
/// breaks the build, not the document) and written with the server's own JSON options; every problem
/// response an operation can answer (400/401/403/404/409/413) is described as problem details with an
/// example of the problem.
/// </summary>
internal static partial class ApiExamples
{
    private static readonly DateTimeOffset From = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Request-body examples by "METHOD /route/{param}" (route constraints left out).</summary>
    public static readonly IReadOnlyDictionary<string, object> RequestBodies = new Dictionary<string, object>(StringComparer.Ordinal)
    {
        ["POST /api/legal-bases"] = new LegalBasisDraft(
            "Search for a missing child, Old Town",
            "Court order 2026/112",
            "Municipal court of Novi Sad",
            LegalObjective.VictimOrMissingPersonSearch,
            "Search for one missing child reported on 30 November 2026",
            [ProcessingPurpose.Live, ProcessingPurpose.Retrospective],
            [1, 2],
            [1],
            From,
            From.AddDays(7),
            MaxRetentionDays: 30,
            MaxWatchlistEntries: 5),
        ["POST /api/legal-bases/{id}/prerequisites"] = new Prerequisites(
            "DPIA-2026-07",
            new FriaAssessment(
                "Live identification against one watchlist at two cameras",
                "Seven days, continuous",
                "Passers-by in the Old Town square",
                "Misidentification; chilling effect on assembly",
                "Every match verified by two people before any action",
                "Matches below threshold leave no trace; complaints to the DPO"),
            "EU-DB-2026-000123",
            "DPA-OPINION-2026-45"),
        ["POST /api/legal-bases/{id}/authorise"] = new AuthorityDecision("COURT-2026-112-A"),
        ["POST /api/legal-bases/{id}/refuse"] = new AuthorityDecision("COURT-2026-112-R", "The search area is wider than the case needs."),
        ["POST /api/deployments"] = new DeploymentInput(1, [1, 2], [1]),
        ["POST /api/cases"] = new CaseInput("PD-2026-0042", 1, "Missing child reported on 30 November 2026", [1, 2], From, From.AddDays(1), From.AddDays(7)),
        ["POST /api/cameras"] = new CameraInput("CAM-OT-01", "S-OLDTOWN", "Old Town square, north", "City of Novi Sad", "public safety", "rtsp://10.0.0.21/stream1", FaceRecognitionAllowed: true, AnalysisFps: 2, AnalysisWidth: 640, RetentionDays: 30, Latitude: 45.2551, Longitude: 19.8452),
        ["POST /api/watchlists"] = new WatchlistInput("missing-2026-0042", "The missing child of case PD-2026-0042", "orange", Sound: true),
        ["PUT /api/watchlists/{id}/display"] = new WatchlistDisplayInput("purple", Sound: false),
        ["POST /api/alerts/{id}/decisions"] = new DecisionRequest(VerificationDecision.Confirm, "Same person: scar above the left eyebrow."),
        ["POST /api/settings/proposals"] = new ProposalInput(SettingProposals.ModelKey, "arcface-r100", "The evaluation report EV-2026-3 shows a lower false-match rate."),
        ["POST /api/subject-access/requests"] = new SubjectAccessRequestInput("DPO-SAR-2026-0007", IdentityVerification.DocumentInPerson, From),
    };

    /// <summary>Query-parameter examples of operations whose body is media, not JSON.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Parameters = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal)
    {
        ["POST /api/analyses"] = new Dictionary<string, string> { ["watchlist"] = "missing-2026-0042", ["case"] = "PD-2026-0042", ["fps"] = "10" },
    };

    /// <summary>Response examples by operation and status.</summary>
    public static readonly IReadOnlyDictionary<string, (string Status, object Example)> Responses = new Dictionary<string, (string, object)>(StringComparer.Ordinal)
    {
        ["POST /api/analyses"] = ("202", new AnalysisJob(
            7, "PD-2026-0042", 1, "old-town-2026-11-30.mp4", 10, 640, AnalysisJobState.Queued, 0, null, 0, 0, 0, null, "investigator@city.example", From, null, null)),
    };

    // Routes whose body is an upload: the only ones that answer 413.
    private static readonly HashSet<string> Uploads = new(StringComparer.Ordinal)
    {
        "POST /api/analyses", "POST /api/watchlists/{id}/entries", "POST /api/cameras/import", "POST /api/search", "POST /api/subject-access/requests/{id}/search",
    };

    private static readonly Dictionary<int, string> ProblemExamples = new()
    {
        [400] = "'validUntil' must be after 'validFrom'.",
        [401] = "Sign in first: no session token or cookie came with the request.",
        [403] = "This needs the role Investigator; you hold Operator.",
        [404] = "No legal basis 42.",
        [409] = "Case number PD-2026-0042 is already registered.",
        [413] = "The upload is larger than the limit of 536870912 bytes (512 MiB, ServerOptions.MaxUploadBytes).",
    };

    /// <summary>"METHOD /route/{param}" of an operation: the key of the tables above.</summary>
    public static string KeyOf(string method, string? relativePath) =>
        $"{method.ToUpperInvariant()} /{Constraint().Replace(relativePath ?? "", "}").Trim('/')}";

    public static async Task ApplyAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, bool isPublic, CancellationToken ct)
    {
        var json = context.ApplicationServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var key = KeyOf(context.Description.HttpMethod ?? "GET", context.Description.RelativePath);
        if (RequestBodies.TryGetValue(key, out var body) && operation.RequestBody?.Content is { } content && content.TryGetValue("application/json", out var media))
        {
            media.Example = JsonSerializer.SerializeToNode(body, body.GetType(), json);
        }

        if (Parameters.TryGetValue(key, out var examples))
        {
            // The media itself, which the endpoint streams from the request rather than binding.
            operation.RequestBody ??= new OpenApiRequestBody
            {
                Description = "The video or image: a multipart file, or the raw body with ?name=clip.mp4; no body when ?url= names a recording the city holds.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["multipart/form-data"] = new()
                    {
                        Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Object,
                            Properties = new Dictionary<string, IOpenApiSchema> { ["file"] = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                        },
                    },
                    ["application/octet-stream"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                },
            };

            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
            {
                if (parameter.Name is { } name && examples.TryGetValue(name, out var value))
                {
                    parameter.Example = value;
                }
            }
        }

        if (Responses.TryGetValue(key, out var answer))
        {
            // An endpoint that returns IResult leaves its success response undescribed: describe it from the example's type.
            operation.Responses ??= new OpenApiResponses();
            if (!operation.Responses.TryGetValue(answer.Status, out var described) || described is not OpenApiResponse { Content.Count: > 0 })
            {
                operation.Responses[answer.Status] = new OpenApiResponse
                {
                    Description = described?.Description ?? answer.Example.GetType().Name,
                    Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(answer.Example.GetType(), null, ct) } },
                };
            }

            foreach (var type in operation.Responses[answer.Status].Content?.Values ?? [])
            {
                type.Example = JsonSerializer.SerializeToNode(answer.Example, answer.Example.GetType(), json);
            }
        }

        var statuses = new List<int>();
        if (!isPublic)
        {
            statuses.AddRange([401, 403]);
        }

        var hasInput = operation.RequestBody is not null || operation.Parameters is { Count: > 0 } || Uploads.Contains(key);
        if (hasInput)
        {
            statuses.Add(400);
        }

        if (key.Contains('{', StringComparison.Ordinal))
        {
            statuses.Add(404);
        }

        if (key.StartsWith("POST ", StringComparison.Ordinal) || key.StartsWith("PUT ", StringComparison.Ordinal))
        {
            statuses.Add(409);
        }

        if (Uploads.Contains(key))
        {
            statuses.Add(413);
        }

        if (statuses.Count == 0)
        {
            return;
        }

        var schema = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, ct);
        operation.Responses ??= new OpenApiResponses();
        foreach (var status in statuses.Order())
        {
            var code = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses.ContainsKey(code))
            {
                continue;
            }

            var problem = new ProblemDetails { Status = status, Title = ProblemMapping.TitleFor(status), Detail = ProblemExamples[status] };
            operation.Responses[code] = new OpenApiResponse
            {
                Description = $"{ProblemMapping.TitleFor(status)}: RFC 9457 problem details.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/problem+json"] = new() { Schema = schema, Example = JsonSerializer.SerializeToNode(problem, json) },
                },
            };
        }
    }

    [GeneratedRegex(":[^}]*}")]
    private static partial Regex Constraint();
}
