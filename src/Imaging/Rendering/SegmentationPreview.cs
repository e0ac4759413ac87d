using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Labels;
using SkiaSharp;

namespace GuidedNet.Imaging.Rendering;

/// <summary>Where a preview drew one view: its rectangle in the PNG and the orientation letter at each edge.</summary>
public sealed record PreviewPanel(string View, int X, int Y, int Width, int Height, string Left, string Right, string Top, string Bottom);

/// <summary>
/// A quick-look PNG of a segmentation: axial, coronal and sagittal slices through the centre of the
/// mask (the volume's centre when it is empty), each in its physical aspect, in the radiological
/// convention CT viewers use (the patient's right on the image's left; anterior on the left of the
/// sagittal view), with orientation letters at every edge, each organ overlaid in its label
/// table's colour and a legend naming them. Views are drawn at their own sizes on a grey figure,
/// never padded with image-black.
/// </summary>
public static class SegmentationPreview
{
    private const int PanelSize = 256;
    private const int Margin = 22;
    private static readonly SKColor Figure = new(58, 58, 58);

    // (view, column axis, row axis, fixed axis, letters left/right/top/bottom) in RAS: +x right, +y anterior, +z superior.
    // Columns run from high to low index (patient's right, or anterior, on the left); rows from high (anterior, superior) at the top.
    private static readonly (string View, int Column, int Row, int Fixed, string L, string R, string T, string B)[] Views =
    {
        ("axial", 0, 1, 2, "R", "L", "A", "P"),
        ("coronal", 0, 2, 1, "R", "L", "S", "I"),
        ("sagittal", 1, 2, 0, "A", "P", "S", "I"),
    };

