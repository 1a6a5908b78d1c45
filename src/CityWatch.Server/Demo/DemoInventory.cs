using System.Globalization;
using System.Text;

namespace CityWatch.Server.Demo;

/// <summary>
/// The demo city's camera inventory as a city would deliver it (CSV): 800 sites and 1,000 cameras around a
/// fictional centre. A few cameras at a transport hub stream the shared video in real time with face
/// recognition allowed; the others are in the register with unreachable `.invalid` stream addresses and
/// not enabled, so they cost nothing and contact nobody.
/// </summary>
/// <remarks><c>bench latency</c> uses the same inventory with one streaming camera on its own stand-in stream.</remarks>
public static class DemoInventory
{
    public const int Sites = 800;
    public const int Cameras = 1000;
    public const int Streaming = 3;

    /// <summary>The analysis rate of the streaming cameras (the others: 1), in frames per second.</summary>
    public const int StreamingAnalysisFps = 2;

    private static readonly string[] Purposes = ["traffic monitoring", "public order", "transport hub safety", "park safety", "building entrance"];
    private static readonly string[] Owners = ["City transport department", "City police", "Parks authority", "City hall"];

    /// <param name="streamUrl">What the streaming cameras stream (the demo: the shared video's file:// URL).</param>
    /// <param name="streaming">How many of the first cameras stream it, face recognition allowed.</param>
    public static string Csv(string streamUrl, int streaming = Streaming)
    {
        var random = new Random(2026);
        var csv = new StringBuilder("site_code,site_name,latitude,longitude,camera_code,camera_name,owner,purpose,stream_url,face_recognition_allowed,analysis_fps,enabled\n");
        var camera = 0;
        for (var site = 1; site <= Sites; site++)
        {
            // Sites spread over roughly 8 km around the centre; the first 200 sites have two cameras.
            var angle = random.NextDouble() * Math.Tau;
            var radius = Math.Sqrt(random.NextDouble()) * 0.07;
            var latitude = 44.8125 + (radius * Math.Sin(angle));
            var longitude = 20.4612 + (radius * Math.Cos(angle) * 1.4);
            var perSite = site <= Cameras - Sites ? 2 : 1;
            for (var k = 0; k < perSite; k++)
            {
                camera++;
                var streams = camera <= streaming;
                var purpose = streams ? "transport hub safety" : Purposes[random.Next(Purposes.Length)];
                var url = streams ? streamUrl : $"rtsp://cam-{camera:0000}.demo.invalid/stream1";
                csv.Append(CultureInfo.InvariantCulture,
                    $"S{site:000},Demo site {site},{latitude:0.000000},{longitude:0.000000},CAM-{camera:0000},{(streams ? "Central station hall" : "Camera")} {camera},{Owners[random.Next(Owners.Length)]},{purpose},{url},{(streams ? "true" : "false")},{(streams ? StreamingAnalysisFps : 1)},{(streams ? "true" : "false")}\n");
            }
        }

        return csv.ToString();
    }
}
