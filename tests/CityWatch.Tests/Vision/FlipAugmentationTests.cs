using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

/// <summary>Flip test-time augmentation (<see cref="VisionOptions.FlipAugmentation"/>) on a real face.</summary>
[Collection(VisionCollection.Name)]
public sealed class FlipAugmentationTests(VisionFixture vision)
{
    [Fact]
    public void Flip_augmented_embedding_is_unit_length_close_to_the_plain_one_and_costs_two_embedder_runs()
    {
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama.jpg"));
        var face = vision.Pipeline.Detect(vision.Grant, image).MaxBy(f => f.Box.Area);
        Assert.NotNull(face);
        using var flipped = new FacePipeline(VisionFixture.Options with { FlipAugmentation = true }, vision.City.Time);

        var plain = vision.Pipeline.Embed(vision.Grant, image, face);
        var runsBefore = flipped.EmbedderRuns;
        var augmented = flipped.Embed(vision.Grant, image, face);

        Assert.Equal(2, flipped.EmbedderRuns - runsBefore);
        Assert.Equal(plain.Length, augmented.Length);
        Assert.Equal(1.0, Math.Sqrt(augmented.Sum(v => (double)v * v)), 4);
        var similarity = FacePipeline.Similarity(plain, augmented);
        Assert.InRange(similarity, 0.9f, 0.99999f);
    }

    [Fact]
    public void Mirroring_a_chip_twice_gives_it_back_and_once_swaps_left_and_right()
    {
        const int size = 4;
        var chip = Enumerable.Range(0, size * size * 3).Select(i => (byte)i).ToArray();
        var once = new byte[chip.Length];
        var twice = new byte[chip.Length];

        AlignedEmbedder.Mirror(chip, once, size);
        AlignedEmbedder.Mirror(once, twice, size);

        Assert.Equal(chip, twice);
        Assert.Equal(chip.AsSpan(0, 3).ToArray(), once.AsSpan((size - 1) * 3, 3).ToArray());
    }
}
