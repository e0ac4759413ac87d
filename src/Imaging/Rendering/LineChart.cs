namespace GuidedNet.Imaging.Rendering;

/// <summary>A series of (x, y) points drawn as a polyline.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<(double X, double Y)> Points, byte[] Colour);

/// <summary>
/// Minimal line charts as PNG (training curves): panels stacked vertically, each with its own
/// y range, light grid lines at quarter ranges. No text rendering — the data is in training.json;
/// series colours are listed there.
/// </summary>
public static class LineChart
{
    public static void Write(string path, IReadOnlyList<IReadOnlyList<ChartSeries>> panels, int width = 800, int panelHeight = 240)
    {
        int height = panels.Count * panelHeight;
        var rgb = Enumerable.Repeat((byte)255, width * height * 3).ToArray();
        for (int p = 0; p < panels.Count; p++)
        {
            var series = panels[p].Where(s => s.Points.Count > 0).ToList();
            int top = p * panelHeight + 8, bottom = (p + 1) * panelHeight - 8, left = 8, right = width - 8;
            for (int q = 0; q <= 4; q++)
                HorizontalLine(rgb, width, left, right, top + (bottom - top) * q / 4, q is 0 or 4 ? (byte)160 : (byte)225);
            if (series.Count == 0) continue;
            var all = series.SelectMany(s => s.Points).Where(pt => double.IsFinite(pt.Y)).ToList();
            if (all.Count == 0) continue;
            double x0 = all.Min(pt => pt.X), x1 = Math.Max(all.Max(pt => pt.X), x0 + 1e-9);
            double y0 = all.Min(pt => pt.Y), y1 = Math.Max(all.Max(pt => pt.Y), y0 + 1e-9);
            foreach (var s in series)
            {
                (int, int) Map((double X, double Y) pt) => (
                    left + (int)Math.Round((pt.X - x0) / (x1 - x0) * (right - left)),
                    bottom - (int)Math.Round((pt.Y - y0) / (y1 - y0) * (bottom - top)));
                var points = s.Points.Where(pt => double.IsFinite(pt.Y)).Select(Map).ToList();
                for (int i = 1; i < points.Count; i++) Line(rgb, width, height, points[i - 1], points[i], s.Colour);
                if (points.Count == 1) Line(rgb, width, height, points[0], points[0], s.Colour);
            }
        }
        AtomicFile.Write(path, file => PngEncoder.WriteRgb(file, width, height, rgb));
    }

    private static void HorizontalLine(byte[] rgb, int width, int x0, int x1, int y, byte grey)
    {
        for (int x = x0; x <= x1; x++)
        {
            int o = (y * width + x) * 3;
            rgb[o] = rgb[o + 1] = rgb[o + 2] = grey;
        }
    }

    /// <summary>Bresenham line, two pixels thick.</summary>
    private static void Line(byte[] rgb, int width, int height, (int X, int Y) a, (int X, int Y) b, byte[] colour)
    {
        int dx = Math.Abs(b.X - a.X), dy = -Math.Abs(b.Y - a.Y), sx = a.X < b.X ? 1 : -1, sy = a.Y < b.Y ? 1 : -1, err = dx + dy;
        int x = a.X, y = a.Y;
        while (true)
        {
            for (int t = 0; t < 2; t++)
            {
                int py = Math.Clamp(y + t, 0, height - 1), px = Math.Clamp(x, 0, width - 1);
                int o = (py * width + px) * 3;
                rgb[o] = colour[0];
                rgb[o + 1] = colour[1];
                rgb[o + 2] = colour[2];
            }
            if (x == b.X && y == b.Y) break;
            int e2 = 2 * err;
            if (e2 >= dy) { err += dy; x += sx; }
            if (e2 <= dx) { err += dx; y += sy; }
        }
    }
}
