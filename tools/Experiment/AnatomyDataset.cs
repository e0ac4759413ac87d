using System.Globalization;
using System.Text.Json;
using GuidedNet.Data.Augmentation;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Experiment;

/// <summary>
/// A real-anatomy dataset from Debian's mricron-data: the INIA19 macaque T1 template and its
/// NeuroMaps atlas, brought to 1.5 mm and cropped to the brain, then per subject a random smooth
/// warp (rotation, anisotropic scale, shift and a coarse elastic field) and intensity changes (a
/// global scale over a 1.6× range, a smooth bias field, noise). Structures are chosen from the atlas
/// by size, left and right merged, from the largest down to one near a fifteenth of its size, so
/// large and small structures sit side by side. Channel "T1": normalised per case.
/// </summary>
public static class AnatomyDataset
{
    public const string Templates = "/usr/share/mricron/templates";
    private static readonly string T1 = Path.Combine(Templates, "inia19-t1-brain.nii.gz");
    private static readonly string Atlas = Path.Combine(Templates, "inia19-NeuroMaps.nii.gz");

    /// <summary>Atlas labels (left; right is +1000) of the structures, from large to small.</summary>
    public static readonly int[] Structures = { 55, 2, 45, 10, 65, 253 };

    public static bool Available => File.Exists(T1) && File.Exists(Atlas);

