using CityWatch.Alerts;
using CityWatch.Identity;
using CityWatch.Server.Alerts;
using CityWatch.Server.Identity;
using CityWatch.SubjectAccess;

namespace CityWatch.Server.SubjectAccess;

/// <summary>
/// Subject-access requests: a DPO registers the request, a DPO runs its one search with the requester's
/// photo (the answer is sealed, not returned), a second DPO or an authority approves, and only then can the
/// DPO read the answer to send it. The public sees how many were received and answered, and how fast.
/// </summary>
internal static class SubjectAccessApi
{
    private static readonly Role[] Overseers = [Role.DataProtectionOfficer, Role.Authority];

    public static IEndpointRouteBuilder MapSubjectAccessApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/subject-access/requests").WithTags("Subject access");
        group.MapGet("/", (SubjectAccessRequests requests) => TypedResults.Ok(requests.List())).Allow(Overseers);
        group.MapGet("/{id:long}", (SubjectAccessRequests requests, long id) => TypedResults.Ok(requests.Get(id))).Allow(Overseers);
        group.MapPost("/", async (SubjectAccessRequests requests, HttpContext http, SubjectAccessRequestInput input, CancellationToken ct) =>
        {
            var registered = await requests.RegisterAsync(input, http.User.Name(), ct);
            return TypedResults.Created($"/api/subject-access/requests/{registered.Id}", registered);
        }).Allow(Role.DataProtectionOfficer);

        // multipart/form-data with "photo": the requester's own photo, held in memory only.
        group.MapPost("/{id:long}/search", async (SubjectAccessRequests requests, HttpRequest request, HttpContext http, long id, CancellationToken ct) =>
        {
            requests.Get(id);
            var (photo, _) = await AlertApi.PhotoAsync(request, ct);
            return TypedResults.Ok(await requests.SearchAsync(id, photo, http.User.Name(), ct));
        }).DisableAntiforgery().Allow(Role.DataProtectionOfficer);
        group.MapPost("/{id:long}/approve", async (SubjectAccessRequests requests, HttpContext http, long id, CancellationToken ct) =>
            TypedResults.Ok(await requests.ApproveAsync(id, http.User.Name(), ct))).Allow(Overseers);
        group.MapGet("/{id:long}/answer", async (SubjectAccessRequests requests, AlertVerification verification, HttpContext http, long id, CancellationToken ct) =>
        {
            var answer = await requests.AnswerAsync(id, http.User.Name(), ct);
            // A DPO who is also a verifier learns no alert's standing through an access request either.
            return TypedResults.Ok(answer with { Records = AlertApi.Blind(http, verification, answer.Records, r => r.AlertId, r => r with { Status = AlertVerification.Pending }) });
        }).Allow(Role.DataProtectionOfficer);

        app.MapGet("/api/public/subject-access", (SubjectAccessRequests requests) => TypedResults.Ok(requests.Counts())).Public().WithTags("Transparency");
        return app;
    }
}
