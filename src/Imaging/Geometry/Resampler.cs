namespace GuidedNet.Imaging.Geometry;

public enum Interpolation
{
    /// <summary>Nearest neighbour: for label maps.</summary>
    Nearest,
    /// <summary>Trilinear.</summary>
    Linear,
    /// <summary>Cubic B-spline with prefiltering (an interpolating cubic spline, like order 3 in SciPy/scikit-image).</summary>
    Cubic,
}

/// <summary>
/// Resamples a volume to a new grid size over the same physical extent, one axis at a time
/// (all three interpolators are separable). Output voxel o along an axis of n_in → n_out samples
/// the input at (o + 0.5)·n_in/n_out − 0.5 — the pixel-centre mapping scikit-image's
/// <c>resize</c> uses, which the reference's preprocessing called — with edge values repeated
/// beyond the border.
/// </summary>
public static class Resampler
{
    /// <summary>
    /// The size the reference computes for a new spacing: round(size·spacing/newSpacing), at least 1.
    /// Refused (<see cref="GeometryLimitException"/>) before anything is allocated when the spacing is
    /// outside <see cref="GeometryLimits"/> or the new grid would exceed <see cref="GeometryLimits.MaxResampledVoxels"/>.
    /// </summary>
    public static (int X, int Y, int Z) SizeForSpacing(Volume volume, Vector3d newSpacing)
    {
        var s = volume.Spacing;
        if (GeometryLimits.SpacingProblem(s) is { } problem) throw new GeometryLimitException($"{problem}: not resampled");
        double Size(int n, double from, double to) => Math.Max(1, Math.Round(n * from / to, MidpointRounding.ToEven));
        double x = Size(volume.SizeX, s.X, newSpacing.X), y = Size(volume.SizeY, s.Y, newSpacing.Y), z = Size(volume.SizeZ, s.Z, newSpacing.Z);
        if (!(x * y * z <= GeometryLimits.MaxResampledVoxels))
            throw new GeometryLimitException($"resampling {volume.SizeX}x{volume.SizeY}x{volume.SizeZ} voxels of {s} mm to {newSpacing} mm " +
                                             $"would give {x}x{y}x{z} = {x * y * z:G4} voxels, over the limit of {GeometryLimits.MaxResampledVoxels}");
        return ((int)x, (int)y, (int)z);
    }

    public static Volume ToSpacing(Volume volume, Vector3d newSpacing, Interpolation interpolation)
    {
        var (x, y, z) = SizeForSpacing(volume, newSpacing);
        return ToSize(volume, x, y, z, interpolation);
    }

    public static Volume ToSize(Volume volume, int sizeX, int sizeY, int sizeZ, Interpolation interpolation)
    {
        if (volume.SizeX == sizeX && volume.SizeY == sizeY && volume.SizeZ == sizeZ) return volume;
        int[] size = { volume.SizeX, volume.SizeY, volume.SizeZ };
        float[] data = volume.Voxels;
        int[] target = { sizeX, sizeY, sizeZ };
        for (int axis = 0; axis < 3; axis++)
        {
            if (size[axis] == target[axis]) continue;
            data = ResampleAxis(data, size, axis, target[axis], interpolation);
            size[axis] = target[axis];
        }
        return new Volume(sizeX, sizeY, sizeZ, data, ScaledAffine(volume, sizeX, sizeY, sizeZ), volume.SourceHeader);
    }

    /// <summary>
    /// The affine of the resampled grid: voxel o maps to input coordinate (o+0.5)·scale − 0.5, so
    /// the new grid covers exactly the old grid's extent.
    /// </summary>
    private static Affine ScaledAffine(Volume volume, int sx, int sy, int sz)
    {
        double[] scale = { (double)volume.SizeX / sx, (double)volume.SizeY / sy, (double)volume.SizeZ / sz };
        var m = new double[4, 4];
        m[3, 3] = 1;
        for (int a = 0; a < 3; a++)
        {
            m[a, a] = scale[a];
            m[a, 3] = 0.5 * scale[a] - 0.5;
        }
        return volume.Affine.Multiply(new Affine(m));
    }

