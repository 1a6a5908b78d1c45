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
        app.MapPost("/api/subject-access", async (HttpRequest request, HttpContext http, SubjectAccessService service, CancellationToken ct) =>
        {
            var (photo, form) = await AlertApi.PhotoAsync(request, ct);
            return TypedResults.Ok(await service.AnswerAsync(photo, form["reference"].ToString(), http.User.Name(), ct));
        }).DisableAntiforgery().Allow(Role.DataProtectionOfficer).WithTags("Subject access");
        return app;
    }
}
