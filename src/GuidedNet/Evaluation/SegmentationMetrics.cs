namespace GuidedNet.Evaluation;

/// <summary>
/// Overlap and surface-distance metrics of one class in one case. A class absent from both
/// prediction and truth is <see cref="Absent"/> with no values (it must not count as 0 or 1);
/// distance metrics are null unless both masks are non-empty.
/// </summary>
/// <param name="Nsd">Normalised surface Dice at <see cref="SegmentationMetrics.DefaultNsdToleranceMm"/> (or the tolerance asked for).</param>
public sealed record ClassMetrics(int Label, bool Absent, double? Dice, double? Jaccard,
    double? Hd95, double? Hd, double? Asd, double? Assd, long PredictedVoxels, long TruthVoxels, double? Nsd = null);

/// <summary>
/// Dice, Jaccard, HD95, HD, ASD and ASSD in millimetres as MedPy computes them (the library the
/// authors scored with): surface voxels are a mask minus its 6-connected binary erosion (voxels on
/// the array border count as surface); distances come from an exact Euclidean distance transform
/// with voxel spacing; HD95 is the 95th percentile (linear interpolation) of both directed
/// surface-distance sets pooled; ASD is the mean distance from the prediction's surface to the
/// truth's; ASSD the mean of both directions. NSD (normalised surface Dice, Nikolov et al. 2021;
/// the second ranking metric of FLARE and AMOS) is the share of both surfaces' voxels that lie
/// within the tolerance of the other surface: (|{p ∈ S_P : d(p, S_T) ≤ τ}| + |{t ∈ S_T : d(t, S_P) ≤ τ}|) / (|S_P| + |S_T|),
/// on the same surface voxels and distances.
/// </summary>
public static class SegmentationMetrics
{
    /// <summary>NSD's tolerance unless one is given, in mm (FLARE22's).</summary>
    public const double DefaultNsdToleranceMm = 1.0;

    /// <param name="prediction">Label map in (z, y, x) C order.</param>
    /// <param name="truth">Label map of the same grid.</param>
    /// <param name="spacing">Voxel spacing (z, y, x) in mm.</param>
    /// <param name="nsdToleranceMm">NSD's tolerance τ in mm.</param>
    public static IReadOnlyList<ClassMetrics> Compute(int[] prediction, int[] truth, int depth, int height, int width,
        (double Z, double Y, double X) spacing, IEnumerable<int> labels, double nsdToleranceMm = DefaultNsdToleranceMm)
    {
        if (prediction.LongLength != truth.LongLength || prediction.LongLength != (long)depth * height * width)
            throw new ArgumentException("prediction and truth must both fill the given grid");
        if (!(nsdToleranceMm >= 0) || !double.IsFinite(nsdToleranceMm)) throw new ArgumentException($"NSD tolerance must be a finite distance ≥ 0 mm, got {nsdToleranceMm}");
        return labels.Select(label => ComputeClass(prediction, truth, depth, height, width, spacing, label, nsdToleranceMm)).ToList();
    }

    public static ClassMetrics ComputeClass(int[] prediction, int[] truth, int depth, int height, int width,
        (double Z, double Y, double X) spacing, int label, double nsdToleranceMm = DefaultNsdToleranceMm)
    {
        var grid = new Grid(depth, height, width);
        var p = new Mask(prediction, label, grid);
        var t = new Mask(truth, label, grid);
        long overlap = 0;
        for (long i = 0; i < prediction.LongLength; i++)
            if (prediction[i] == label && truth[i] == label) overlap++;

        if (p.Count == 0 && t.Count == 0) return new ClassMetrics(label, true, null, null, null, null, null, null, 0, 0);
        double dice = 2.0 * overlap / (p.Count + t.Count);
        double jaccard = (double)overlap / (p.Count + t.Count - overlap);
        if (p.Count == 0 || t.Count == 0)
            return new ClassMetrics(label, false, dice, jaccard, null, null, null, null, p.Count, t.Count, Nsd: 0);

        double[] predToTruth = SurfaceDistances(p, t, grid, spacing);
        double[] truthToPred = SurfaceDistances(t, p, grid, spacing);
        var pooled = predToTruth.Concat(truthToPred).ToArray();
        Array.Sort(pooled);
        double hd95 = Imaging.Statistics.Percentile(pooled, 95);
        double hd = Math.Max(predToTruth.Max(), truthToPred.Max());
        double asd = predToTruth.Average();
        double assd = (asd + truthToPred.Average()) / 2;
        // A small slack absorbs the square root's rounding for distances that equal τ exactly.
        double tolerance = nsdToleranceMm + 1e-9;
        double nsd = (predToTruth.Count(x => x <= tolerance) + truthToPred.Count(x => x <= tolerance)) / (double)(predToTruth.Length + truthToPred.Length);
        return new ClassMetrics(label, false, dice, jaccard, hd95, hd, asd, assd, p.Count, t.Count, nsd);
    }

