using System.Globalization;
using ScottPlot;

namespace CityWatch.Cli.Bench;

/// <summary>The PNG chart of `bench match --chart`: recall@1 against queries a second for both graphs, one point per candidate count.</summary>
internal static class MatchChart
{
    public static void Write(MatchFigures figures, string path)
    {
        using var plot = new Plot();
        Curve(plot, figures.AnnSweep, "CityWatch: HNSW over int8 codes, exact rescoring");
        Curve(plot, figures.UsearchSweep, "USearch: float32, its defaults");
        var exact = plot.Add.VerticalLine(Math.Log10(figures.ExactQps));
        exact.LinePattern = LinePattern.Dotted;
        exact.Color = Colors.Gray;
        exact.LegendText = string.Create(CultureInfo.InvariantCulture, $"int8 exact scan: {figures.ExactQps:0} queries/s, recall 1");
        var goal = plot.Add.HorizontalLine(MatchFigures.RecallGoal);
        goal.LinePattern = LinePattern.Dashed;
        goal.Color = Colors.Gray;
        goal.LegendText = string.Create(CultureInfo.InvariantCulture, $"goal: recall@1 {MatchFigures.RecallGoal}");

        // Queries a second span decades: a log axis, labelled in queries a second.
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = value => Math.Pow(10, value).ToString("0", CultureInfo.InvariantCulture),
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        };
        plot.Title(string.Create(CultureInfo.InvariantCulture, $"Recall against speed, {figures.Entries:N0} x {figures.Dimensions} random unit vectors, {figures.Cores} cores"));
        plot.XLabel("queries per second, one probe at a time (log)");
        plot.YLabel("recall@1 against the exact float scan");
        plot.ShowLegend(Alignment.LowerLeft);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }

        plot.SavePng(path, 900, 540);
    }

    private static void Curve(Plot plot, IReadOnlyList<RecallPoint> sweep, string legend)
    {
        var line = plot.Add.Scatter(sweep.Select(p => Math.Log10(p.Qps)).ToArray(), sweep.Select(p => p.RecallAt1).ToArray());
        line.LineWidth = 2;
        line.MarkerSize = 7;
        line.LegendText = legend;
        foreach (var point in sweep)
        {
            var label = plot.Add.Text(point.Candidates.ToString(CultureInfo.InvariantCulture), Math.Log10(point.Qps), point.RecallAt1);
            label.LabelFontSize = 10;
            label.OffsetY = -4;
        }
    }
}
