using System.Globalization;
using ScottPlot;
using SkiaSharp;

namespace GuidedNet.Imaging.Rendering;

/// <summary>A series of (x, y) points drawn as a line, named in the legend.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<(double X, double Y)> Points, byte[] Colour);

/// <summary>One chart of a figure: its title, axis labels (with units), series and y scale.</summary>
/// <param name="LogY">a logarithmic y axis (losses); points at or below zero are left out</param>
/// <param name="YRange">a fixed y range (e.g. 0 to 1 for Dice); null fits the data</param>
/// <param name="Markers">mark each point (few points, such as validations)</param>
public sealed record ChartPanel(string Title, string XLabel, string YLabel, IReadOnlyList<ChartSeries> Series, bool LogY = false,
    (double Min, double Max)? YRange = null, bool Markers = false);

/// <summary>
/// Line charts as PNG (training curves): panels stacked vertically, each a ScottPlot plot with its
/// title, axis labels, ticks and legend, and its own y scale.
/// </summary>
public static class LineChart
{
    public static void Write(string path, IReadOnlyList<ChartPanel> panels, int width = 900, int panelHeight = 380)
    {
        using var surface = SKSurface.Create(new SKImageInfo(width, panelHeight * Math.Max(1, panels.Count)));
        surface.Canvas.Clear(SKColors.White);
        // One x range for every panel, so that a validation lines up with the losses of its iteration.
        var xs = panels.SelectMany(p => p.Series).SelectMany(s => s.Points).Select(p => p.X).Where(double.IsFinite).ToList();
        for (int i = 0; i < panels.Count; i++)
        {
            var plot = Build(panels[i]);
            if (xs.Count > 0 && xs.Max() > xs.Min()) plot.Axes.SetLimitsX(xs.Min(), xs.Max());
            // Each plot is drawn on its own surface: a plot clears the whole canvas it renders on.
            using var panel = SKSurface.Create(new SKImageInfo(width, panelHeight));
            plot.Render(panel);
            surface.Canvas.DrawSurface(panel, 0, i * panelHeight);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, file => png.SaveTo(file));
    }

    /// <summary>The plot of one panel (public so tests can read what it shows: titles, labels, legend, ticks).</summary>
    public static Plot Build(ChartPanel panel)
    {
        var plot = new Plot();
        plot.Title(panel.Title);
        plot.XLabel(panel.XLabel);
        plot.YLabel(panel.YLabel);
        int drawn = 0;
        foreach (var series in panel.Series)
        {
            var points = series.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!panel.LogY || p.Y > 0)).ToList();
            if (points.Count == 0) continue;
            var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => panel.LogY ? Math.Log10(p.Y) : p.Y).ToArray(),
                new Color(series.Colour[0], series.Colour[1], series.Colour[2]));
            line.LegendText = series.Name;
            line.LineWidth = 1.5f;
            line.MarkerSize = panel.Markers ? 6 : 0;
            drawn++;
        }
        if (panel.LogY)
            // The data are log10 values; the ticks are labelled with the values themselves, at powers of ten.
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = y => Math.Pow(10, y).ToString("G3", CultureInfo.InvariantCulture),
            };
        if (panel.YRange is var (min, max)) plot.Axes.SetLimitsY(min, max);
        if (drawn == 0) plot.Add.Annotation("no data yet");
        else plot.ShowLegend(Alignment.UpperRight);
        return plot;
    }
}
