using System.Net;
using System.Text.Json;
using CityWatch.Server.Vision;
using CityWatch.Settings;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Evaluation;

/// <summary>GET /api/models on a minimal host on 127.0.0.1 that maps only the model-card endpoints.</summary>
public sealed class ModelCardApiTests
{
    [Fact]
    public async Task Model_cards_are_served_with_the_configured_models_and_the_threshold_in_force()
    {
        using var city = new TestCity();
        var settings = new SettingsStore(city.Database, city.Audit, city.Time);
        await settings.SetOperatingThresholdAsync("faceres", 0.61f, "test", "test");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(new VisionOptions { Detector = "ultraface", Embedder = "faceres" });
        builder.Services.AddSingleton(settings);
        await using var app = builder.Build();
        app.MapModelCardApi();
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        using var all = JsonDocument.Parse(await client.GetStringAsync("/api/models"));
        var cards = all.RootElement.EnumerateArray().ToDictionary(c => c.GetProperty("card").GetProperty("name").GetString()!);
        Assert.Equal(["yunet", "ultraface", "fr_feature", "faceres", "mobileface"], cards.Keys);
        Assert.True(cards["ultraface"].GetProperty("inUse").GetBoolean());
        Assert.True(cards["faceres"].GetProperty("inUse").GetBoolean());
        Assert.False(cards["yunet"].GetProperty("inUse").GetBoolean());
        Assert.Equal(0.61f, cards["faceres"].GetProperty("operatingThreshold").GetSingle());
        Assert.Equal(ModelCards.FrFeature.CalibratedThreshold + SettingsStore.DefaultMargin, cards["fr_feature"].GetProperty("operatingThreshold").GetSingle());
        Assert.Equal(JsonValueKind.Null, cards["yunet"].GetProperty("operatingThreshold").ValueKind);
        var card = cards["fr_feature"].GetProperty("card");
        Assert.Contains("NOT STATED", card.GetProperty("trainingData").GetString(), StringComparison.Ordinal);
        Assert.NotEmpty(card.GetProperty("measured").EnumerateArray());
        // The calibration at CCTV quality: the threshold proposed on a degraded set and the FAR measured there.
        var degraded = card.GetProperty("degradedCalibrations").EnumerateArray().ToList();
        Assert.NotEmpty(degraded);
        foreach (var calibration in degraded)
        {
            Assert.Contains("upscale", calibration.GetProperty("degrade").GetString(), StringComparison.Ordinal);
            Assert.InRange(calibration.GetProperty("measuredFar").GetDouble(), 0, calibration.GetProperty("targetFar").GetDouble());
            Assert.InRange(calibration.GetProperty("threshold").GetSingle(), 0.1f, 0.9f);
        }

        Assert.Empty(cards["yunet"].GetProperty("card").GetProperty("degradedCalibrations").EnumerateArray());

        using var one = await client.GetAsync("/api/models/mobileface");
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
    }
}
