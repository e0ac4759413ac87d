namespace GuidedNet.Imaging.Geometry;

/// <summary>
/// A permutation and flips of the voxel axes — no interpolation, so it is exactly invertible.
/// <see cref="ToCanonical"/> builds the one that brings a volume to RAS+ (i → right,
/// j → anterior, k → superior), the orientation the reference's FLARE22 script produces
/// (README §6 step 1 is one case of it).
/// </summary>
public sealed class AxisReorientation
{
    /// <param name="sourceAxis">For each new axis, the source axis it reads from.</param>
    /// <param name="flip">For each new axis, whether it runs opposite to its source axis.</param>
    public AxisReorientation(int[] sourceAxis, bool[] flip)
    {
        if (sourceAxis.Length != 3 || flip.Length != 3 || sourceAxis.Distinct().Count() != 3 || sourceAxis.Any(a => a is < 0 or > 2))
            throw new ArgumentException("a reorientation is a permutation of the three axes");
        SourceAxis = (int[])sourceAxis.Clone();
        Flip = (bool[])flip.Clone();
    }

    public int[] SourceAxis { get; }
    public bool[] Flip { get; }

    public bool IsIdentity => SourceAxis.SequenceEqual(new[] { 0, 1, 2 }) && !Flip.Any(f => f);

    /// <summary>
    /// Assigns each voxel axis to the world axis its direction is closest to, strongest first,
    /// so oblique scans get the nearest axis-aligned orientation.
    /// </summary>
    public static AxisReorientation ToCanonical(Affine affine)
    {
        var spacing = affine.Spacing;
        var cosines = new double[3, 3]; // [world axis, voxel axis]
        for (int w = 0; w < 3; w++)
            for (int v = 0; v < 3; v++)
                cosines[w, v] = affine[w, v] / spacing[v];

        var sourceAxis = new int[3];
        var flip = new bool[3];
        var usedWorld = new bool[3];
        var usedVoxel = new bool[3];
        for (int step = 0; step < 3; step++)
        {
            int bestW = -1, bestV = -1;
            double best = -1;
            for (int w = 0; w < 3; w++)
                for (int v = 0; v < 3; v++)
                    if (!usedWorld[w] && !usedVoxel[v] && Math.Abs(cosines[w, v]) > best)
                    {
                        best = Math.Abs(cosines[w, v]);
                        bestW = w;
                        bestV = v;
                    }
            usedWorld[bestW] = usedVoxel[bestV] = true;
            sourceAxis[bestW] = bestV;
            flip[bestW] = cosines[bestW, bestV] < 0;
        }
        return new AxisReorientation(sourceAxis, flip);
    }

    /// <summary>The reorientation that undoes this one.</summary>
    public AxisReorientation Inverse()
    {
        var sourceAxis = new int[3];
        var flip = new bool[3];
        for (int n = 0; n < 3; n++)
        {
            sourceAxis[SourceAxis[n]] = n;
            flip[SourceAxis[n]] = Flip[n];
        }
        return new AxisReorientation(sourceAxis, flip);
    }

    public Volume Apply(Volume source)
    {
        if (IsIdentity) return source;
        int[] srcSize = { source.SizeX, source.SizeY, source.SizeZ };
        int[] size = { srcSize[SourceAxis[0]], srcSize[SourceAxis[1]], srcSize[SourceAxis[2]] };
        long[] srcStride = { 1, source.SizeX, (long)source.SizeX * source.SizeY };

        // Source offset of new index n along new axis a: stride * (flip ? size-1-n : n).
        long baseOffset = 0;
        long[] step = new long[3];
        for (int a = 0; a < 3; a++)
        {
            long stride = srcStride[SourceAxis[a]];
            step[a] = Flip[a] ? -stride : stride;
            if (Flip[a]) baseOffset += stride * (size[a] - 1);
        }

        var src = source.Voxels;
        var dst = new float[source.VoxelCount];
        Parallel.For(0, size[2], z =>
        {
            long o = baseOffset + step[2] * z;
            long d = (long)z * size[0] * size[1];
            for (int y = 0; y < size[1]; y++)
            {
                long oy = o + step[1] * y;
                for (int x = 0; x < size[0]; x++) dst[d++] = src[oy + step[0] * x];
            }
        });
        return new Volume(size[0], size[1], size[2], dst, TransformAffine(source.Affine, srcSize), source.SourceHeader);
    }

    /// <summary>The affine of the reoriented grid: world(new index) = world(old index(new index)).</summary>
    public Affine TransformAffine(Affine source, int[] sourceSize)
    {
        // old index = P * new index + t, as a 4x4 matrix.
        var m = new double[4, 4];
        m[3, 3] = 1;
        for (int a = 0; a < 3; a++)
        {
            int s = SourceAxis[a];
            m[s, a] = Flip[a] ? -1 : 1;
            m[s, 3] = Flip[a] ? sourceSize[s] - 1 : 0;
        }
        return source.Multiply(new Affine(m));
    }
}
