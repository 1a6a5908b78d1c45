using System.Globalization;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Xunit.Abstractions;

namespace CityWatch.Tests.Vision;

[Collection(VisionCollection.Name)]
public sealed class VideoMatchTests(VisionFixture vision, ITestOutputHelper output)
{
    // Above every impostor pair measured on dlib_johns (max 0.362) and ageitgey (max 0.172).
    private const float MatchThreshold = 0.40f;

    [Fact]
    public void People_in_the_hamilton_clip_match_their_photos_and_nobody_else_matches()
    {
        var root = TestPaths.Faces("ageitgey");
        var gallery = File.ReadAllLines(Path.Combine(root, "identities.csv"))
            .Skip(1)
            .Select(line => line.Split(','))
            .Select(parts => (Person: parts[0], vision.LargestFace(ImageCodec.DecodeFile(Path.Combine(root, parts[1])))!.Embedding))
            .ToList();
        var frames = VideoFrames.Read(Path.Combine(TestPaths.SharedData, ModelCatalog.HamiltonClip), 640, 360, fps: 2);
        Assert.True(frames.Count >= 15, $"only {frames.Count} frames decoded");

        var best = new Dictionary<string, float>(StringComparer.Ordinal);
        var matchedFrames = new Dictionary<string, int>(StringComparer.Ordinal);
        var faces = 0;
        for (var i = 0; i < frames.Count; i++)
        {
            foreach (var face in vision.Pipeline.DetectAndEmbed(vision.Grant, frames[i]))
            {
                faces++;
                var (person, score) = gallery
                    .Select(g => (g.Person, Score: FacePipeline.Similarity(face.Embedding, g.Embedding)))
                    .MaxBy(r => r.Score);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"frame {i} ({i / 2.0:F1} s) face {face.Face.Box.Width:F0} px: best {person} {score:F3}"));
                best[person] = Math.Max(best.GetValueOrDefault(person, -1), score);
                if (score >= MatchThreshold)
                {
                    matchedFrames[person] = matchedFrames.GetValueOrDefault(person) + 1;
                }
            }
        }

        output.WriteLine($"{frames.Count} frames at 2 fps, {faces} faces; best score per top-1 identity: "
            + string.Join(", ", best.Select(b => FormattableString.Invariant($"{b.Key} {b.Value:F3}"))));

        // Lin-Manuel Miranda sings facing the camera; Obama is in the audience in the last second. Alex
        // Lacamoire is only tiny at the piano or in profile, below the threshold (reported, not asserted).
        Assert.True(matchedFrames.GetValueOrDefault("lin_manuel_miranda") >= 5, $"lin_manuel_miranda matched in {matchedFrames.GetValueOrDefault("lin_manuel_miranda")} frames");
        Assert.True(matchedFrames.GetValueOrDefault("obama") >= 2, $"obama matched in {matchedFrames.GetValueOrDefault("obama")} frames");
        Assert.Equal(["lin_manuel_miranda", "obama"], matchedFrames.Keys.Order(StringComparer.Ordinal));
    }
}
