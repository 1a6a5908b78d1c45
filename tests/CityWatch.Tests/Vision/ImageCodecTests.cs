using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

public sealed class ImageCodecTests
{
    [Fact]
    public void Corrupt_image_gives_a_clear_error()
    {
        var noise = new byte[4096];
        new Random(7).NextBytes(noise);
        var error = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(noise, "noise.jpg"));
        Assert.StartsWith("noise.jpg: ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.IsAssignableFrom<InvalidRequestException>(error);
    }

    [Fact]
    public void A_text_file_or_an_empty_file_is_not_an_image()
    {
        Assert.Throws<ImageDecodeException>(() => ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "identities.csv")));
        Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode([], "empty.png"));
    }

    [Fact]
    public void A_truncated_jpeg_is_refused()
    {
        var bytes = File.ReadAllBytes(TestPaths.Faces("ageitgey", "examples", "obama-720p.jpg"));
        var error = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(bytes[..(bytes.Length / 2)], "half.jpg"));
        Assert.Contains("damaged", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_gives_a_clear_error()
    {
        var error = Assert.Throws<ImageDecodeException>(() => ImageCodec.DecodeFile("/nonexistent/photo.jpg"));
        Assert.Contains("no such file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_32_bit_png_with_alpha_decodes_to_the_same_picture_as_its_jpeg()
    {
        var png = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "tests", "test_images", "32bit.png"));
        var jpeg = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama2.jpg"));
        Assert.Equal((626, 1200), (png.Width, png.Height));
        Assert.Equal((jpeg.Width, jpeg.Height), (png.Width, png.Height));
        var meanDifference = png.Pixels.Zip(jpeg.Pixels, (a, b) => Math.Abs(a - b)).Average();
        Assert.True(meanDifference < 8, $"mean channel difference {meanDifference:F1}");
    }

    [Fact]
    public void Exif_orientation_turns_the_image_upright()
    {
        // 64x32: left half red, right half blue, stored with EXIF orientation 6 (rotate 90 degrees clockwise to show).
        var stored = BgrImage.Blank(64, 32);
        for (var y = 0; y < 32; y++)
        {
            for (var x = 0; x < 64; x++)
            {
                stored.Pixels[(y * stored.Stride) + (x * 3) + (x < 32 ? 2 : 0)] = 255;
            }
        }

        var image = ImageCodec.Decode(WithExifOrientation(ImageCodec.EncodeJpeg(stored, 95), 6), "rotated.jpg");

        Assert.Equal((32, 64), (image.Width, image.Height));
        var top = Pixel(image, 16, 8);
        var bottom = Pixel(image, 16, 56);
        Assert.True(top.R > 200 && top.B < 60, $"top is {top}, expected red");
        Assert.True(bottom.B > 200 && bottom.R < 60, $"bottom is {bottom}, expected blue");
    }

    [Fact]
    public void A_region_encodes_as_a_jpeg_of_that_size()
    {
        var image = ImageCodec.DecodeFile(TestPaths.Faces("ageitgey", "examples", "obama-720p.jpg"));
        var region = new PixelRect(100, 50, 321, 123);
        var jpeg = ImageCodec.EncodeJpeg(image, region, quality: 85);
        Assert.Equal([0xFF, 0xD8], jpeg[..2]);
        var back = ImageCodec.Decode(jpeg);
        Assert.Equal((321, 123), (back.Width, back.Height));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageCodec.EncodeJpeg(image, new PixelRect(1200, 0, 100, 100)));
    }

    private static (byte B, byte G, byte R) Pixel(BgrImage image, int x, int y)
    {
        var i = (y * image.Stride) + (x * 3);
        return (image.Pixels[i], image.Pixels[i + 1], image.Pixels[i + 2]);
    }

    // Inserts an APP1 Exif segment holding only the Orientation tag right after the JPEG's SOI marker.
    private static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] tiff =
        [
            (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, // big-endian header, first IFD at 8
            0, 1, // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, (byte)(orientation >> 8), (byte)orientation, 0, 0, // Orientation, SHORT, 1 value
            0, 0, 0, 0, // no next IFD
        ];
        var length = 2 + 6 + tiff.Length;
        byte[] segment = [0xFF, 0xE1, (byte)(length >> 8), (byte)length, (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0, .. tiff];
        return [.. jpeg[..2], .. segment, .. jpeg[2..]];
    }
}