    private static float[] ResampleAxis(float[] src, int[] size, int axis, int newLength, Interpolation interpolation)
    {
        int n = size[axis];
        long stride = axis == 0 ? 1 : axis == 1 ? size[0] : (long)size[0] * size[1];
        int[] outSize = (int[])size.Clone();
        outSize[axis] = newLength;
        long outStride = axis == 0 ? 1 : axis == 1 ? outSize[0] : (long)outSize[0] * outSize[1];
        var dst = new float[(long)outSize[0] * outSize[1] * outSize[2]];
        var kernel = Kernel.Build(n, newLength, interpolation);

        // Lines along `axis`: enumerate every combination of the other two coordinates.
        int[] others = Enumerable.Range(0, 3).Where(a => a != axis).ToArray();
        int outer = size[others[1]], inner = size[others[0]];
        long[] srcStrides = { 1, size[0], (long)size[0] * size[1] };
        long[] dstStrides = { 1, outSize[0], (long)outSize[0] * outSize[1] };

        Parallel.For(0, outer, () => (line: new double[n], coeffs: new double[n]), (b, _, buffers) =>
        {
            for (int a = 0; a < inner; a++)
            {
                long srcBase = a * srcStrides[others[0]] + b * srcStrides[others[1]];
                long dstBase = a * dstStrides[others[0]] + b * dstStrides[others[1]];
                for (int i = 0; i < n; i++) buffers.line[i] = src[srcBase + i * stride];
                double[] samples = buffers.line;
                if (interpolation == Interpolation.Cubic)
                {
                    Array.Copy(buffers.line, buffers.coeffs, n);
                    BSplinePrefilter(buffers.coeffs);
                    samples = buffers.coeffs;
                }
                for (int o = 0; o < newLength; o++)
                {
                    double v = 0;
                    int start = o * kernel.Taps;
                    for (int t = 0; t < kernel.Taps; t++) v += kernel.Weights[start + t] * samples[kernel.Indices[start + t]];
                    dst[dstBase + o * outStride] = (float)v;
                }
            }
            return buffers;
        }, _ => { });
        return dst;
    }

    /// <summary>
    /// Cubic B-spline interpolation coefficients of one line (Unser's recursive filter, pole
    /// √3−2) with mirror-symmetric boundaries.
    /// </summary>
    private static void BSplinePrefilter(double[] c)
    {
        int n = c.Length;
        if (n == 1) return;
        double z = Math.Sqrt(3) - 2;
        const double gain = 6; // (1 - z)(1 - 1/z)
        for (int i = 0; i < n; i++) c[i] *= gain;
        // Exact causal initialisation for the mirror-symmetric extension of the line.
        double zn = Math.Pow(z, n - 1);
        double sum = c[0] + zn * c[n - 1];
        double zk = z, z2n = zn * zn / z;
        for (int k = 1; k < n - 1; k++)
        {
            sum += (zk + z2n) * c[k];
            zk *= z;
            z2n /= z;
        }
        sum /= 1 - zn * zn;
        c[0] = sum;
        for (int k = 1; k < n; k++) c[k] += z * c[k - 1];
        c[n - 1] = z / (z * z - 1) * (z * c[n - 2] + c[n - 1]);
        for (int k = n - 2; k >= 0; k--) c[k] = z * (c[k + 1] - c[k]);
    }

    /// <summary>Precomputed taps (input indices and weights) for every output sample of one axis.</summary>
    private sealed class Kernel
    {
        public int Taps { get; private init; }
        public int[] Indices { get; private init; } = Array.Empty<int>();
        public double[] Weights { get; private init; } = Array.Empty<double>();

        public static Kernel Build(int n, int newLength, Interpolation interpolation)
        {
            int taps = interpolation switch { Interpolation.Nearest => 1, Interpolation.Linear => 2, _ => 4 };
            var indices = new int[newLength * taps];
            var weights = new double[newLength * taps];
            double scale = (double)n / newLength;
            for (int o = 0; o < newLength; o++)
            {
                // Edge mode: positions outside the grid take the border value.
                double x = Math.Clamp((o + 0.5) * scale - 0.5, 0, n - 1);
                int at = o * taps;
                switch (interpolation)
                {
                    case Interpolation.Nearest:
                        indices[at] = Math.Clamp((int)Math.Round(x, MidpointRounding.AwayFromZero), 0, n - 1);
                        weights[at] = 1;
                        break;
                    case Interpolation.Linear:
                    {
                        int i0 = (int)Math.Floor(x);
                        double f = x - i0;
                        indices[at] = i0;
                        indices[at + 1] = Math.Min(i0 + 1, n - 1);
                        weights[at] = 1 - f;
                        weights[at + 1] = f;
                        break;
                    }
                    default:
                    {
                        int i1 = (int)Math.Floor(x);
                        double f = x - i1;
                        // Cubic B-spline basis at distances 1+f, f, 1-f, 2-f.
                        double[] w =
                        {
                            (1 - f) * (1 - f) * (1 - f) / 6,
                            (3 * f * f * f - 6 * f * f + 4) / 6,
                            (-3 * f * f * f + 3 * f * f + 3 * f + 1) / 6,
                            f * f * f / 6,
                        };
                        for (int t = 0; t < 4; t++)
                        {
                            indices[at + t] = Mirror(i1 - 1 + t, n);
                            weights[at + t] = w[t];
                        }
                        break;
                    }
                }
            }
            return new Kernel { Taps = taps, Indices = indices, Weights = weights };
        }

        private static int Mirror(int i, int n)
        {
            if (n == 1) return 0;
            int period = 2 * (n - 1);
            i = ((i % period) + period) % period;
            return i < n ? i : period - i;
        }
    }
}