    public static void Write(string folder, int subjects, int testSubjects, int seed)
    {
        if (!Available) throw new FileNotFoundException($"{Templates}: the INIA19 template and atlas are missing; install the Debian package mricron-data");
        var (image, labels) = Template();
        foreach (string sub in new[] { "imagesTr", "labelsTr", "imagesTs", "labelsTs" }) Directory.CreateDirectory(Path.Combine(folder, sub));
        Parallel.For(0, subjects + testSubjects, new ParallelOptions { MaxDegreeOfParallelism = 2 }, s =>
        {
            bool test = s >= subjects;
            string name = test ? $"macaque_ts{s - subjects:D3}" : $"macaque_{s:D3}";
            var (warpedImage, warpedLabels) = Subject(image, labels, new Random(seed * 1009 + s));
            NiftiWriter.Write(Path.Combine(folder, test ? "imagesTs" : "imagesTr", name + "_0000.nii.gz"), warpedImage, NiftiDataType.Int16);
            NiftiWriter.Write(Path.Combine(folder, test ? "labelsTs" : "labelsTr", name + ".nii.gz"), warpedLabels, NiftiDataType.UInt8);
        });
        var names = new Dictionary<string, int> { ["background"] = 0 };
        for (int k = 0; k < Structures.Length; k++) names[$"neuromaps_{Structures[k]}"] = k + 1;
        var json = new
        {
            name = "INIA19Subjects",
            description = "Warped subjects of the INIA19 macaque template (T1) with NeuroMaps structures, written by tools/Experiment",
            channel_names = new Dictionary<string, string> { ["0"] = "T1" },
            labels = names,
            numTraining = subjects,
            file_ending = ".nii.gz",
        };
        File.WriteAllText(Path.Combine(folder, "dataset.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Template voxels (0.5 mm) per voxel of the subjects along each axis: 1.5 mm, so a 32×48×32 patch spans about half the brain.</summary>
    public const int Block = 3;

    /// <summary>The template at 1.5 mm (3×3×3 means; labels: the class most of the block belongs to), cropped to the brain with a 4-voxel margin.</summary>
    private static (Volume Image, Volume Labels) Template()
    {
        var t1 = NiftiReader.Read(T1);
        var atlas = NiftiReader.Read(Atlas);
        var classOf = new Dictionary<int, int>();
        for (int k = 0; k < Structures.Length; k++)
        {
            classOf[Structures[k]] = k + 1;
            classOf[Structures[k] + 1000] = k + 1;
        }
        int sx = t1.SizeX / Block, sy = t1.SizeY / Block, sz = t1.SizeZ / Block;
        var image = new float[sx * sy * sz];
        var labels = new float[sx * sy * sz];
        var votes = new int[Structures.Length + 1];
        for (int z = 0; z < sz; z++)
            for (int y = 0; y < sy; y++)
                for (int x = 0; x < sx; x++)
                {
                    double sum = 0;
                    Array.Clear(votes);
                    for (int d = 0; d < Block * Block * Block; d++)
                    {
                        int ix = Block * x + d % Block, iy = Block * y + d / Block % Block, iz = Block * z + d / (Block * Block);
                        sum += t1[ix, iy, iz];
                        votes[classOf.GetValueOrDefault((int)atlas[ix, iy, iz])]++;
                    }
                    int i = x + sx * (y + sy * z);
                    image[i] = (float)(sum / (Block * Block * Block));
                    int best = 0;
                    for (int k = 1; k < votes.Length; k++) if (votes[k] > votes[best]) best = k;
                    labels[i] = best;
                }
        // Crop to the brain's bounding box plus a margin.
        int[] lo = { sx, sy, sz }, hi = { -1, -1, -1 };
        for (int z = 0; z < sz; z++)
            for (int y = 0; y < sy; y++)
                for (int x = 0; x < sx; x++)
                    if (image[x + sx * (y + sy * z)] > 0)
                    {
                        lo[0] = Math.Min(lo[0], x); lo[1] = Math.Min(lo[1], y); lo[2] = Math.Min(lo[2], z);
                        hi[0] = Math.Max(hi[0], x); hi[1] = Math.Max(hi[1], y); hi[2] = Math.Max(hi[2], z);
                    }
        const int margin = 4;
        int[] size = new int[3], start = new int[3];
        int[] full = { sx, sy, sz };
        for (int a = 0; a < 3; a++)
        {
            start[a] = Math.Max(0, lo[a] - margin);
            size[a] = Math.Min(full[a], hi[a] + margin + 1) - start[a];
        }
        var croppedImage = new float[size[0] * size[1] * size[2]];
        var croppedLabels = new float[croppedImage.Length];
        for (int z = 0; z < size[2]; z++)
            for (int y = 0; y < size[1]; y++)
                for (int x = 0; x < size[0]; x++)
                {
                    int from = x + start[0] + sx * (y + start[1] + sy * (z + start[2]));
                    int to = x + size[0] * (y + size[1] * z);
                    croppedImage[to] = image[from];
                    croppedLabels[to] = labels[from];
                }
        var affine = Affine.Scaling(0.5 * Block, 0.5 * Block, 0.5 * Block);
        return (new Volume(size[0], size[1], size[2], croppedImage, affine), new Volume(size[0], size[1], size[2], croppedLabels, affine));
    }

    /// <summary>One subject: the template warped (image trilinear, labels nearest) and its intensities changed.</summary>
    private static (Volume Image, Volume Labels) Subject(Volume image, Volume labels, Random rng)
    {
        double U(double a, double b) => a + rng.NextDouble() * (b - a);
        int sx = image.SizeX, sy = image.SizeY, sz = image.SizeZ;
        double[] centre = { (sx - 1) / 2.0, (sy - 1) / 2.0, (sz - 1) / 2.0 };
        // Output → template: a rotation of up to 10° about each axis, a scale of 0.9–1.1 per axis, a shift of up to 3 voxels.
        var m = Rotation(U(-0.17, 0.17), U(-0.17, 0.17), U(-0.17, 0.17));
        double[] scale = { U(0.9, 1.1), U(0.9, 1.1), U(0.9, 1.1) };
        double[] shift = { U(-3, 3), U(-3, 3), U(-3, 3) };
        // A coarse elastic field: up to 2 voxels, a node every 12 voxels.
        const int spacing = 12;
        int nx = sx / spacing + 2, ny = sy / spacing + 2, nz = sz / spacing + 2;
        var field = new double[nx * ny * nz * 3];
        for (int i = 0; i < field.Length; i++) field[i] = U(-2, 2);
        double gain = U(0.7, 1.12); // 1.6× between the darkest and brightest subject
        double[] biasDirection = { U(-1, 1), U(-1, 1), U(-1, 1) };
        double biasStrength = U(0, 0.15);
        double noise = 0.02;
        var outImage = new float[image.Voxels.Length];
        var outLabels = new float[image.Voxels.Length];
        var noiseRng = new Random(rng.Next());
        for (int z = 0; z < sz; z++)
            for (int y = 0; y < sy; y++)
                for (int x = 0; x < sx; x++)
                {
                    double ox = x - centre[0], oy = y - centre[1], oz = z - centre[2];
                    var (ex, ey, ez) = Elastic(field, nx, ny, (double)x / spacing, (double)y / spacing, (double)z / spacing);
                    double px = (m[0] * ox + m[1] * oy + m[2] * oz) * scale[0] + centre[0] + shift[0] + ex;
                    double py = (m[3] * ox + m[4] * oy + m[5] * oz) * scale[1] + centre[1] + shift[1] + ey;
                    double pz = (m[6] * ox + m[7] * oy + m[8] * oz) * scale[2] + centre[2] + shift[2] + ez;
                    int i = x + sx * (y + sy * z);
                    double value = Trilinear(image, px, py, pz);
                    if (value > 0)
                    {
                        double bias = 1 + biasStrength * (biasDirection[0] * ox / sx + biasDirection[1] * oy / sy + biasDirection[2] * oz / sz);
                        value = value * gain * bias + noise * 100 * Gaussian(noiseRng);
                    }
                    outImage[i] = (float)Math.Max(0, Math.Round(value));
                    int rx = (int)Math.Round(px), ry = (int)Math.Round(py), rz = (int)Math.Round(pz);
                    outLabels[i] = rx >= 0 && rx < sx && ry >= 0 && ry < sy && rz >= 0 && rz < sz ? labels[rx, ry, rz] : 0;
                }
        return (image.WithVoxels(outImage), labels.WithVoxels(outLabels));
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static double[] Rotation(double a, double b, double c) =>
        RotationMatrix.Multiply(RotationMatrix.Multiply(RotationMatrix.About(0, a), RotationMatrix.About(1, b)), RotationMatrix.About(2, c));

    private static (double, double, double) Elastic(double[] field, int nx, int ny, double gx, double gy, double gz)
    {
        int x0 = (int)gx, y0 = (int)gy, z0 = (int)gz;
        double fx = gx - x0, fy = gy - y0, fz = gz - z0;
        double rx = 0, ry = 0, rz = 0;
        for (int d = 0; d < 8; d++)
        {
            int dx = d & 1, dy = d >> 1 & 1, dz = d >> 2;
            double w = (dx == 0 ? 1 - fx : fx) * (dy == 0 ? 1 - fy : fy) * (dz == 0 ? 1 - fz : fz);
            int node = ((x0 + dx) + nx * ((y0 + dy) + ny * (z0 + dz))) * 3;
            rx += w * field[node];
            ry += w * field[node + 1];
            rz += w * field[node + 2];
        }
        return (rx, ry, rz);
    }

    private static double Trilinear(Volume v, double x, double y, double z)
    {
        int x0 = (int)Math.Floor(x), y0 = (int)Math.Floor(y), z0 = (int)Math.Floor(z);
        double fx = x - x0, fy = y - y0, fz = z - z0, sum = 0;
        for (int d = 0; d < 8; d++)
        {
            int ix = x0 + (d & 1), iy = y0 + (d >> 1 & 1), iz = z0 + (d >> 2);
            if (ix < 0 || ix >= v.SizeX || iy < 0 || iy >= v.SizeY || iz < 0 || iz >= v.SizeZ) continue;
            sum += ((d & 1) == 0 ? 1 - fx : fx) * ((d >> 1 & 1) == 0 ? 1 - fy : fy) * ((d >> 2) == 0 ? 1 - fz : fz) * v[ix, iy, iz];
        }
        return sum;
    }

    /// <summary>Voxel share of each structure in a label map (for the report).</summary>
    public static string Shares(string labelPath)
    {
        var v = NiftiReader.Read(labelPath).Voxels;
        return string.Join(", ", Enumerable.Range(1, Structures.Length)
            .Select(k => $"{Structures[k - 1]}: {100.0 * v.Count(x => x == k) / v.Length:F2}%".ToString(CultureInfo.InvariantCulture)));
    }
}
