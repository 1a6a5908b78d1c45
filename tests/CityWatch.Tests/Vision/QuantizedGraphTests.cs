using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

/// <summary>
/// <see cref="QuantizedGraph"/> and <see cref="FacePipeline.Quantized"/>: the int8 QDQ form of fr_feature, calibrated on
/// faces, embeds the faces of other photos close to the float graph, at about a quarter of its size.
/// </summary>
public sealed class QuantizedGraphTests
{
    private static readonly string[] Calibration = ["two_people.jpg", "biden.jpg", "lin-manuel-miranda.png", "alex-lacamoire.png"];
    private static readonly string[] HeldOut = ["obama.jpg", "obama2.jpg", "obama-480p.jpg"];

    [Fact]
    public async Task The_int8_graph_embeds_faces_it_was_not_calibrated_on_close_to_the_float_graph()
    {
        using var city = new TestCity();
        using var pipeline = new FacePipeline(VisionFixture.Options with { AnalysisThreads = 1 }, city.Time);
        var grant = await city.LiveGrantAsync();
        var calibration = Faces(pipeline, grant, Calibration);
        var float32 = new FileInfo(Path.Combine(TestPaths.Models, ModelCatalog.FrFeature.FileName)).Length;

        using var int8 = pipeline.Quantized(grant, calibration);

        Assert.Equal(calibration.Count, int8.CalibrationFaces);
        Assert.Equal("fr_feature_int8", int8.Name);
        Assert.InRange(int8.ModelBytes, float32 / 5, float32 * 2 / 5);
        var heldOut = Faces(pipeline, grant, HeldOut);
        Assert.Equal(HeldOut.Length, heldOut.Count);
        var floats = heldOut.Select(f => pipeline.Embed(grant, f.Frame, f.Face)).ToList();
        var ints = heldOut.Select(f => int8.Embed(grant, f.Frame, f.Face)).ToList();
        for (var i = 0; i < heldOut.Count; i++)
        {
            Assert.Equal(512, ints[i].Length);
            Assert.InRange(FacePipeline.Similarity(floats[i], ints[i]), 0.9f, 1.0001f);
        }

        // The same person in two photos still scores far above what the float graph gives two different people.
        Assert.True(FacePipeline.Similarity(ints[0], ints[1]) > 0.5f, $"obama against obama2: {FacePipeline.Similarity(ints[0], ints[1])}");
    }

    [Fact]
    public async Task An_expired_grant_makes_and_runs_no_int8_graph()
    {
        using var city = new TestCity();
        using var pipeline = new FacePipeline(VisionFixture.Options with { AnalysisThreads = 1 }, city.Time);
        var grant = await city.LiveGrantAsync();
        var faces = Faces(pipeline, grant, HeldOut);
        using var int8 = pipeline.Quantized(grant, faces);
        Assert.Throws<InvalidRequestException>(() => pipeline.Quantized(grant, []));
        int8.Embed(grant, faces[0].Frame, faces[0].Face);
        var runs = (Float: pipeline.EmbedderRuns, Int8: int8.Runs);

        city.Time.Advance(PolicyEngine.GrantLifetime + TimeSpan.FromSeconds(1));

        Assert.Throws<GrantExpiredException>(() => pipeline.Quantized(grant, faces));
        Assert.Throws<GrantExpiredException>(() => int8.Embed(grant, faces[0].Frame, faces[0].Face));
        Assert.Equal(runs, (pipeline.EmbedderRuns, int8.Runs));
        Assert.Equal(1, int8.Runs);
    }

    [Fact]
    public void Every_activation_needs_a_range()
    {
        var model = File.ReadAllBytes(Path.Combine(TestPaths.Models, ModelCatalog.FrFeature.FileName));
        var activations = QuantizedGraph.Activations(model);
        Assert.Equal("input", activations[0]);
        Assert.Equal(activations.Count, activations.Distinct(StringComparer.Ordinal).Count());
        var ranges = activations.Skip(1).ToDictionary(a => a, _ => new TensorRange(-1, 1), StringComparer.Ordinal);

        var error = Assert.Throws<InvalidDataException>(() => QuantizedGraph.Quantize(model, ranges));

        Assert.Contains("'input'", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => QuantizedGraph.Activations("not a model"u8.ToArray()));
    }

    [Theory]
    [InlineData(-0.7683f, 2.053f)]
    [InlineData(0.25f, 5.297f)]
    [InlineData(-3.1f, -0.2f)]
    [InlineData(-1e-3f, 1e-3f)]
    public void A_rounded_range_holds_zero_and_the_range_and_is_the_same_for_the_last_bits(float min, float max)
    {
        var rounded = new TensorRange(min, max).Rounded();

        Assert.True(rounded.Min <= Math.Min(min, 0f) && rounded.Max >= Math.Max(max, 0f), $"{rounded}");
        Assert.True(rounded.Max <= Math.Max(max, 0f) * 1.125f + 1e-9f && -rounded.Min <= -Math.Min(min, 0f) * 1.125f + 1e-9f, $"{rounded} is more than an eighth wider");
        foreach (var bound in new[] { rounded.Min, rounded.Max }.Where(b => b != 0))
        {
            // A three-bit mantissa: the value is 8..15 times a power of two.
            var exponent = Math.Floor(Math.Log2(Math.Abs(bound))) - 3;
            var steps = Math.Abs(bound) / Math.Pow(2, exponent);
            Assert.Equal(Math.Round(steps), steps, 9);
        }

        Assert.Equal(rounded, new TensorRange(min * (1 + 1e-6f), max * (1 - 1e-6f)).Rounded());
    }

    private static List<(BgrImage Frame, DetectedFace Face)> Faces(FacePipeline pipeline, ProcessingGrant grant, string[] photos) =>
        photos.Select(p => ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", p)))
            .SelectMany(image => pipeline.Detect(grant, image).Take(2).Select(face => (image, face)))
            .ToList();
}