    /// <summary>Distances (mm) from each surface voxel of <paramref name="from"/> to the nearest surface voxel of <paramref name="to"/>.</summary>
    private static double[] SurfaceDistances(Mask from, Mask to, Grid grid, (double Z, double Y, double X) spacing)
    {
        // Both surfaces lie inside the union of the two bounding boxes, so the transform is exact on that crop.
        var box = from.Box.Union(to.Box);
        int d = box.Z1 - box.Z0, h = box.Y1 - box.Y0, w = box.X1 - box.X0;
        var features = new bool[(long)d * h * w];
        foreach (long i in to.Surface())
        {
            var (z, y, x) = grid.Coordinates(i);
            features[((long)(z - box.Z0) * h + (y - box.Y0)) * w + (x - box.X0)] = true;
        }
        var squared = DistanceTransform.SquaredDistances(features, d, h, w, spacing);
        return from.Surface().Select(i =>
        {
            var (z, y, x) = grid.Coordinates(i);
            return Math.Sqrt(squared[((long)(z - box.Z0) * h + (y - box.Y0)) * w + (x - box.X0)]);
        }).ToArray();
    }

    private readonly record struct Grid(int Depth, int Height, int Width)
    {
        public (int Z, int Y, int X) Coordinates(long i) =>
            ((int)(i / ((long)Height * Width)), (int)(i / Width % Height), (int)(i % Width));
    }

    private readonly record struct Box(int Z0, int Z1, int Y0, int Y1, int X0, int X1)
    {
        public Box Union(Box o) => new(Math.Min(Z0, o.Z0), Math.Max(Z1, o.Z1), Math.Min(Y0, o.Y0), Math.Max(Y1, o.Y1),
            Math.Min(X0, o.X0), Math.Max(X1, o.X1));
    }

    private sealed class Mask
    {
        private readonly int[] _labels;
        private readonly int _label;
        private readonly Grid _grid;

        public Mask(int[] labels, int label, Grid grid)
        {
            _labels = labels;
            _label = label;
            _grid = grid;
            int z0 = int.MaxValue, z1 = -1, y0 = int.MaxValue, y1 = -1, x0 = int.MaxValue, x1 = -1;
            long count = 0;
            for (long i = 0; i < labels.LongLength; i++)
            {
                if (labels[i] != label) continue;
                count++;
                var (z, y, x) = grid.Coordinates(i);
                z0 = Math.Min(z0, z); z1 = Math.Max(z1, z);
                y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                x0 = Math.Min(x0, x); x1 = Math.Max(x1, x);
            }
            Count = count;
            Box = new Box(z0, z1 + 1, y0, y1 + 1, x0, x1 + 1);
        }

        public long Count { get; }
        public Box Box { get; }

        private bool Inside(int z, int y, int x) =>
            z >= 0 && y >= 0 && x >= 0 && z < _grid.Depth && y < _grid.Height && x < _grid.Width
            && _labels[((long)z * _grid.Height + y) * _grid.Width + x] == _label;

        /// <summary>Mask voxels with a 6-neighbour outside the mask or outside the array.</summary>
        public IEnumerable<long> Surface()
        {
            for (int z = Box.Z0; z < Box.Z1; z++)
                for (int y = Box.Y0; y < Box.Y1; y++)
                    for (int x = Box.X0; x < Box.X1; x++)
                    {
                        if (!Inside(z, y, x)) continue;
                        if (!Inside(z - 1, y, x) || !Inside(z + 1, y, x) || !Inside(z, y - 1, x) || !Inside(z, y + 1, x)
                            || !Inside(z, y, x - 1) || !Inside(z, y, x + 1))
                            yield return ((long)z * _grid.Height + y) * _grid.Width + x;
                    }
        }
    }
}

/// <summary>Dice alone, for validation during training (no surface distances).</summary>
public static class DiceScore
{
    /// <summary>Dice of classes 1..K−1; null where a class is absent from both maps.</summary>
    public static double?[] ByClass(byte[] prediction, byte[] truth, int numClasses)
    {
        var predicted = new long[numClasses];
        var actual = new long[numClasses];
        var overlap = new long[numClasses];
        for (long i = 0; i < prediction.LongLength; i++)
        {
            int p = prediction[i], t = truth[i];
            if (p < numClasses) predicted[p]++;
            if (t < numClasses) actual[t]++;
            if (p == t && p < numClasses) overlap[p]++;
        }
        return Enumerable.Range(1, numClasses - 1)
            .Select(k => predicted[k] + actual[k] == 0 ? (double?)null : 2.0 * overlap[k] / (predicted[k] + actual[k]))
            .ToArray();
    }
}
