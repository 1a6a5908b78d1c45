using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CityWatch.Identity;
using CityWatch.Server.Identity;
using CityWatch.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Identity;

/// <summary>
/// Every endpoint of the running app, called by every role, anonymous and an edge key, against the table
/// below. The table is written by hand from the access policy, not read from the code: an endpoint the
/// table does not list, or one that declares no rule, fails the test.
/// </summary>
public sealed class AuthorizationMatrixTests
{
    private const string Public = "public";
    private const string AnySignedIn = "any";

    private static readonly string[] Staff = ["Administrator", "Operator", "Verifier", "Investigator", "Authority", "DataProtectionOfficer"];

    private static readonly Dictionary<string, string[]> Expected = new()
    {
        ["GET /healthz"] = [Public],
        ["GET /openapi/{documentName}.json"] = [Public],
        ["POST /api/setup"] = [Public],
        ["POST /api/auth/sign-in"] = [Public],
        ["POST /api/auth/sign-out"] = [AnySignedIn],
        ["GET /api/auth/oidc"] = [Public],
        ["GET /api/auth/me"] = [AnySignedIn],
        ["GET /api/auth/antiforgery"] = [AnySignedIn],
        ["GET /api/public/accounts"] = [Public],
        ["GET /api/public/accounts/history"] = [Public],
        ["POST /api/invitations/accept"] = [Public],
        ["POST /api/invitations/confirm"] = [Public],
        ["GET /api/invitations/pending"] = ["Administrator", "Authority", "DataProtectionOfficer", "Verifier"],
        ["POST /api/invitations/{id:long}/approve"] = ["Authority", "DataProtectionOfficer", "Verifier"],
        ["POST /api/invitations/{id:long}/reject"] = ["Authority", "DataProtectionOfficer", "Verifier"],
        ["GET /api/role-grants/pending"] = ["Administrator", "Authority", "DataProtectionOfficer", "Verifier"],
        ["POST /api/role-grants/{id:long}/approve"] = ["Authority", "DataProtectionOfficer", "Verifier"],
        ["POST /api/role-grants/{id:long}/reject"] = ["Authority", "DataProtectionOfficer", "Verifier"],
        ["GET /api/accounts/"] = ["Administrator", "DataProtectionOfficer"],
        ["POST /api/accounts/"] = ["Administrator"],
        ["POST /api/accounts/{id:long}/disable"] = ["Administrator"],
        ["POST /api/accounts/{id:long}/enable"] = ["Administrator"],
        ["POST /api/accounts/{id:long}/invitation"] = ["Administrator"],
        ["POST /api/accounts/{id:long}/reset"] = ["Administrator"],
        ["POST /api/accounts/{id:long}/roles"] = ["Administrator"],
        ["DELETE /api/accounts/{id:long}/roles/{grantId:long}"] = ["Administrator"],
        ["GET /api/keys/"] = ["Administrator", "DataProtectionOfficer"],
        ["POST /api/keys/"] = ["Administrator"],
        ["POST /api/keys/{id:long}/revoke"] = ["Administrator"],
        ["POST /api/edge/cameras/{id:long}/events"] = ["EdgeDevice"],
        ["GET /api/sites/"] = Staff,
        ["POST /api/sites/"] = ["Administrator"],
        ["GET /api/cameras/"] = Staff,
        ["GET /api/cameras/{id:long}"] = Staff,
        ["GET /api/cameras/{id:long}/health"] = Staff,
        ["POST /api/cameras/"] = ["Administrator"],
        ["PUT /api/cameras/{id:long}"] = ["Administrator"],
        ["DELETE /api/cameras/{id:long}"] = ["Administrator"],
        ["POST /api/cameras/import"] = ["Administrator"],
        ["GET /api/legal-bases/"] = Staff,
        ["GET /api/legal-bases/{id:long}"] = Staff,
        ["POST /api/legal-bases/"] = ["Operator", "Investigator"],
        ["POST /api/legal-bases/{id:long}/prerequisites"] = ["Operator", "Investigator"],
        ["POST /api/legal-bases/{id:long}/authorise"] = ["Authority"],
        ["POST /api/legal-bases/{id:long}/refuse"] = ["Authority"],
        ["POST /api/legal-bases/{id:long}/revoke"] = ["Authority", "DataProtectionOfficer"],
        ["GET /api/urgent-requests/"] = ["Authority", "DataProtectionOfficer"],
        ["GET /api/public/urgent-requests"] = [Public],
        ["GET /api/watchlists/"] = ["Operator", "Investigator", "Verifier", "Authority", "DataProtectionOfficer"],
        ["GET /api/watchlists/{id:long}"] = ["Operator", "Investigator", "Verifier", "Authority", "DataProtectionOfficer"],
        ["GET /api/watchlists/{id:long}/entries"] = ["Operator", "Investigator", "Verifier", "Authority", "DataProtectionOfficer"],
        ["POST /api/watchlists/"] = ["Investigator"],
        ["POST /api/watchlists/{id:long}/approve"] = ["Investigator", "Authority"],
        ["PUT /api/watchlists/{id:long}/display"] = ["Investigator"],
        ["GET /api/deployments/"] = Staff,
        ["GET /api/deployments/{id:long}"] = Staff,
        ["POST /api/deployments/"] = ["Operator"],
        ["POST /api/deployments/{id:long}/stop"] = ["Operator", "Authority", "DataProtectionOfficer"],
        ["POST /api/watchlists/{id:long}/entries"] = ["Investigator"],
        ["DELETE /api/watchlists/{id:long}/entries/{entryId:long}"] = ["Investigator"],
        ["POST /api/analyze"] = ["Investigator"],
        ["POST /api/analyses/"] = ["Investigator"],
        ["GET /api/analyses/"] = ["Investigator"],
        ["GET /api/analyses/{id:long}"] = ["Investigator"],
        ["GET /api/analyses/{id:long}/events"] = ["Investigator"],
        ["GET /api/analyses/{id:long}/candidates"] = ["Investigator"],
        ["POST /api/analyses/{id:long}/cancel"] = ["Investigator"],
        ["GET /api/alerts/"] = ["Operator", "Verifier", "Investigator", "DataProtectionOfficer"],
        ["GET /api/alerts/{id:long}"] = ["Operator", "Verifier", "Investigator", "DataProtectionOfficer"],
        ["GET /api/alerts/{id:long}/crop"] = ["Operator", "Verifier", "Investigator"],
        ["GET /api/alerts/{id:long}/enrolment-photo"] = ["Operator", "Verifier", "Investigator"],
        ["GET /api/alerts/candidates"] = ["Verifier"],
        ["POST /api/alerts/{id:long}/decisions"] = ["Verifier"],
        ["GET /api/alerts/{id:long}/decisions"] = ["DataProtectionOfficer"],
        ["POST /api/alerts/{id:long}/export"] = ["Investigator"],
        ["POST /api/search"] = ["Investigator"],
        ["GET /api/cases/"] = ["Investigator", "Authority", "DataProtectionOfficer"],
        ["GET /api/cases/{id:long}"] = ["Investigator", "Authority", "DataProtectionOfficer"],
        ["POST /api/cases/"] = ["Investigator"],
        ["POST /api/cases/{id:long}/close"] = ["Investigator", "Authority", "DataProtectionOfficer"],
        ["GET /api/public/cases"] = [Public],
        ["GET /api/subject-access/requests/"] = ["DataProtectionOfficer", "Authority"],
        ["GET /api/subject-access/requests/{id:long}"] = ["DataProtectionOfficer", "Authority"],
        ["POST /api/subject-access/requests/"] = ["DataProtectionOfficer"],
        ["POST /api/subject-access/requests/{id:long}/search"] = ["DataProtectionOfficer"],
        ["POST /api/subject-access/requests/{id:long}/approve"] = ["DataProtectionOfficer", "Authority"],
        ["GET /api/subject-access/requests/{id:long}/answer"] = ["DataProtectionOfficer"],
        ["GET /api/public/subject-access"] = [Public],
        ["GET /api/settings/"] = Staff,
        ["GET /api/settings/proposals"] = Staff,
        ["POST /api/settings/proposals"] = ["Administrator", "Investigator"],
        ["POST /api/settings/proposals/{id:long}/approve"] = ["DataProtectionOfficer", "Authority"],
        ["POST /api/settings/proposals/{id:long}/reject"] = ["DataProtectionOfficer", "Authority"],
        ["GET /api/reports/uses/{legalBasisId:long}"] = ["Authority", "DataProtectionOfficer"],
        ["GET /api/reports/annual/{year:int}"] = [Public],
        ["GET /api/models/"] = [Public],
        ["GET /api/models/{name}"] = [Public],
        ["GET /audit/checkpoint"] = [Public],
        ["GET /audit/key"] = [Public],
        ["GET /audit/witnessed"] = [Public],
        ["GET /api/audit/entries/{id:long}/opening"] = ["Authority", "DataProtectionOfficer"],
        ["GET /audit/tile/{**path}"] = [Public],
        ["GET /audit/entries"] = [Public],
        ["GET /audit/leaf/{index:long}"] = [Public],
        ["GET /audit/proof/inclusion"] = [Public],
        ["GET /audit/proof/consistency"] = [Public],
        ["POST /audit/cosignature"] = [Public],
        ["GET /"] = [Public],
        ["GET /register"] = [Public],
        ["GET /register/cameras.json"] = [Public],
        ["GET /deployments"] = [Public],
        ["GET /log"] = [Public],
        ["GET /log/verify"] = [Public],
        ["GET /statistics"] = [Public],
        ["GET /console/sign-in"] = [Public],
        ["POST /console/sign-in"] = [Public],
        ["POST /console/sign-out"] = [AnySignedIn],
        ["GET /console/alerts"] = ["Operator", "Verifier", "Investigator", "DataProtectionOfficer"],
        ["GET /console/alerts/stream"] = ["Operator", "Verifier", "Investigator", "DataProtectionOfficer"],
        ["GET /console/alerts/{id:long}"] = ["Operator", "Verifier", "Investigator", "DataProtectionOfficer"],
        ["POST /console/alerts/{id:long}/decision"] = ["Verifier"],
        ["GET /console/deployments"] = Staff,
        ["POST /console/deployments/{id:long}/stop"] = ["Operator", "Authority", "DataProtectionOfficer"],
        ["GET /console/cameras"] = Staff,
        ["GET /console/cameras/{id:long}"] = Staff,
        ["GET /console/reports"] = Staff,
        ["GET /console/reports/annual/{year:int}"] = Staff,
        ["GET /console/reports/uses/{legalBasisId:long}"] = ["Authority", "DataProtectionOfficer"],
        ["GET /console/bases"] = Staff,
        ["POST /console/bases"] = ["Operator", "Investigator"],
        ["POST /console/bases/{id:long}/authorise"] = ["Authority"],
        ["POST /console/bases/{id:long}/refuse"] = ["Authority"],
        ["POST /console/bases/{id:long}/revoke"] = ["Authority", "DataProtectionOfficer"],
        ["GET /console/watchlists"] = ["Operator", "Investigator", "Verifier", "Authority", "DataProtectionOfficer"],
        ["GET /console/watchlists/{id:long}"] = ["Operator", "Investigator", "Verifier", "Authority", "DataProtectionOfficer"],
        ["POST /console/watchlists/{id:long}/approve"] = ["Investigator", "Authority"],
        ["GET /console/log"] = Staff,
        ["GET /console/settings"] = Staff,
        ["POST /console/settings/proposals"] = ["Administrator", "Investigator"],
        ["POST /console/settings/proposals/{id:long}/approve"] = ["DataProtectionOfficer", "Authority"],
        ["POST /console/settings/proposals/{id:long}/reject"] = ["DataProtectionOfficer", "Authority"],
        ["GET /console/cases"] = ["Investigator", "Authority", "DataProtectionOfficer"],
        ["GET /console/cases/{id:long}"] = ["Investigator", "Authority", "DataProtectionOfficer"],
        ["POST /console/cases"] = ["Investigator"],
        ["POST /console/cases/{id:long}/close"] = ["Investigator", "Authority", "DataProtectionOfficer"],
        ["GET /console/jobs"] = ["Investigator"],
        ["GET /console/jobs/{id:long}"] = ["Investigator"],
        ["GET /console/jobs/{id:long}/stream"] = ["Investigator"],
        ["POST /console/jobs/{id:long}/cancel"] = ["Investigator"],
    };

