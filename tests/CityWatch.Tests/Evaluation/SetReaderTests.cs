using CityWatch.Evaluation;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Evaluation;

public sealed class SetReaderTests : IDisposable
{
    private readonly string scratch = TestPaths.NewScratchDirectory();

    [Fact]
    public void A_folder_per_identity_gives_every_genuine_and_impostor_pair()
    {
        var set = VerificationSet.Load(TestPaths.Faces("dlib_johns"));
        Assert.Equal("folders", set.Form);
        Assert.Equal(55, set.Images.Count);
        Assert.Equal(5, set.Images.Select(i => i.Identity).Distinct().Count());
        Assert.Equal(55 * 54 / 2, set.Pairs.Count);
        Assert.Equal(5 * (11 * 10 / 2), set.GenuinePairs);
        Assert.Equal(1210, set.ImpostorPairs);
    }

    [Fact]
    public void An_identity_csv_resolves_paths_relative_to_the_csv()
    {
        var set = VerificationSet.Load(TestPaths.Faces("ageitgey", "identities.csv"));
        Assert.Equal("identity csv", set.Form);
        Assert.Equal(15, set.Images.Count);
        Assert.Equal(105, set.Pairs.Count);
        Assert.Equal(14, set.GenuinePairs);
        Assert.Equal(91, set.ImpostorPairs);
        Assert.All(set.Images, i => Assert.True(File.Exists(i.Path), i.Path));
        Assert.Equal(Path.GetFullPath(TestPaths.Faces("ageitgey", "examples", "obama.jpg")), set.Images[0].Path);
    }

    [Fact]
    public void A_pairs_csv_reads_yes_and_no_and_ignores_extra_columns()
    {
        var csv = WritePairs(
            "file_x,file_y,decision,note",
            "obama.jpg,obama2.jpg,Yes,same man",
            "obama.jpg,biden.jpg,no,",
            "biden.jpg,obama2.jpg,NO,x");
        var set = VerificationSet.Load(csv);
        Assert.Equal("pairs csv", set.Form);
        Assert.Equal(3, set.Images.Count);
        Assert.Equal([new LabelledPair(0, 1, true), new LabelledPair(0, 2, false), new LabelledPair(2, 1, false)], set.Pairs);
    }

    [Fact]
    public void A_missing_image_names_the_file_and_line()
    {
        var csv = WritePairs("file_x,file_y,decision", "obama.jpg,obama2.jpg,Yes", "obama.jpg,nobody.jpg,No");
        var error = Assert.Throws<SetFormatException>(() => VerificationSet.Load(csv));
        Assert.Equal(3, error.Line);
        Assert.Equal($"{csv} line 3: no such image: nobody.jpg", error.Message);
    }

    [Fact]
    public void A_row_with_too_few_fields_names_the_line()
    {
        var csv = WriteIdentities("identity,path", "obama,obama.jpg", "biden");
        var error = Assert.Throws<SetFormatException>(() => VerificationSet.Load(csv));
        Assert.Equal(3, error.Line);
        Assert.Contains("expected 2 fields", error.Message, StringComparison.Ordinal);
        Assert.StartsWith(csv, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stray_quote_is_malformed_and_names_the_line()
    {
        var csv = WriteIdentities("identity,path", "obama,obama.jpg", "obama,obama2.jpg", "bi\"den\",biden.jpg");
        var error = Assert.Throws<SetFormatException>(() => VerificationSet.Load(csv));
        Assert.Equal(4, error.Line);
        Assert.Contains("malformed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_decision_names_the_line()
    {
        var csv = WritePairs("file_x,file_y,decision", "obama.jpg,obama2.jpg,maybe");
        var error = Assert.Throws<SetFormatException>(() => VerificationSet.Load(csv));
        Assert.Equal(2, error.Line);
        Assert.Contains("Yes or No", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_csv_without_a_known_header_is_refused_on_line_one()
    {
        var csv = WriteIdentities("obama,obama.jpg");
        var error = Assert.Throws<SetFormatException>(() => VerificationSet.Load(csv));
        Assert.Equal(1, error.Line);
    }

    [Fact]
    public void A_missing_set_is_a_clear_error()
    {
        var error = Assert.Throws<SetFormatException>(() => VerificationSet.Load(Path.Combine(scratch, "nope.csv")));
        Assert.Contains("no such file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dlib_xml_boxes_are_read_from_a_folder_with_testing_and_training_files()
    {
        var set = DetectionSet.Load(TestPaths.Faces("dlib_faces"));
        Assert.Equal(43, set.Faces);
        var first = set.Images[0];
        Assert.EndsWith("2008_002470.jpg", first.Path, StringComparison.Ordinal);
        Assert.Equal(new CityWatch.Vision.FaceBox(274, 181, 52, 53), first.Boxes[0].Box);
    }

    [Fact]
    public void Dlib_xml_ignore_flags_and_bad_attributes_are_read()
    {
        File.Copy(TestPaths.Faces("dlib_faces", "2008_002470.jpg"), Path.Combine(scratch, "a.jpg"));
        var xml = Path.Combine(scratch, "boxes.xml");
        File.WriteAllText(xml, "<dataset><images>\n<image file='a.jpg'>\n<box top='1' left='2' width='3' height='4' ignore='1'/>\n<box top='5' left='6' width='7' height='8'/>\n</image>\n</images></dataset>");
        var set = DetectionSet.Load(xml);
        Assert.Equal(1, set.Faces);
        Assert.True(set.Images[0].Boxes[0].Ignore);

        File.WriteAllText(xml, "<dataset><images>\n<image file='a.jpg'>\n<box top='x' left='6' width='7' height='8'/>\n</image>\n</images></dataset>");
        var error = Assert.Throws<SetFormatException>(() => DetectionSet.Load(xml));
        Assert.Equal(3, error.Line);

        File.WriteAllText(xml, "<dataset><images>\n<image file='missing.jpg'/>\n</images></dataset>");
        Assert.Equal(2, Assert.Throws<SetFormatException>(() => DetectionSet.Load(xml)).Line);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(scratch, recursive: true);
        }
        catch (IOException)
        {
            // left in /tmp: harmless
        }
    }

    private string WritePairs(params string[] lines) => Write("pairs.csv", lines);

    private string WriteIdentities(params string[] lines) => Write("identities.csv", lines);

    // A CSV next to copies of three ageitgey photos.
    private string Write(string name, string[] lines)
    {
        foreach (var photo in new[] { "obama.jpg", "obama2.jpg", "biden.jpg" })
        {
            var target = Path.Combine(scratch, photo);
            if (!File.Exists(target))
            {
                File.Copy(TestPaths.Faces("ageitgey", "examples", photo), target);
            }
        }

        var path = Path.Combine(scratch, name);
        File.WriteAllLines(path, lines);
        return path;
    }
}
