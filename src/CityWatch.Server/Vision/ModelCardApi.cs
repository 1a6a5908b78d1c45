using CityWatch.Server.Identity;
using CityWatch.Settings;
using CityWatch.Vision;

namespace CityWatch.Server.Vision;

/// <summary>A model card as served: the card, whether this server is configured to run the model, and (for an embedder) the threshold in force.</summary>
internal sealed record ModelCardView(ModelCard Card, bool InUse, float? OperatingThreshold);

/// <summary>GET /api/models: the model cards (source, licence, training data, measured accuracy).</summary>
internal static class ModelCardApi
{
    public static IEndpointRouteBuilder MapModelCardApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/models").Public().WithTags("Transparency");
        group.MapGet("/", (VisionOptions vision, IServiceProvider services) =>
            TypedResults.Ok(ModelCards.All.Select(card => View(card, vision, services)).ToList()));
        group.MapGet("/{name}", (string name, VisionOptions vision, IServiceProvider services) =>
            TypedResults.Ok(View(ModelCards.Get(name), vision, services)));
        return app;
    }

    // The threshold comes from the settings when the host registers a SettingsStore, else from the card.
    private static ModelCardView View(ModelCard card, VisionOptions vision, IServiceProvider services)
    {
        var inUse = card.Name == vision.Detector || card.Name == vision.Embedder;
        float? threshold = card.Role == ModelRole.Embedder
            ? services.GetService<SettingsStore>()?.OperatingThreshold(card.Name) ?? card.CalibratedThreshold
            : null;
        return new ModelCardView(card, inUse, threshold);
    }
}