    /// <summary>Writes the preview; returns where each view was drawn.</summary>
    public static IReadOnlyList<PreviewPanel> Write(string path, Volume image, Volume mask, LabelTable? labels = null)
    {
        if (!image.SameGrid(mask)) throw new ArgumentException($"image {image} and mask {mask} differ in size");
        var orientation = AxisReorientation.ToCanonical(image.Affine);
        var img = orientation.Apply(image);
        var seg = orientation.Apply(mask);

        var sorted = Subsample(img.Voxels);
        float lo = (float)Statistics.Percentile(sorted, 0.5);
        float hi = (float)Statistics.Percentile(sorted, 99.5);
        if (hi <= lo) hi = lo + 1;
        int[] centre = MaskCentre(seg);

        var present = seg.Voxels.Where(v => v > 0).Select(v => (int)v).Distinct().Order().ToList();
        labels ??= LabelTable.FromNames([], present.Count == 0 ? 1 : present.Max() + 1);
        var table = labels;
        byte[] ColourOf(int value) => table.Entries.FirstOrDefault(e => e.Value == value)?.Colour ?? LabelTable.DefaultColour(value);
        var rendered = Views.Select(v => RenderView(img, seg, v.Column, v.Row, v.Fixed, centre, lo, hi, ColourOf)).ToArray();

        using var typeface = SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.Default;
        using var font = new SKFont(typeface, 13);
        using var text = new SKPaint { Color = SKColors.White, IsAntialias = true };
        using var shadow = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        const int legendRow = 20;
        int width = Margin + rendered.Sum(r => r.Width + 2 * Margin);
        int legendRows = Math.Max(1, present.Count);
        int height = Margin + 16 + rendered.Max(r => r.Height) + 2 * Margin + legendRows * legendRow;

        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(Figure);
        // Letters drawn over the image get a dark shadow, so they read on bright tissue too.
        void Letter(string letter, float x, float y, SKTextAlign align)
        {
            canvas.DrawText(letter, x + 1, y + 1, align, font, shadow);
            canvas.DrawText(letter, x, y, align, font, text);
        }
        var panels = new List<PreviewPanel>();
        int x0 = 2 * Margin;
        int y0 = Margin + 16;
        for (int i = 0; i < Views.Length; i++)
        {
            var (view, _, _, _, left, right, top, bottom) = Views[i];
            var (w, h, rgb) = rendered[i];
            using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
            var pixels = new byte[w * h * 4];
            for (int p = 0; p < w * h; p++)
            {
                pixels[4 * p] = rgb[3 * p];
                pixels[4 * p + 1] = rgb[3 * p + 1];
                pixels[4 * p + 2] = rgb[3 * p + 2];
                pixels[4 * p + 3] = 255;
            }
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
            canvas.DrawBitmap(bitmap, x0, y0);
            canvas.DrawText(view, x0 + w / 2f, y0 - 6, SKTextAlign.Center, font, text);
            canvas.DrawText(left, x0 - 6, y0 + h / 2f + 5, SKTextAlign.Right, font, text);
            canvas.DrawText(right, x0 + w + 6, y0 + h / 2f + 5, SKTextAlign.Left, font, text);
            Letter(top, x0 + w / 2f, y0 + 14, SKTextAlign.Center);
            Letter(bottom, x0 + w / 2f, y0 + h - 4, SKTextAlign.Center);
            panels.Add(new PreviewPanel(view, x0, y0, w, h, left, right, top, bottom));
            x0 += w + 2 * Margin;
        }

        int legendY = y0 + rendered.Max(r => r.Height) + Margin;
        if (present.Count == 0) canvas.DrawText("no organ found", 2 * Margin, legendY + 14, SKTextAlign.Left, font, text);
        foreach (int value in present)
        {
            var colour = ColourOf(value);
            using var swatch = new SKPaint { Color = new SKColor(colour[0], colour[1], colour[2]) };
            canvas.DrawRect(2 * Margin, legendY + 2, 14, 14, swatch);
            canvas.DrawText($"{value}  {labels.NameOf(value)}", 2 * Margin + 22, legendY + 14, SKTextAlign.Left, font, text);
            legendY += legendRow;
        }

        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, file => png.SaveTo(file));
        return panels;
    }

    private static List<float> Subsample(float[] voxels)
    {
        long step = Math.Max(1, voxels.LongLength / 200_000);
        var list = new List<float>();
        for (long i = 0; i < voxels.LongLength; i += step) list.Add(voxels[i]);
        list.Sort();
        return list;
    }

    /// <summary>The (x, y, z) voxel at the centre of the mask's foreground; the volume's centre when it has none.</summary>
    private static int[] MaskCentre(Volume seg)
    {
        double sx = 0, sy = 0, sz = 0;
        long n = 0;
        for (int z = 0; z < seg.SizeZ; z++)
            for (int y = 0; y < seg.SizeY; y++)
                for (int x = 0; x < seg.SizeX; x++)
                    if (seg[x, y, z] > 0)
                    {
                        sx += x;
                        sy += y;
                        sz += z;
                        n++;
                    }
        return n == 0 ? [seg.SizeX / 2, seg.SizeY / 2, seg.SizeZ / 2] : [(int)Math.Round(sx / n), (int)Math.Round(sy / n), (int)Math.Round(sz / n)];
    }

    private static (int Width, int Height, byte[] Rgb) RenderView(
        Volume img, Volume seg, int colAxis, int rowAxis, int fixedAxis, int[] centre, float lo, float hi, Func<int, byte[]> colourOf)
    {
        int[] size = { img.SizeX, img.SizeY, img.SizeZ };
        var spacing = img.Spacing;
        double physW = size[colAxis] * spacing[colAxis], physH = size[rowAxis] * spacing[rowAxis];
        double scale = PanelSize / Math.Max(physW, physH);
        int width = Math.Max(1, (int)Math.Round(physW * scale));
        int height = Math.Max(1, (int)Math.Round(physH * scale));
        var rgb = new byte[width * height * 3];
        var index = new int[3];
        index[fixedAxis] = centre[fixedAxis];
        for (int py = 0; py < height; py++)
        {
            index[rowAxis] = Math.Min(size[rowAxis] - 1, (int)((height - 1 - py) * (double)size[rowAxis] / height));
            for (int px = 0; px < width; px++)
            {
                index[colAxis] = Math.Min(size[colAxis] - 1, (int)((width - 1 - px) * (double)size[colAxis] / width));
                float v = img[index[0], index[1], index[2]];
                byte grey = (byte)Math.Clamp((v - lo) / (hi - lo) * 255, 0, 255);
                int label = (int)seg[index[0], index[1], index[2]];
                int o = (py * width + px) * 3;
                if (label > 0)
                {
                    var c = colourOf(label);
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
