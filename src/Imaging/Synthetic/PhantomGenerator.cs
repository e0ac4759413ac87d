using System.Text.Json;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Imaging.Synthetic;

/// <summary>Settings of <see cref="PhantomGenerator"/>.</summary>
public sealed record PhantomOptions
{
    /// <summary>Label classes including background (2 to 14).</summary>
    public int Classes { get; init; } = 6;

    /// <summary>Background and the 13 organ templates.</summary>
    public const int MaxClasses = 14;

    /// <summary>Voxel grid (x, y, z) before spacing jitter.</summary>
    public (int X, int Y, int Z) Size { get; init; } = (64, 64, 40);

    /// <summary>Random header orientation (axis flips and in-plane permutation) per case.</summary>
    public bool RandomOrientation { get; init; } = true;

    /// <summary>
    /// Fixed voxel spacing in mm (x, y, z), e.g. a clinical CT's 0.78×0.78×1.5 on 512×512×300: the
    /// body then lies in a field of view mostly of air, as in a scanner. Null: the grid spans the
    /// body (about 210×170×110 mm) with the spacing jittered by ±15 % per case.
    /// </summary>
    public Vector3d? SpacingMm { get; init; }

    public void Validate()
    {
        if (SpacingMm is { } s && !(s.X > 0 && s.Y > 0 && s.Z > 0 && s.X <= 20 && s.Y <= 20 && s.Z <= 20))
            throw new ArgumentException($"spacing {s} mm must be positive and at most 20 mm");
        if (Classes is < 2 or > MaxClasses) throw new ArgumentException($"classes must be 2..{MaxClasses}, got {Classes}");
        if (Size.X < 16 || Size.Y < 16 || Size.Z < 8) throw new ArgumentException($"size {Size} is too small for a phantom");
    }
}

/// <summary>
/// Synthetic abdominal-CT-like phantoms for tests and demos: a body of soft tissue in air with
/// organs of very different sizes (a large one, medium ones, small ones), each a smoothly and
/// randomly deformed ellipsoid at a jittered position, with organ-specific intensities that
/// overlap, Gaussian noise and a smooth bias field. Spacing and header orientation vary per case;
/// the anatomy is defined in world millimetres, so every orientation shows the same body.
/// </summary>
public sealed class PhantomGenerator
{
    private readonly PhantomOptions _options;

    // Organ templates in world mm (centre, semi-axes) and mean HU; the first is the largest.
    private static readonly (double X, double Y, double Z, double Rx, double Ry, double Rz, double Hu)[] Organs =
    {
        (-35, 10, 0, 45, 35, 30, 60),     // large ("liver")
        (35, 15, 5, 22, 18, 18, 45),      // medium ("spleen")
        (-25, -20, -15, 12, 10, 18, 30),  // medium ("kidney")
        (28, -22, -15, 12, 10, 18, 30),   // medium ("kidney")
        (0, 25, 10, 6, 5, 5, 10),         // small ("gallbladder"-like)
        (10, -5, 15, 5, 4, 8, 40),        // small ("adrenal"-like)
        (0, -30, 0, 8, 8, 35, 160),       // tubular ("aorta")
        (-5, 5, -10, 20, 8, 6, 50),       // elongated ("pancreas")
        (20, 30, -5, 14, 10, 9, 25),      // medium ("stomach")
        (-45, -10, 20, 7, 6, 6, 70),      // small
        (15, 5, -25, 9, 7, 5, 35),        // small
        (-10, 30, -20, 10, 6, 7, 55),     // small
        (40, -5, 25, 6, 6, 10, 65),       // small
    };

    public PhantomGenerator(PhantomOptions options)
    {
        options.Validate();
        _options = options;
    }

