using System.Globalization;
using System.Xml.Linq;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

[Collection(VisionCollection.Name)]
public sealed class DetectionTests(VisionFixture vision)
{
    [Theory]
    [InlineData("testing.xml")]
    [InlineData("training.xml")]
    public void Every_hand_labelled_dlib_face_is_found(string labels)
    {
        var misses = new List<string>();
        var total = 0;
        foreach (var (file, boxes) in ReadDlibLabels(TestPaths.Faces("dlib_faces", labels)))
        {
            var image = ImageCodec.DecodeFile(TestPaths.Faces("dlib_faces", file));
            var faces = vision.Pipeline.Detect(vision.Grant, image);
            foreach (var truth in boxes)
            {
                total++;
                var best = faces.Count == 0 ? 0 : faces.Max(f => f.Box.IoU(truth));
                if (best < 0.3f)
                {
                    misses.Add($"{file} {truth}: best IoU {best:F2}");
                }
            }
        }

        Assert.True(total > 0, $"{labels} has no boxes");
        Assert.True(misses.Count == 0, $"{misses.Count} of {total} labelled faces missed:\n{string.Join("\n", misses)}");
    }

    [Fact]
    public void Landmarks_lie_inside_the_face_box_in_original_coordinates()
    {
        // 1920x1080 is scaled to 640 for detection; boxes and landmarks must come back at full size.
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama-1080p.jpg"));
        var face = Assert.Single(vision.Pipeline.Detect(vision.Grant, image));
        Assert.True(face.Box.Width > 200, $"box {face.Box} is too small for a 1080p portrait");
        Assert.All(face.Landmarks, p =>
        {
            Assert.InRange(p.X, face.Box.X, face.Box.Right);
            Assert.InRange(p.Y, face.Box.Y, face.Box.Bottom);
        });
        Assert.True(face.LeftEye.X < face.RightEye.X);
        Assert.True(face.Nose.Y > face.LeftEye.Y && face.LeftMouth.Y > face.Nose.Y);
        Assert.InRange(face.InterEyeDistance, face.Box.Width * 0.2f, face.Box.Width * 0.7f);
    }

    [Fact]
    public void The_same_face_is_found_at_every_resolution()
    {
        var boxes = new[] { "obama-240p.jpg", "obama-480p.jpg", "obama-720p.jpg", "obama-1080p.jpg" }
            .Select(file =>
            {
                var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", file));
                var box = Assert.Single(vision.Pipeline.Detect(vision.Grant, image)).Box;
                var k = 1920f / image.Width;
                return new FaceBox(box.X * k, box.Y * k, box.Width * k, box.Height * k);
            })
            .ToList();
        Assert.All(boxes, b => Assert.True(b.IoU(boxes[^1]) > 0.8f, $"{b} vs {boxes[^1]}"));
    }

    internal static IEnumerable<(string File, List<FaceBox> Boxes)> ReadDlibLabels(string path)
    {
        var document = XDocument.Load(path);
        foreach (var image in document.Descendants("image"))
        {
            var boxes = image.Elements("box")
                .Where(b => (string?)b.Attribute("ignore") != "1")
                .Select(b => new FaceBox(
                    Number(b, "left"),
                    Number(b, "top"),
                    Number(b, "width"),
                    Number(b, "height")))
                .ToList();
            yield return ((string)image.Attribute("file")!, boxes);
        }
    }

    private static float Number(XElement box, string name) =>
        float.Parse((string)box.Attribute(name)!, CultureInfo.InvariantCulture);
}
