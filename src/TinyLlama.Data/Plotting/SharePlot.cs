using System.Globalization;
using ScottPlot;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Stats;

namespace TinyLlama.Data.Plotting;

/// <summary>
/// Draws the share of each source over the token axis: realised per window (from the sidecars, solid) and,
/// given a spec, planned per window (<c>(F_i(end) − F_i(start)) / window</c>, dashed), with the stages marked
/// by labelled vertical lines. Renders headless (SkiaSharp's self-contained Linux assets).
/// </summary>
public static class SharePlot
{
    public static void Save(StatsReport stats, string path, PlannedMixture? planned = null, int width = 1100, int height = 560)
    {
        ArgumentNullException.ThrowIfNull(stats);
        ArgumentNullException.ThrowIfNull(path);
        var (scale, unit) = AxisScale(stats.Total.Tokens);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var mids = stats.Windows.Select(w => (w.Start + (w.Tokens / 2.0)) / scale).ToArray();

        for (var i = 0; i < stats.Sources.Count; i++)
        {
            var color = palette.GetColor(i);
            var realised = stats.Windows.Select(w => w.Share(i)).ToArray();
            var line = plot.Add.ScatterLine(mids, realised, color);
            line.LineWidth = 1.5f;
            line.LegendText = stats.Sources[i] + " (realised)";

            var p = planned?.Sources is { } names ? IndexOf(names, stats.Sources[i]) : -1;
            if (p >= 0)
            {
                var target = planned!.Target;
                var plan = stats.Windows.Select(w => w.Tokens == 0 ? 0 : (target.Integral(p, w.Start + w.Tokens) - target.Integral(p, w.Start)) / w.Tokens).ToArray();
                var dashed = plot.Add.ScatterLine(mids, plan, color);
                dashed.LineWidth = 2.5f;
                dashed.LinePattern = LinePattern.Dashed;
                dashed.LegendText = stats.Sources[i] + " (planned)";
            }
        }

        foreach (var (position, name) in StageMarks(stats, planned))
        {
            plot.Add.VerticalLine(position / scale, 1.5f, Colors.Gray, LinePattern.Dotted);
            var label = plot.Add.Text(" " + name, position / scale, 1.09);
            label.LabelFontSize = 13;
            label.LabelBold = true;
            label.LabelAlignment = Alignment.UpperLeft;
        }

        plot.Title(string.Create(CultureInfo.InvariantCulture,
            $"Share of each source per window of {stats.WindowTokens:N0} tokens ({(planned is null ? "realised" : "solid: realised, dashed: planned")})"));
        plot.Axes.Bottom.Label.Text = "token position" + unit;
        plot.Axes.Left.Label.Text = "share of the window's tokens";
        plot.Axes.SetLimits(0, stats.Total.Tokens / scale, 0, 1.1);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, width, height);
    }

    /// <summary>Stage starts after the first: from the plan when there is one, else where the sidecars' stage labels first appear.</summary>
    private static List<(double Position, string Name)> StageMarks(StatsReport stats, PlannedMixture? planned)
    {
        var marks = new List<(double, string)>();
        if (planned is not null)
        {
            for (var k = 0; k < planned.StageNames.Count; k++)
            {
                marks.Add((planned.Target.StageStart(k), planned.StageNames[k]));
            }
        }
        else
        {
            for (var k = 0; k < stats.Stages.Count; k++)
            {
                if (stats.ObservedStageStarts[k] >= 0)
                {
                    marks.Add((stats.ObservedStageStarts[k], stats.Stages[k]));
                }
            }
        }

        return marks;
    }

    private static (double Scale, string Unit) AxisScale(long tokens) => tokens switch
    {
        >= 10_000_000_000 => (1e9, " (B tokens)"),
        >= 10_000_000 => (1e6, " (M tokens)"),
        >= 10_000 => (1e3, " (K tokens)"),
        _ => (1, ""),
    };

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (string.Equals(names[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
