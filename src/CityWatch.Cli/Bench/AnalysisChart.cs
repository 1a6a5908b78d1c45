using System.Globalization;
using ScottPlot;

namespace CityWatch.Cli.Bench;

/// <summary>The PNG chart of `bench analysis --chart`: cameras per core against faces per frame, from the measured stage costs.</summary>
internal static class AnalysisChart
{
    public const int MaxFaces = 10;
    public const double GoalCamerasPerCore = 83;

    /// <summary>(faces per frame, cameras per core) for 0..<see cref="MaxFaces"/> faces at the demo's analysed frames a second.</summary>
    public static IReadOnlyList<(int Faces, double CamerasPerCore)> Points(StageProfile profile) =>
        Enumerable.Range(0, MaxFaces + 1).Select(n => (n, profile.CamerasPerCore(n))).ToList();

    public static void Write(AnalysisFigures figures, string path)
    {
        var points = Points(figures.Profile);
        using var plot = new Plot();
        var line = plot.Add.Scatter(points.Select(p => (double)p.Faces).ToArray(), points.Select(p => p.CamerasPerCore).ToArray());
        line.LineWidth = 2;
        line.MarkerSize = 6;
        line.LegendText = string.Create(
            CultureInfo.InvariantCulture,
            $"measured CPU: decode {figures.Profile.DecodeCpuMsPerCameraSecond:0.0} ms/camera-s, detect {figures.Profile.Detect.CpuMs:0.0} ms/frame, align+embed+match {figures.Profile.Align.CpuMs + figures.Profile.Embed.CpuMs + figures.Profile.Match.CpuMs:0.0} ms/face");
        var goal = plot.Add.HorizontalLine(GoalCamerasPerCore);
        goal.LinePattern = LinePattern.Dashed;
        goal.Color = Colors.Gray;
        goal.LegendText = "goal: 83 cameras per core";
        plot.Title(string.Create(CultureInfo.InvariantCulture, $"Cameras per core at {StageProfile.DemoFps:0} analysed frames/s ({figures.Detector} + {figures.Embedder}, {figures.Cores} cores, load {figures.LoadAverage.End:0.#})"));
        plot.XLabel("faces per analysed frame");
        plot.YLabel("cameras per core");
        plot.Axes.SetLimits(0, MaxFaces, 0, Math.Max(GoalCamerasPerCore, points[0].CamerasPerCore) * 1.1);
        plot.ShowLegend(Alignment.UpperRight);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }

        plot.SavePng(path, 900, 540);
    }
}
