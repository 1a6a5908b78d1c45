using CityWatch.Policy;

namespace CityWatch.Server.Policy;

internal static class LegalBasisApi
{
    public static IEndpointRouteBuilder MapLegalBasisApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/legal-bases").WithTags("Policy");
        group.MapGet("/", (LegalBasisStore store) => TypedResults.Ok(store.List()));
        group.MapGet("/{id:long}", (LegalBasisStore store, long id) => TypedResults.Ok(store.Get(id)));
        group.MapPost("/", async (LegalBasisStore store, LegalBasisDraft draft, CancellationToken ct) =>
        {
            var basis = await store.RegisterAsync(draft, Actor.Operator, ct);
            return TypedResults.Created($"/api/legal-bases/{basis.Id}", basis);
        });
        group.MapPost("/{id:long}/activate", async (LegalBasisStore store, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.ActivateAsync(id, Actor.Operator, ct)));
        group.MapPost("/{id:long}/revoke", async (LegalBasisStore store, long id, CancellationToken ct) =>
            TypedResults.Ok(await store.RevokeAsync(id, Actor.Operator, ct)));
        return app;
    }
}