    [Fact]
    public async Task Every_endpoint_admits_exactly_the_roles_in_the_table()
    {
        await using var server = await RunningServer.StartAsync();
        var camera = await server.AddCameraAsync("EDGE-1", null, faceRecognition: false);
        var key = await ApiCalls.ReadAsync<CreatedApiKey>(await server.Admin.PostAsJsonAsync("/api/keys", new ApiKeyInput("door camera", [camera.Id]), ApiCalls.Json));
        var edge = server.NewClient();
        edge.DefaultRequestHeaders.Add("X-Api-Key", key.Secret);
        var callers = new Dictionary<string, HttpClient>
        {
            ["anonymous"] = server.Anonymous,
            ["EdgeDevice"] = edge,
        };
        foreach (var (role, client) in server.Clients)
        {
            callers[role.ToString()] = client;
        }

        var endpoints = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (Method: m, Endpoint: e)))
            .OrderBy(e => e.Endpoint.RoutePattern.RawText == "/api/auth/sign-out") // signing out ends the session: last
            .ToList();
        var failures = new List<string>();
        foreach (var (method, endpoint) in endpoints)
        {
            var route = endpoint.RoutePattern.RawText!;
            var name = $"{method} {route}";
            if (!Expected.TryGetValue(name, out var allowed))
            {
                failures.Add($"{name}: not in the expected table");
                continue;
            }

            if (endpoint.Metadata.GetMetadata<PublicEndpoint>() is null && endpoint.Metadata.GetMetadata<AllowedRoles>() is null)
            {
                failures.Add($"{name}: declares no access rule");
            }

            foreach (var (caller, client) in callers)
            {
                var admitted = allowed.Contains(Public) || (caller != "anonymous" && (allowed.Contains(AnySignedIn) || allowed.Contains(caller)));
                using var request = new HttpRequestMessage(new HttpMethod(method), Path(route, camera.Id));
                if (method is "POST" or "PUT")
                {
                    request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
                }

                using var response = await client.SendAsync(request);
                var refused = await IsAccessRefusalAsync(response);
                if (admitted == refused)
                {
                    failures.Add($"{name} as {caller}: expected {(admitted ? "admitted" : "refused")}, got {(int)response.StatusCode}");
                }
                else if (refused && response.StatusCode != (caller == "anonymous" ? HttpStatusCode.Unauthorized : HttpStatusCode.Forbidden))
                {
                    failures.Add($"{name} as {caller}: refused with {(int)response.StatusCode}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
        Assert.Equal(Expected.Count, endpoints.Select(e => $"{e.Method} {e.Endpoint.RoutePattern.RawText}").Distinct().Count());
    }

    // Ids that do not exist, so admitted calls change nothing (they answer 404 or 400); the edge route gets
    // the key's own camera so that the key's scope check admits it.
    private static string Path(string route, long edgeCamera) =>
        route.Replace("{id:long}/events", $"{edgeCamera}/events", StringComparison.Ordinal)
            .Replace("{id:long}", "999999", StringComparison.Ordinal)
            .Replace("{grantId:long}", "999999", StringComparison.Ordinal)
            .Replace("{entryId:long}", "999999", StringComparison.Ordinal)
            .Replace("{legalBasisId:long}", "999999", StringComparison.Ordinal)
            .Replace("{year:int}", "2026", StringComparison.Ordinal)
            .Replace("{documentName}", "v1", StringComparison.Ordinal)
            .Replace("{**path}", "0/x000", StringComparison.Ordinal);

    private static async Task<bool> IsAccessRefusalAsync(HttpResponseMessage response)
    {
        if (response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden))
        {
            return false;
        }

        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return problem.RootElement.TryGetProperty("type", out var type) && type.GetString() == SessionAuthentication.AccessDeniedType;
    }
}
