using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using CityWatch.Vision;

namespace CityWatch.Evaluation;

/// <summary>An image with hand-drawn face boxes.</summary>
public sealed record LabelledBoxes(string Path, IReadOnlyList<TruthBox> Boxes);

/// <summary>
/// Face boxes in dlib's imglab XML (<c>&lt;image file=...&gt;&lt;box top left width height [ignore='1']/&gt;</c>),
/// image paths relative to the XML. A folder means its testing.xml and training.xml.
/// </summary>
public sealed record DetectionSet(string Source, IReadOnlyList<LabelledBoxes> Images)
{
    public int Faces => Images.Sum(i => i.Boxes.Count(b => !b.Ignore));

    public static DetectionSet Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path))
        {
            var files = new[] { "testing.xml", "training.xml" }.Select(f => Path.Combine(path, f)).Where(File.Exists).ToList();
            return files.Count == 0
                ? throw new SetFormatException(path, null, "no testing.xml or training.xml in this folder")
                : new DetectionSet(path, files.SelectMany(ReadXml).ToList());
        }

        return File.Exists(path)
            ? new DetectionSet(path, ReadXml(path))
            : throw new SetFormatException(path, null, "no such file or folder");
    }

    public static IReadOnlyList<LabelledBoxes> ReadXml(string xmlPath)
    {
        XDocument document;
        try
        {
            document = XDocument.Load(xmlPath, LoadOptions.SetLineInfo);
        }
        catch (XmlException e)
        {
            throw new SetFormatException(xmlPath, e.LineNumber, $"malformed XML: {e.Message}");
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(xmlPath))!;
        var images = new List<LabelledBoxes>();
        foreach (var image in document.Descendants("image"))
        {
            var file = (string?)image.Attribute("file") ?? throw new SetFormatException(xmlPath, Line(image), "an <image> has no file attribute");
            var full = Path.GetFullPath(Path.Combine(folder, file));
            if (!File.Exists(full))
            {
                throw new SetFormatException(xmlPath, Line(image), $"no such image: {file}");
            }

            var boxes = image.Elements("box")
                .Select(b => new TruthBox(
                    new FaceBox(Number(xmlPath, b, "left"), Number(xmlPath, b, "top"), Number(xmlPath, b, "width"), Number(xmlPath, b, "height")),
                    (string?)b.Attribute("ignore") == "1"))
                .ToList();
            images.Add(new LabelledBoxes(full, boxes));
        }

        return images.Count == 0 ? throw new SetFormatException(xmlPath, null, "no <image> elements") : images;
    }

    private static int? Line(XElement element) => element is IXmlLineInfo info && info.HasLineInfo() ? info.LineNumber : null;

    private static float Number(string xmlPath, XElement box, string name)
    {
        var text = (string?)box.Attribute(name);
        return float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && float.IsFinite(value)
            ? value
            : throw new SetFormatException(xmlPath, Line(box), $"box attribute '{name}' must be a number, not '{text}'");
    }
}
