using GuidedNet.Training;

namespace GuidedNet.Data.Augmentation;

/// <summary>
/// nnU-Net's spatial augmentation of one patch: a rotation about all three axes, a zoom, an
/// optional smooth elastic displacement and a mirror per axis, about the patch centre. The patch
/// is read through the transform from the case: the image with trilinear interpolation, the labels
/// with the nearest voxel, both zero outside the case, so image and labels stay aligned.
/// </summary>
public sealed class SpatialTransform
{
    /// <summary>Maps an offset from the patch centre (z, y, x) to an offset in the case, row-major 3×3.</summary>
    private readonly double[] _matrix;
    private readonly bool[] _mirror;
    private readonly ElasticField? _elastic;

    private SpatialTransform(double[] matrix, bool[] mirror, ElasticField? elastic)
    {
        _matrix = matrix;
        _mirror = mirror;
        _elastic = elastic;
    }

    public static SpatialTransform Identity { get; } = new(new double[] { 1, 0, 0, 0, 1, 0, 0, 0, 1 }, new bool[3], null);

    /// <summary>A transform drawn as <paramref name="options"/> say; every draw comes from <paramref name="rng"/>.</summary>
    public static SpatialTransform Draw(AugmentationOptions options, int[] patch, DeterministicRandom rng)
    {
        double[] m = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
        if (rng.NextDouble() < options.RotationProbability)
        {
            double max = options.MaxRotationDegrees * Math.PI / 180;
            for (int axis = 0; axis < 3; axis++) m = RotationMatrix.Multiply(m, RotationMatrix.About(axis, (2 * rng.NextDouble() - 1) * max));
        }
        if (rng.NextDouble() < options.ScaleProbability)
        {
            // A zoom of s shows a region 1/s as large: source offsets are the patch offsets divided by s.
            double s = options.MinScale + rng.NextDouble() * (options.MaxScale - options.MinScale);
            for (int i = 0; i < 9; i++) m[i] /= s;
        }
        var elastic = rng.NextDouble() < options.ElasticProbability && options.ElasticMagnitudeVoxels > 0
            ? ElasticField.Draw(patch, options.ElasticMagnitudeVoxels, rng)
            : null;
        var mirror = new bool[3];
        for (int a = 0; a < 3; a++) mirror[a] = rng.NextDouble() < options.MirrorProbability;
        return new SpatialTransform(m, mirror, elastic);
    }

    /// <summary>Where the patch voxel (z, y, x) reads from in the case, for a patch centred on <paramref name="centre"/>.</summary>
    public (double Z, double Y, double X) Source(int[] patch, double[] centre, int z, int y, int x)
    {
        // Offsets from the patch centre; a mirrored axis reads its offset reversed.
        double oz = z - (patch[0] - 1) / 2.0, oy = y - (patch[1] - 1) / 2.0, ox = x - (patch[2] - 1) / 2.0;
        if (_mirror[0]) oz = -oz;
        if (_mirror[1]) oy = -oy;
        if (_mirror[2]) ox = -ox;
        var m = _matrix;
        double sz = centre[0] + m[0] * oz + m[1] * oy + m[2] * ox;
        double sy = centre[1] + m[3] * oz + m[4] * oy + m[5] * ox;
        double sx = centre[2] + m[6] * oz + m[7] * oy + m[8] * ox;
        if (_elastic is not null)
        {
            var (dz, dy, dx) = _elastic.At(z, y, x);
            sz += dz;
            sy += dy;
            sx += dx;
        }
        return (sz, sy, sx);
    }

    /// <summary>
    /// The case's planes and rows <see cref="Apply"/> reads for this patch: every voxel's source
    /// position, widened by the trilinear neighbour (nearest rounds within it).
    /// </summary>
    public CaseRegion SourceRegion(double[] centre, int[] patch)
    {
        double zMin = double.MaxValue, zMax = double.MinValue, yMin = double.MaxValue, yMax = double.MinValue;
        for (int z = 0; z < patch[0]; z++)
            for (int y = 0; y < patch[1]; y++)
                for (int x = 0; x < patch[2]; x++)
                {
                    var (sz, sy, _) = Source(patch, centre, z, y, x);
                    zMin = Math.Min(zMin, sz);
                    zMax = Math.Max(zMax, sz);
                    yMin = Math.Min(yMin, sy);
                    yMax = Math.Max(yMax, sy);
                }
        // Far outside any case (a patch centred off the volume): an empty region, clamped before the cast.
        static int Floor(double v) => (int)Math.Clamp(Math.Floor(v), -1e6, 1e6);
        return CaseRegion.Spanning(Floor(zMin), Floor(zMax) + 1, Floor(yMin), Floor(yMax) + 1);
    }

