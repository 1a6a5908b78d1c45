using System.Globalization;
using ScottPlot;

namespace CityWatch.Evaluation;

/// <summary>PNG charts of an evaluation (ScottPlot 5): ROC, DET, score histogram, precision-recall.</summary>
public static class EvaluationCharts
{
    private const int Width = 720;
    private const int Height = 540;

    // About this many characters of title fit across the chart at ScottPlot's default size; a longer one
    // (a degraded set's, which names the degradation) is drawn smaller rather than cut off.
    private const int TitleFits = 66;

    /// <summary>Writes roc, det and histogram PNGs for <paramref name="report"/>; returns their paths.</summary>
    public static IReadOnlyList<string> WriteVerification(VerificationReport report, string folder, string prefix, string setName)
    {
        ArgumentNullException.ThrowIfNull(report);
        Directory.CreateDirectory(folder);
        var title = $"{setName}, {report.Detector} + {report.Embedder}";
        return
        [
            Save(folder, $"{prefix}-roc.png", plot => Roc(plot, report, title)),
            Save(folder, $"{prefix}-det.png", plot => Det(plot, report, title)),
            Save(folder, $"{prefix}-scores.png", plot => Histogram(plot, report, title)),
        ];
    }

    /// <summary>Writes the precision-recall PNG for <paramref name="report"/>; returns its path.</summary>
    public static string WriteDetection(DetectionReport report, string folder, string prefix, string setName)
    {
        ArgumentNullException.ThrowIfNull(report);
        Directory.CreateDirectory(folder);
        return Save(folder, $"{prefix}-pr.png", plot => PrecisionRecall(plot, report, setName));
    }

    private static void PrecisionRecall(Plot plot, DetectionReport report, string setName)
    {
        foreach (var figures in report.ByIoU)
        {
            var recall = figures.Curve.Select(p => p.Recall).Prepend(0).ToArray();
            var precision = figures.Curve.Select(p => p.Precision).Prepend(figures.Curve.Count == 0 ? 1 : figures.Curve[0].Precision).ToArray();
            var line = plot.Add.Scatter(recall, precision);
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = Text($"IoU {figures.IoU:0.0}: AP {figures.AveragePrecision:0.000}; at score {figures.ScoreThreshold:0.00} P {figures.Precision:0.000} R {figures.Recall:0.000}");
            var operating = plot.Add.Scatter(new[] { figures.Recall }, new[] { figures.Precision });
            operating.MarkerSize = 9;
            operating.Color = line.Color;
        }

        plot.Title($"Precision-recall, {setName}, {report.Detector} ({report.Faces} labelled faces, scores >= {report.CurveFloor:0.00})");
        plot.XLabel("recall");
        plot.YLabel("precision");
        plot.Axes.SetLimits(0, 1.02, 0, 1.02);
        plot.ShowLegend(Alignment.LowerLeft);
    }

    private static void Roc(Plot plot, VerificationReport report, string title)
    {
        var roc = report.Figures.Roc;
        var line = plot.Add.Scatter(roc.Select(p => p.Far).ToArray(), roc.Select(p => p.Tar).ToArray());
        line.MarkerSize = 0;
        line.LineWidth = 2;
        line.LegendText = Text($"AUC {report.Figures.Auc:0.0000}, EER {report.Figures.Eer:0.0000}");
        var chance = plot.Add.Scatter(new[] { 0.0, 1.0 }, new[] { 0.0, 1.0 });
        chance.MarkerSize = 0;
        chance.LinePattern = LinePattern.Dashed;
        chance.Color = Colors.Gray;
        plot.Title($"ROC, {title} ({report.Figures.Genuine} / {report.Figures.Impostor} pairs)");
        plot.XLabel("false match rate (FAR)");
        plot.YLabel("true match rate (TAR)");
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.ShowLegend(Alignment.LowerRight);
    }

