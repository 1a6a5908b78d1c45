using System.Globalization;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Xunit.Abstractions;

namespace CityWatch.Tests.Vision;

[Collection(VisionCollection.Name)]
public sealed class EmbeddingTests(VisionFixture vision, ITestOutputHelper output)
{
    [Fact]
    public void Embeddings_are_512_values_of_unit_length()
    {
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama.jpg"));
        var face = vision.LargestFace(image);
        Assert.NotNull(face);
        Assert.Equal(512, face.Embedding.Length);
        Assert.Equal(1.0, Math.Sqrt(face.Embedding.Sum(v => (double)v * v)), 4);
    }

    [Fact]
    public void Same_john_pairs_score_above_different_john_pairs()
    {
        var people = Directory.GetDirectories(TestPaths.Faces("dlib_johns")).Order(StringComparer.Ordinal).ToList();
        var chips = new List<(string Person, string File, float[] Embedding)>();
        foreach (var person in people)
        {
            foreach (var file in Directory.GetFiles(person, "*.jpg").Order(StringComparer.Ordinal))
            {
                var face = vision.LargestFace(ImageCodec.DecodeFile(file));
                Assert.True(face is not null, $"no face found in {file}");
                chips.Add((Path.GetFileName(person), Path.GetFileName(file), face.Embedding));
            }
        }

        var genuine = new List<float>();
        var impostor = new List<float>();
        for (var i = 0; i < chips.Count; i++)
        {
            for (var j = i + 1; j < chips.Count; j++)
            {
                var score = FacePipeline.Similarity(chips[i].Embedding, chips[j].Embedding);
                (chips[i].Person == chips[j].Person ? genuine : impostor).Add(score);
            }
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"dlib_johns: {chips.Count} chips, {genuine.Count} genuine pairs (min {genuine.Min():F3}, mean {genuine.Average():F3}), {impostor.Count} impostor pairs (max {impostor.Max():F3}, mean {impostor.Average():F3})"));
        Assert.Equal(275, genuine.Count);
        Assert.Equal(1210, impostor.Count);
        Assert.True(genuine.Min() > impostor.Max(), $"min genuine {genuine.Min():F3} <= max impostor {impostor.Max():F3}");
    }

    [Fact]
    public void Ageitgey_photos_of_one_person_score_above_photos_of_different_people()
    {
        var root = TestPaths.Faces("ageitgey");
        var photos = File.ReadAllLines(Path.Combine(root, "identities.csv"))
            .Skip(1)
            .Select(line => line.Split(','))
            .Select(parts =>
            {
                var face = vision.LargestFace(ImageCodec.DecodeFile(Path.Combine(root, parts[1])));
                Assert.True(face is not null, $"no face found in {parts[1]}");
                return (Person: parts[0], face.Embedding);
            })
            .ToList();
        var genuine = new List<float>();
        var impostor = new List<float>();
        for (var i = 0; i < photos.Count; i++)
        {
            for (var j = i + 1; j < photos.Count; j++)
            {
                (photos[i].Person == photos[j].Person ? genuine : impostor).Add(FacePipeline.Similarity(photos[i].Embedding, photos[j].Embedding));
            }
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ageitgey: {photos.Count} photos, {genuine.Count} genuine (min {genuine.Min():F3}), {impostor.Count} impostor (max {impostor.Max():F3})"));
        Assert.True(genuine.Min() > impostor.Max(), $"min genuine {genuine.Min():F3} <= max impostor {impostor.Max():F3}");
    }
}
