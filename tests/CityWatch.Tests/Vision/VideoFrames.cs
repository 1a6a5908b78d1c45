using System.Diagnostics;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

/// <summary>Frames of a video file as BGR images, decoded by ffmpeg (the process ends with the method).</summary>
internal static class VideoFrames
{
    public static List<BgrImage> Read(string path, int width, int height, double fps)
    {
        var start = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-nostdin", "-loglevel", "error", "-i", path, "-vf", FormattableString.Invariant($"fps={fps},scale={width}:{height}"), "-f", "rawvideo", "-pix_fmt", "bgr24", "-" })
        {
            start.ArgumentList.Add(argument);
        }

        // Tests decode the clip directly; product code starts processes through Ingest/ProcessRunner.
#pragma warning disable RS0030
        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start.");
#pragma warning restore RS0030
        try
        {
            var errors = process.StandardError.ReadToEndAsync();
            var frames = new List<BgrImage>();
            var stream = process.StandardOutput.BaseStream;
            while (true)
            {
                var pixels = new byte[width * height * 3];
                var read = 0;
                while (read < pixels.Length)
                {
                    var n = stream.Read(pixels, read, pixels.Length - read);
                    if (n == 0)
                    {
                        break;
                    }

                    read += n;
                }

                if (read < pixels.Length)
                {
                    break;
                }

                frames.Add(new BgrImage(width, height, pixels));
            }

            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"ffmpeg failed ({process.ExitCode}): {errors.Result}");
            }

            return frames;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