    /// <summary>Fills the patch from the case: image [D·H·W] trilinear, labels nearest (empty span: no labels).</summary>
    public void Apply(TrainingCase c, CaseVoxels voxels, double[] centre, int[] patch, Span<float> image, Span<long> labels)
    {
        int i = 0;
        for (int z = 0; z < patch[0]; z++)
            for (int y = 0; y < patch[1]; y++)
                for (int x = 0; x < patch[2]; x++, i++)
                {
                    var (sz, sy, sx) = Source(patch, centre, z, y, x);
                    image[i] = Trilinear(c, voxels, sz, sy, sx);
                    if (!labels.IsEmpty) labels[i] = Nearest(c, voxels, sz, sy, sx);
                }
    }

    private static float Trilinear(TrainingCase c, CaseVoxels voxels, double z, double y, double x)
    {
        int z0 = (int)Math.Floor(z), y0 = (int)Math.Floor(y), x0 = (int)Math.Floor(x);
        double fz = z - z0, fy = y - y0, fx = x - x0;
        double sum = 0;
        for (int dz = 0; dz < 2; dz++)
        {
            int vz = z0 + dz;
            if (vz < 0 || vz >= c.Depth) continue;
            double wz = dz == 0 ? 1 - fz : fz;
            if (wz == 0) continue;
            for (int dy = 0; dy < 2; dy++)
            {
                int vy = y0 + dy;
                if (vy < 0 || vy >= c.Height) continue;
                double wy = dy == 0 ? 1 - fy : fy;
                if (wy == 0) continue;
                for (int dx = 0; dx < 2; dx++)
                {
                    int vx = x0 + dx;
                    if (vx < 0 || vx >= c.Width) continue;
                    double wx = dx == 0 ? 1 - fx : fx;
                    if (wx != 0) sum += wz * wy * wx * voxels.Image(vz, vy, vx);
                }
            }
        }
        return (float)sum;
    }

    private static long Nearest(TrainingCase c, CaseVoxels voxels, double z, double y, double x)
    {
        int vz = (int)Math.Round(z), vy = (int)Math.Round(y), vx = (int)Math.Round(x);
        if (vz < 0 || vz >= c.Depth || vy < 0 || vy >= c.Height || vx < 0 || vx >= c.Width) return 0;
        return voxels.Label(vz, vy, vx);
    }
}

/// <summary>Row-major 3×3 rotation matrices (for augmentation and for warping synthetic subjects).</summary>
public static class RotationMatrix
{
    /// <summary>A rotation by <paramref name="angle"/> radians about axis 0, 1 or 2 of the (z, y, x) or (x, y, z) frame it is used in.</summary>
    public static double[] About(int axis, double angle)
    {
        double c = Math.Cos(angle), s = Math.Sin(angle);
        return axis switch
        {
            0 => new[] { 1, 0, 0, 0, c, -s, 0, s, c },
            1 => new[] { c, 0, s, 0, 1, 0, -s, 0, c },
            _ => new[] { c, -s, 0, s, c, 0, 0, 0, 1 },
        };
    }

    public static double[] Multiply(double[] a, double[] b)
    {
        var r = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                r[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
        return r;
    }
}

/// <summary>
/// A smooth random displacement field over a patch: independent uniform displacements on a coarse
/// grid (a node every <see cref="Spacing"/> voxels), interpolated trilinearly, so neighbouring
/// voxels move together as in an elastic deformation.
/// </summary>
public sealed class ElasticField
{
    private const int Spacing = 8;
    private readonly int[] _nodes;
    private readonly double[] _displacement; // [nodesZ, nodesY, nodesX, 3]

    private ElasticField(int[] nodes, double[] displacement)
    {
        _nodes = nodes;
        _displacement = displacement;
    }

    public static ElasticField Draw(int[] patch, double magnitude, DeterministicRandom rng)
    {
        var nodes = patch.Select(p => p / Spacing + 2).ToArray();
        var d = new double[nodes[0] * nodes[1] * nodes[2] * 3];
        for (int i = 0; i < d.Length; i++) d[i] = (2 * rng.NextDouble() - 1) * magnitude;
        return new ElasticField(nodes, d);
    }

    public (double Z, double Y, double X) At(int z, int y, int x)
    {
        double gz = (double)z / Spacing, gy = (double)y / Spacing, gx = (double)x / Spacing;
        int z0 = (int)gz, y0 = (int)gy, x0 = (int)gx;
        double fz = gz - z0, fy = gy - y0, fx = gx - x0;
        double rz = 0, ry = 0, rx = 0;
        for (int dz = 0; dz < 2; dz++)
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++)
                {
                    double w = (dz == 0 ? 1 - fz : fz) * (dy == 0 ? 1 - fy : fy) * (dx == 0 ? 1 - fx : fx);
                    int node = (((z0 + dz) * _nodes[1] + y0 + dy) * _nodes[2] + x0 + dx) * 3;
                    rz += w * _displacement[node];
                    ry += w * _displacement[node + 1];
                    rx += w * _displacement[node + 2];
                }
        return (rz, ry, rx);
    }
}
