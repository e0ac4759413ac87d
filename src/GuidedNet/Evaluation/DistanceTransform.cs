namespace GuidedNet.Evaluation;

/// <summary>
/// Exact Euclidean distance transform with anisotropic spacing (Felzenszwalb &amp; Huttenlocher's
/// separable lower-envelope algorithm, one pass per axis), equal to SciPy's
/// <c>distance_transform_edt(~features, sampling=spacing)</c>.
/// </summary>
public static class DistanceTransform
{
    /// <summary>
    /// Squared distance (mm²) from every voxel to the nearest feature voxel; +∞ everywhere when
    /// there is no feature. Arrays are (z, y, x) C order; spacing is (z, y, x) in mm.
    /// </summary>
    public static double[] SquaredDistances(bool[] features, int depth, int height, int width, (double Z, double Y, double X) spacing)
    {
        var d = new double[features.LongLength];
        for (long i = 0; i < d.LongLength; i++) d[i] = features[i] ? 0 : double.PositiveInfinity;
        int[] size = { depth, height, width };
        double[] step = { spacing.Z, spacing.Y, spacing.X };
        long[] stride = { (long)height * width, width, 1 };
        for (int axis = 2; axis >= 0; axis--)
        {
            int n = size[axis];
            int a0 = axis == 0 ? 1 : 0, a1 = axis == 2 ? 1 : 2; // the other two axes
            int ax = axis, outer = size[a0], inner = size[a1];
            long s = stride[ax], s0 = stride[a0], s1 = stride[a1];
            double h = step[ax];
            Parallel.For(0, outer, () => new Scratch(n), (i, _, scratch) =>
            {
                for (int j = 0; j < inner; j++)
                {
                    long baseIndex = i * s0 + j * s1;
                    for (int k = 0; k < n; k++) scratch.F[k] = d[baseIndex + k * s];
                    LowerEnvelope(scratch, n, h);
                    for (int k = 0; k < n; k++) d[baseIndex + k * s] = scratch.Out[k];
                }
                return scratch;
            }, _ => { });
        }
        return d;
    }

    private sealed class Scratch(int n)
    {
        public readonly double[] F = new double[n];
        public readonly double[] Out = new double[n];
        public readonly int[] V = new int[n];
        public readonly double[] Z = new double[n + 1];
    }

    /// <summary>1D squared distance transform of sampled function F with sample spacing h.</summary>
    private static void LowerEnvelope(Scratch s, int n, double h)
    {
        double[] f = s.F, z = s.Z;
        int[] v = s.V;
        int k = -1;
        for (int q = 0; q < n; q++)
        {
            if (double.IsPositiveInfinity(f[q])) continue;
            double pq = q * h;
            while (k >= 0)
            {
                double pv = v[k] * h;
                double boundary = ((f[q] + pq * pq) - (f[v[k]] + pv * pv)) / (2 * pq - 2 * pv);
                if (boundary <= z[k]) k--;
                else
                {
                    k++;
                    v[k] = q;
                    z[k] = boundary;
                    z[k + 1] = double.PositiveInfinity;
                    break;
                }
            }
            if (k < 0)
            {
                k = 0;
                v[0] = q;
                z[0] = double.NegativeInfinity;
                z[1] = double.PositiveInfinity;
            }
        }
        if (k < 0)
        {
            Array.Fill(s.Out, double.PositiveInfinity, 0, n);
            return;
        }
        int j = 0;
        for (int q = 0; q < n; q++)
        {
            double pq = q * h;
            while (z[j + 1] < pq) j++;
            double diff = pq - v[j] * h;
            s.Out[q] = diff * diff + f[v[j]];
        }
    }
}