    /// <summary>One case: image (HU) and label map on the same grid.</summary>
    public (Volume Image, Volume Label) Generate(int seed)
    {
        var rng = new Random(seed);
        var (sx, sy, sz) = _options.Size;
        // Field of view about 210 x 170 x 110 mm (the body and every organ), spacing jittered by ±15%;
        // or the spacing asked for (the jitter draws are made either way: a case's anatomy stays the same).
        var jittered = new Vector3d((0.85 + 0.3 * rng.NextDouble()) * 210.0 / sx,
                                    (0.85 + 0.3 * rng.NextDouble()) * 170.0 / sy,
                                    (0.85 + 0.3 * rng.NextDouble()) * 110.0 / sz);
        var spacing = _options.SpacingMm ?? jittered;
        var affine = RandomAffine(rng, spacing, sx, sy, sz);

        int organs = _options.Classes - 1;
        var shapes = Enumerable.Range(0, organs).Select(i => new DeformedEllipsoid(Organs[i], rng)).ToArray();
        var intensityShift = Enumerable.Range(0, organs).Select(_ => rng.NextDouble() * 20 - 10).ToArray();
        var bias = new BiasField(rng);
        double noise = 12 + rng.NextDouble() * 8;
        double bodyRx = 95 + rng.NextDouble() * 10, bodyRy = 70 + rng.NextDouble() * 8;

        var image = new float[(long)sx * sy * sz];
        var label = new float[image.Length];
        Parallel.For(0, sz, z =>
        {
            var local = new Random(seed * 7919 + z);
            for (int y = 0; y < sy; y++)
                for (int x = 0; x < sx; x++)
                {
                    var w = affine.Apply(x, y, z);
                    long i = x + (long)sx * (y + (long)sy * z);
                    double body = (w.X * w.X) / (bodyRx * bodyRx) + (w.Y * w.Y) / (bodyRy * bodyRy);
                    double hu = body <= 1 ? -80 + 40 * Math.Exp(-body * 3) : -1000;
                    int cls = 0;
                    if (body <= 1)
                        for (int o = 0; o < organs; o++)
                            if (shapes[o].Contains(w))
                            {
                                cls = o + 1;
                                hu = Organs[o].Hu + intensityShift[o];
                            }
                    hu = hu * bias.At(w) + Gaussian(local) * noise;
                    image[i] = (float)hu;
                    label[i] = cls;
                }
        });
        return (new Volume(sx, sy, sz, image, affine), new Volume(sx, sy, sz, label, affine));
    }