    // FNMR against FMR, both on log10 axes; rates of zero are drawn at half the set's resolution.
    private static void Det(Plot plot, VerificationReport report, string title)
    {
        var floorFar = 0.5 / report.Figures.Impostor;
        var floorFrr = 0.5 / report.Figures.Genuine;
        var floor = Math.Min(floorFar, floorFrr);
        var points = report.Figures.Roc.Where(p => p.Far > 0 || p.Frr < 1).ToList();
        var xs = points.Select(p => Math.Log10(Math.Max(p.Far, floorFar))).ToArray();
        var ys = points.Select(p => Math.Log10(Math.Max(p.Frr, floorFrr))).ToArray();
        var line = plot.Add.Scatter(xs, ys);
        line.MarkerSize = 3;
        line.LineWidth = 2;
        line.LegendText = Text($"EER {report.Figures.Eer:0.0000} (zero rates drawn at 0.5/n)");
        var low = Math.Floor(Math.Log10(floor));
        var diagonal = plot.Add.Scatter(new[] { low, 0.0 }, new[] { low, 0.0 });
        diagonal.MarkerSize = 0;
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.Color = Colors.Gray;
        diagonal.LegendText = "FNMR = FMR";
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        var ticksY = new ScottPlot.TickGenerators.NumericManual();
        for (var e = (int)low; e <= 0; e++)
        {
            var label = Math.Pow(10, e).ToString("0.#####", CultureInfo.InvariantCulture);
            ticks.AddMajor(e, label);
            ticksY.AddMajor(e, label);
        }

        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Left.TickGenerator = ticksY;
        plot.Axes.SetLimits(low, 0.05, low, 0.05);
        plot.Title($"DET, {title}");
        plot.XLabel("false match rate (FMR, log)");
        plot.YLabel("false non-match rate (FNMR, log)");
        plot.ShowLegend(Alignment.UpperRight);
    }

    private static void Histogram(Plot plot, VerificationReport report, string title)
    {
        var all = report.GenuineScores.Concat(report.ImpostorScores).ToList();
        var min = Math.Floor(all.Min() * 20) / 20;
        var max = Math.Ceiling(all.Max() * 20) / 20;
        const int Bins = 40;
        var width = Math.Max((max - min) / Bins, 1e-3);
        AddSteps(plot, report.GenuineScores, min, width, Bins, $"genuine ({report.GenuineScores.Count})", Colors.Green);
        AddSteps(plot, report.ImpostorScores, min, width, Bins, $"impostor ({report.ImpostorScores.Count})", Colors.Red);
        if (report.Figures.ThresholdAtFar.Where(t => t.Value is not null).OrderBy(t => t.Key).FirstOrDefault() is { Value: { } threshold } at)
        {
            var mark = plot.Add.VerticalLine(threshold);
            mark.LinePattern = LinePattern.Dashed;
            mark.Color = Colors.Black;
            mark.LegendText = Text($"threshold at FAR {at.Key:G}: {threshold:0.000}");
        }

        var eer = plot.Add.VerticalLine(report.Figures.EerThreshold);
        eer.LinePattern = LinePattern.Dotted;
        eer.Color = Colors.Gray;
        eer.LegendText = Text($"EER threshold {report.Figures.EerThreshold:0.000}");
        plot.Title($"Scores, {title}");
        plot.XLabel("cosine similarity");
        plot.YLabel("share of pairs per bin");
        plot.ShowLegend(Alignment.UpperLeft);
    }

    // A normalised histogram drawn as a step line, so that the two classes overlay legibly.
    private static void AddSteps(Plot plot, IReadOnlyList<float> scores, double min, double width, int bins, string label, Color color)
    {
        var counts = new double[bins + 2];
        foreach (var s in scores)
        {
            var bin = Math.Clamp((int)((s - min) / width), 0, bins - 1) + 1;
            counts[bin]++;
        }

        var xs = Enumerable.Range(0, bins + 2).Select(i => min + ((i - 1) * width)).ToArray();
        var ys = counts.Select(c => scores.Count == 0 ? 0 : c / scores.Count).ToArray();
        var line = plot.Add.Scatter(xs, ys);
        line.ConnectStyle = ConnectStyle.StepHorizontal;
        line.MarkerSize = 0;
        line.LineWidth = 2;
        line.Color = color;
        line.LegendText = label;
    }

    private static string Save(string folder, string name, Action<Plot> draw)
    {
        using var plot = new Plot();
        draw(plot);
        var title = plot.Axes.Title.Label;
        if (title.Text.Length > TitleFits)
        {
            title.FontSize *= TitleFits / (float)title.Text.Length;
        }

        var path = Path.Combine(folder, name);
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
