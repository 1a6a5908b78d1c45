using CityWatch.Alerts;
using CityWatch.Identity;
using CityWatch.Server.Alerts;
using CityWatch.Server.Identity;
using CityWatch.SubjectAccess;

namespace CityWatch.Server.SubjectAccess;

internal static class SubjectAccessApi
{
    public static IEndpointRouteBuilder MapSubjectAccessApi(this IEndpointRouteBuilder app)
    {
        // multipart/form-data: "photo" (the requester's own photo, held in memory only) and "reference" (the request's reference).
        app.MapPost("/api/subject-access", async (HttpRequest request, HttpContext http, SubjectAccessService service, AlertVerification verification, CancellationToken ct) =>
        {
            var (photo, form) = await AlertApi.PhotoAsync(request, ct);
            var answer = await service.AnswerAsync(photo, form["reference"].ToString(), http.User.Name(), ct);
            // A DPO who is also a verifier learns no alert's standing through an access request either.
            return TypedResults.Ok(answer with { Records = AlertApi.Blind(http, verification, answer.Records, r => r.AlertId, r => r with { Status = AlertVerification.Pending }) });
        }).DisableAntiforgery().Allow(Role.DataProtectionOfficer).WithTags("Subject access");
        return app;
    }
}
