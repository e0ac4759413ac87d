using GuidedNet.Imaging.Geometry;

namespace GuidedNet.Imaging.Rendering;

/// <summary>
/// A quick-look PNG of a segmentation: axial, coronal and sagittal mid-slices of the scan side
/// by side, in RAS orientation and physical aspect ratio, with each class overlaid in its own
/// colour.
/// </summary>
public static class SegmentationPreview
{
    private const int PanelSize = 256;

    public static void Write(string path, Volume image, Volume mask)
    {
        if (!image.SameGrid(mask)) throw new ArgumentException($"image {image} and mask {mask} differ in size");
        var orientation = AxisReorientation.ToCanonical(image.Affine);
        var img = orientation.Apply(image);
        var seg = orientation.Apply(mask);

        var sorted = Subsample(img.Voxels);
        float lo = (float)Statistics.Percentile(sorted, 0.5);
        float hi = (float)Statistics.Percentile(sorted, 99.5);
        if (hi <= lo) hi = lo + 1;

        var s = img.Spacing;
        // (column axis, row axis, fixed axis); rows run from superior/anterior at the top.
        var panels = new[] { (0, 1, 2), (0, 2, 1), (1, 2, 0) };
        var rendered = panels.Select(p => RenderPanel(img, seg, p.Item1, p.Item2, p.Item3, s, lo, hi)).ToArray();
        int width = rendered.Sum(r => r.Width) + 2 * (rendered.Length - 1);
        int height = rendered.Max(r => r.Height);
        var rgb = new byte[width * height * 3];
        int x0 = 0;
        foreach (var panel in rendered)
        {
            for (int y = 0; y < panel.Height; y++)
                Array.Copy(panel.Rgb, y * panel.Width * 3, rgb, (y * width + x0) * 3, panel.Width * 3);
            x0 += panel.Width + 2;
        }
AtomicFile.Write(path, file => PngEncoder.WriteRgb(file, width, height, rgb));
    }

    private static List<float> Subsample(float[] voxels)
    {
        long step = Math.Max(1, voxels.LongLength / 200_000);
        var list = new List<float>();
        for (long i = 0; i < voxels.LongLength; i += step) list.Add(voxels[i]);
        list.Sort();
        return list;
    }

    private static (int Width, int Height, byte[] Rgb) RenderPanel(
        Volume img, Volume seg, int colAxis, int rowAxis, int fixedAxis, Vector3d spacing, float lo, float hi)
    {
        int[] size = { img.SizeX, img.SizeY, img.SizeZ };
        double physW = size[colAxis] * spacing[colAxis], physH = size[rowAxis] * spacing[rowAxis];
        double scale = PanelSize / Math.Max(physW, physH);
        int width = Math.Max(1, (int)Math.Round(physW * scale));
        int height = Math.Max(1, (int)Math.Round(physH * scale));
        var rgb = new byte[width * height * 3];
        var index = new int[3];
        index[fixedAxis] = size[fixedAxis] / 2;
        for (int py = 0; py < height; py++)
        {
            index[rowAxis] = Math.Min(size[rowAxis] - 1, (int)((height - 1 - py) * (double)size[rowAxis] / height));
            for (int px = 0; px < width; px++)
            {
                index[colAxis] = Math.Min(size[colAxis] - 1, (int)(px * (double)size[colAxis] / width));
                float v = img[index[0], index[1], index[2]];
                byte grey = (byte)Math.Clamp((v - lo) / (hi - lo) * 255, 0, 255);
                int label = (int)seg[index[0], index[1], index[2]];
                int o = (py * width + px) * 3;
                if (label > 0)
                {
                    var c = Labels.LabelTable.DefaultColour(label);
                    for (int k = 0; k < 3; k++) rgb[o + k] = (byte)((grey + c[k]) / 2);
                }
                else
                {
                    rgb[o] = rgb[o + 1] = rgb[o + 2] = grey;
                }
            }
        }
        return (width, height, rgb);
    }
}
