using CityWatch.Audit;
using CityWatch.Settings;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Evaluation;

public sealed class SettingsStoreTests
{
    [Fact]
    public void An_uncalibrated_embedder_uses_its_model_card_threshold_plus_the_safety_margin()
    {
        using var city = new TestCity();
        var settings = new SettingsStore(city.Database, city.Audit, city.Time);
        Assert.Equal(ModelCards.FrFeature.CalibratedThreshold + SettingsStore.DefaultMargin, settings.OperatingThreshold("fr_feature"));
        Assert.Equal(ModelCards.MobileFace.CalibratedThreshold + SettingsStore.DefaultMargin, settings.OperatingThreshold("mobileface"));
    }

    [Fact]
    public async Task A_calibrated_threshold_is_stored_read_back_and_logged()
    {
        using var city = new TestCity();
        var settings = new SettingsStore(city.Database, city.Audit, city.Time);

        await settings.SetOperatingThresholdAsync("faceres", 0.6391f, "cli:eval", "calibrated at FAR 0.001");
        await settings.SetOperatingThresholdAsync("faceres", 0.65f, "cli:eval", "again");

        Assert.Equal(0.65f, new SettingsStore(city.Database, city.Audit, city.Time).OperatingThreshold("faceres"));
        Assert.Equal(ModelCards.FrFeature.CalibratedThreshold + SettingsStore.DefaultMargin, settings.OperatingThreshold("fr_feature"));
        var stored = Assert.Single(settings.List());
        Assert.Equal("vision.threshold.faceres", stored.Key);
        Assert.Equal("cli:eval", stored.ChangedBy);
        Assert.Equal(city.Time.GetUtcNow(), stored.ChangedAt);
        var changes = city.Audit.Read(0, 100, AuditActions.SettingChange);
        Assert.Equal(2, changes.Count);
        Assert.Contains("0.6391", changes[0].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Thresholds_are_only_for_known_embedders_and_in_range()
    {
        using var city = new TestCity();
        var settings = new SettingsStore(city.Database, city.Audit, city.Time);
        Assert.Throws<InvalidRequestException>(() => settings.OperatingThreshold("yunet"));
        Assert.Throws<NotFoundException>(() => settings.OperatingThreshold("arcface"));
        await Assert.ThrowsAsync<InvalidRequestException>(() => settings.SetOperatingThresholdAsync("fr_feature", 1.5f, "t", "r"));
        Assert.Empty(city.Audit.Read(0, 100, AuditActions.SettingChange));
    }

    [Fact]
    public void Every_configurable_model_has_a_card_that_matches_the_catalog()
    {
        foreach (var name in VisionOptions.Detectors.Concat(VisionOptions.Embedders))
        {
            var card = ModelCards.Get(name);
            var model = VisionOptions.Detectors.Contains(name) ? FacePipeline.DetectorModel(name) : FacePipeline.EmbedderModel(name);
            Assert.Equal(model.FileName, card.File);
            Assert.Equal(model.Sha256, card.Sha256);
            Assert.Equal(model.Role, card.Role);
            Assert.False(string.IsNullOrWhiteSpace(card.TrainingData));
            Assert.NotEmpty(card.Measured);
            Assert.All(card.Measured, m => Assert.All(m.Figures.Values, v => Assert.True(v is null || double.IsFinite(v.Value), $"{name} {m.Set}: figure not filled in")));
        }

        Assert.Contains("NO landmarks", ModelCards.UltraFace.Notes, StringComparison.Ordinal);
        Assert.Contains("NOT STATED", ModelCards.FrFeature.TrainingData, StringComparison.Ordinal);
    }
}
