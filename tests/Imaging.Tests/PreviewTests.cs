using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Labels;
using GuidedNet.Imaging.Rendering;
using GuidedNet.TestSupport;

namespace GuidedNet.Imaging.Tests;

public class PreviewTests
{
    [Fact]
    public void Preview_is_radiological_through_the_mask_in_physical_aspect_with_letters_and_a_legend()
    {
        using var tmp = new TempFolder();
        // 32 x 32 x 10 voxels of 1 x 1 x 2 mm in RAS: 32 mm wide, 20 mm high in the coronal view.
        var image = new Volume(32, 32, 10, Enumerable.Range(0, 32 * 32 * 10).Select(i => (float)(i % 7)).ToArray(), Affine.Scaling(1, 1, 2));
        var mask = new float[image.VoxelCount];
        // Organ 1 on the patient's right (high x), organ 2 on the left; both only in slices 1-3, away from the middle.
        for (int z = 1; z <= 3; z++)
            for (int y = 10; y < 22; y++)
            {
                for (int x = 24; x < 30; x++) mask[x + 32 * (y + 32 * z)] = 1;
                for (int x = 2; x < 8; x++) mask[x + 32 * (y + 32 * z)] = 2;
            }
        var labels = LabelTable.FromNames([null, "liver", "spleen"], 3);
        string path = tmp.File("p.png");
        var panels = SegmentationPreview.Write(path, image, image.WithVoxels(mask), labels);
        var png = PngImage.Read(path);

        Assert.Equal(["axial", "coronal", "sagittal"], panels.Select(p => p.View));
        Assert.Equal(("R", "L", "A", "P"), (panels[0].Left, panels[0].Right, panels[0].Top, panels[0].Bottom));
        Assert.Equal(("R", "L", "S", "I"), (panels[1].Left, panels[1].Right, panels[1].Top, panels[1].Bottom));
        Assert.Equal(("A", "P", "S", "I"), (panels[2].Left, panels[2].Right, panels[2].Top, panels[2].Bottom));
        Assert.Equal((256, 256), (panels[0].Width, panels[0].Height));
        Assert.Equal((256, 160), (panels[1].Width, panels[1].Height));
        Assert.Equal((256, 160), (panels[2].Width, panels[2].Height));

        // The axial view cuts through the organs (slice 2, not the middle) and shows the patient's right on its left.
        var axial = panels[0];
        var liver = labels.Entries[0].Colour;
        var spleen = labels.Entries[1].Colour;
        var (leftHalf, rightHalf) = (Hue(png, axial, 0, axial.Width / 2), Hue(png, axial, axial.Width / 2, axial.Width));
        Assert.True(leftHalf.Red > 500 && leftHalf.Green < 50, $"the liver (patient's right) on the image's left: {leftHalf}");
        Assert.True(rightHalf.Green > 500 && rightHalf.Red < 50, $"the spleen (patient's left) on the image's right: {rightHalf}");
        // Nothing around the views is image: the figure is grey, not black padding.
        var (r, g, b) = png[axial.X + axial.Width / 2, axial.Y + axial.Height + 4];
        Assert.True(r == g && g == b && r is > 40 and < 80, $"figure background {(r, g, b)}");
        // The legend has a swatch of each organ's colour exactly.
        Assert.True(HasPixel(png, liver) && HasPixel(png, spleen), "legend swatches");
    }

    // Pixels of the panel's columns [from, to) whose colour leans to red (organ 1's colour) or green (organ 2's).
    private static (int Red, int Green) Hue(PngImage png, PreviewPanel panel, int from, int to)
    {
        int red = 0, green = 0;
        for (int y = panel.Y; y < panel.Y + panel.Height; y++)
            for (int x = panel.X + from; x < panel.X + to; x++)
            {
                var (r, g, b) = png[x, y];
                if (r > g + 40 && r > b + 20) red++;
                if (g > r + 40 && g > b + 20) green++;
            }
        return (red, green);
    }

    private static bool HasPixel(PngImage png, byte[] colour)
    {
        for (int y = 0; y < png.Height; y++)
            for (int x = 0; x < png.Width; x++)
                if (png[x, y] == (colour[0], colour[1], colour[2])) return true;
        return false;
    }

    [Fact]
    public void A_chart_panel_has_its_title_axis_labels_legend_and_a_log_scale_labelled_in_values()
    {
        var losses = new ChartPanel("Training losses", "iteration", "loss (log scale)",
        [
            new ChartSeries("total", [(1, 10.0), (2, 1.0), (3, 0.01)], [0, 0, 0]),
            new ChartSeries("unsup", [(1, 0.0), (2, 0.5), (3, 0.2)], [31, 119, 180]),
        ], LogY: true);
        var plot = LineChart.Build(losses);
        Assert.Equal("Training losses", plot.Axes.Title.Label.Text);
        Assert.Equal("iteration", plot.Axes.Bottom.Label.Text);
        Assert.Equal("loss (log scale)", plot.Axes.Left.Label.Text);
        Assert.Equal(["total", "unsup"], plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Select(s => s.LegendText));
        Assert.True(plot.Legend.IsVisible);
        // Log scale: the data are log10 values (a zero loss left out), the ticks name the values.
        var total = plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().First().Data.GetScatterPoints();
        Assert.Equal([1.0, 0.0, -2.0], total.Select(p => Math.Round(p.Y, 12)));
        Assert.Equal(2, plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Last().Data.GetScatterPoints().Count);
        var ticks = Assert.IsType<ScottPlot.TickGenerators.NumericAutomatic>(plot.Axes.Left.TickGenerator);
        Assert.Equal(["0.01", "1", "100"], new[] { -2.0, 0, 2 }.Select(ticks.LabelFormatter));

        var dice = LineChart.Build(new ChartPanel("Validation Dice", "iteration", "Dice", [new ChartSeries("mean", [(100, 0.5), (200, 0.7)], [0, 0, 0])],
            YRange: (0, 1), Markers: true));
        Assert.Equal((0, 1), (dice.Axes.GetLimits().Bottom, dice.Axes.GetLimits().Top));

        using var tmp = new TempFolder();
        LineChart.Write(tmp.File("c.png"), [losses, losses with { LogY = false }], width: 640, panelHeight: 300);
        var png = PngImage.Read(tmp.File("c.png"));
        Assert.Equal((640, 600), (png.Width, png.Height));
        // Both panels are drawn (text, ticks and lines are dark on white), not only the last.
        for (int panel = 0; panel < 2; panel++)
        {
            int dark = 0;
            for (int y = panel * 300; y < (panel + 1) * 300; y++)
                for (int x = 0; x < 640; x++)
                    if (png[x, y].R < 100) dark++;
            Assert.True(dark > 500, $"panel {panel}: {dark} dark pixels");
        }
    }
}