    /// <summary>
    /// Writes an MSD / nnU-Net dataset: imagesTr/&lt;case&gt;_0000.nii.gz for every training case,
    /// labelsTr/&lt;case&gt;.nii.gz for the first <paramref name="labeled"/>, imagesTs (+ labelsTs) for
    /// the test cases, and dataset.json.
    /// </summary>
    public void WriteDataset(string folder, int trainingCases, int labeled, int testCases, int seed)
    {
        if (labeled < 0 || labeled > trainingCases) throw new ArgumentException($"labeled {labeled} must be within 0..{trainingCases}");
        foreach (string sub in new[] { "imagesTr", "labelsTr", "imagesTs", "labelsTs" }) Directory.CreateDirectory(Path.Combine(folder, sub));
        for (int c = 0; c < trainingCases + testCases; c++)
        {
            bool test = c >= trainingCases;
            string name = test ? $"phantom_ts{c - trainingCases:D3}" : $"phantom_{c:D3}";
            var (image, label) = Generate(seed * 100_003 + c);
            NiftiWriter.Write(Path.Combine(folder, test ? "imagesTs" : "imagesTr", name + "_0000.nii.gz"), image, NiftiDataType.Int16);
            if (test || c < labeled)
                NiftiWriter.Write(Path.Combine(folder, test ? "labelsTs" : "labelsTr", name + ".nii.gz"), label, NiftiDataType.UInt8);
        }
        var labels = new Dictionary<string, int> { ["background"] = 0 };
        string[] names = { "large", "medium_a", "medium_b", "medium_c", "small_a", "small_b", "tube", "elongated", "medium_d", "small_c", "small_d", "small_e", "small_f" };
        for (int k = 1; k < _options.Classes; k++) labels[names[k - 1]] = k;
        var json = new
        {
            name = "GuidedNetPhantoms",
            description = "Synthetic abdominal-CT-like phantoms written by guidednet synth",
            channel_names = new Dictionary<string, string> { ["0"] = "CT" },
            labels,
            numTraining = trainingCases,
            numLabeled = labeled,
            numTest = testCases,
            file_ending = ".nii.gz",
        };
        File.WriteAllText(Path.Combine(folder, "dataset.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
    }

    private Affine RandomAffine(Random rng, Vector3d spacing, int sx, int sy, int sz)
    {
        // Axis directions: identity, or flips and an x/y swap, centred on the world origin.
        int[] perm = { 0, 1, 2 };
        double[] sign = { 1, 1, 1 };
        if (_options.RandomOrientation)
        {
            if (rng.Next(2) == 1) (perm[0], perm[1]) = (perm[1], perm[0]);
            for (int a = 0; a < 3; a++) sign[a] = rng.Next(2) == 1 ? -1 : 1;
        }
        double[] step = { spacing.X, spacing.Y, spacing.Z };
        int[] size = { sx, sy, sz };
        var m = new double[4, 4];
        m[3, 3] = 1;
        for (int a = 0; a < 3; a++)
        {
            int world = perm[a];
            m[world, a] = sign[a] * step[a];
            m[world, 3] = -sign[a] * step[a] * (size[a] - 1) / 2.0 + (rng.NextDouble() - 0.5) * 6;
        }
        return new Affine(m);
    }

    private static double Gaussian(Random rng)
    {
        double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>An ellipsoid whose radius varies smoothly with direction (random low-order harmonics).</summary>
    private sealed class DeformedEllipsoid
    {
        private readonly double _cx, _cy, _cz, _rx, _ry, _rz;
        private readonly double[] _a = new double[6];

        public DeformedEllipsoid((double X, double Y, double Z, double Rx, double Ry, double Rz, double Hu) t, Random rng)
        {
            double scale = 0.85 + 0.3 * rng.NextDouble();
            _cx = t.X + (rng.NextDouble() - 0.5) * 10;
            _cy = t.Y + (rng.NextDouble() - 0.5) * 10;
            _cz = t.Z + (rng.NextDouble() - 0.5) * 10;
            _rx = t.Rx * scale * (0.9 + 0.2 * rng.NextDouble());
            _ry = t.Ry * scale * (0.9 + 0.2 * rng.NextDouble());
            _rz = t.Rz * scale * (0.9 + 0.2 * rng.NextDouble());
            for (int i = 0; i < _a.Length; i++) _a[i] = (rng.NextDouble() - 0.5) * 0.3;
        }

        public bool Contains(Vector3d w)
        {
            double dx = (w.X - _cx) / _rx, dy = (w.Y - _cy) / _ry, dz = (w.Z - _cz) / _rz;
            double r = Math.Sqrt(dx * dx + dy * dy + dz * dz);
            if (r > 1.5) return false;
            double theta = Math.Atan2(dy, dx), phi = r > 0 ? Math.Acos(Math.Clamp(dz / r, -1, 1)) : 0;
            double radius = 1 + _a[0] * Math.Cos(2 * theta) + _a[1] * Math.Sin(3 * theta) + _a[2] * Math.Cos(2 * phi)
                            + _a[3] * Math.Sin(theta + phi) + _a[4] * Math.Cos(3 * phi) + _a[5] * Math.Sin(2 * theta) * Math.Sin(phi);
            return r <= radius;
        }
    }

    /// <summary>A smooth multiplicative field around 1 (scanner inhomogeneity).</summary>
    private sealed class BiasField(Random rng)
    {
        private readonly double _ax = (rng.NextDouble() - 0.5) * 0.004, _ay = (rng.NextDouble() - 0.5) * 0.004, _az = (rng.NextDouble() - 0.5) * 0.004;
        private readonly double _q = (rng.NextDouble() - 0.5) * 0.00002;

        public double At(Vector3d w) => 1 + _ax * w.X + _ay * w.Y + _az * w.Z + _q * (w.X * w.X - w.Y * w.Y);
    }
}
