using GuidedNet.Imaging.Preprocessing;

namespace GuidedNet.Inference;

/// <summary>A box of voxels [Z0, Z1) × [Y0, Y1) × [X0, X1) in (z, y, x) order.</summary>
public readonly record struct VoxelBox(int Z0, int Z1, int Y0, int Y1, int X0, int X1)
{
    public long Voxels => (long)(Z1 - Z0) * (Y1 - Y0) * (X1 - X0);

    /// <summary>The first voxel along axis 0 (z), 1 (y) or 2 (x).</summary>
    public int Start(int axis) => axis switch { 0 => Z0, 1 => Y0, _ => X0 };

    /// <summary>One past the last voxel along axis 0 (z), 1 (y) or 2 (x).</summary>
    public int End(int axis) => axis switch { 0 => Z1, 1 => Y1, _ => X1 };

    public override string ToString() => $"z {Z0}..{Z1}, y {Y0}..{Y1}, x {X0}..{X1}";
}

/// <summary>
/// Where the body is in a network input, so that fast mode can tile the body instead of the whole
/// field of view (a CT's is often half air, and with patches of 160 voxels every window of the
/// whole tiling touches the body: skipping windows would save nothing, tiling the box does). The body is every voxel above a threshold; its bounding box is
/// kept, so anything inside the body (lungs, bowel gas) is still predicted.
/// </summary>
public static class BodyRegion
{
    /// <summary>Air is −1000 HU, lung ≈ −850 and fat ≈ −100: anything above this is not outside air.</summary>
    public const double AirThresholdHu = -500;

    /// <summary>
    /// The threshold in the plan's normalised intensities, or null where the plan gives no
    /// meaning to intensities (then <see cref="Find"/> takes anything above the volume's minimum).
    /// For CT the threshold is −500 HU, raised to the clip floor when the plan clips above it:
    /// the network sees every intensity at or below the floor as the same value, so only voxels
    /// above it can be told from air.
    /// </summary>
    public static float? NormalizedThreshold(PreprocessingPlan plan) => plan.Normalization is { } ct
        ? (float)((Math.Max(AirThresholdHu, ct.ClipLow) - ct.Mean) / ct.StandardDeviation)
        : null;

    /// <summary>
    /// The bounding box of voxels strictly above <paramref name="threshold"/> (or above the
    /// volume's minimum when null); null when no voxel is, so that a scan of nothing but air or a
    /// constant image is predicted whole rather than assumed empty.
    /// </summary>
    /// <param name="volume">(z, y, x) C order</param>
    public static VoxelBox? Find(float[] volume, int depth, int height, int width, float? threshold)
    {
        if (volume.LongLength != (long)depth * height * width)
            throw new ArgumentException($"{volume.LongLength} voxels do not fill {depth}x{height}x{width}");
        float t = threshold ?? volume.Min();
        var boxes = new VoxelBox?[depth];
        Parallel.For(0, depth, z =>
        {
            int y0 = int.MaxValue, y1 = -1, x0 = int.MaxValue, x1 = -1;
            long plane = (long)z * height * width;
            for (int y = 0; y < height; y++)
            {
                var row = volume.AsSpan((int)(plane + (long)y * width), width);
                int first = -1, last = -1;
                for (int x = 0; x < width; x++)
                    if (row[x] > t) { first = x; break; }
                if (first < 0) continue;
                for (int x = width - 1; x >= first; x--)
                    if (row[x] > t) { last = x; break; }
                y0 = Math.Min(y0, y);
                y1 = y;
                x0 = Math.Min(x0, first);
                x1 = Math.Max(x1, last);
            }
            if (y1 >= 0) boxes[z] = new VoxelBox(z, z + 1, y0, y1 + 1, x0, x1 + 1);
        });
        VoxelBox? union = null;
        foreach (var b in boxes.OfType<VoxelBox>())
            union = union is not { } u ? b
                : new VoxelBox(Math.Min(u.Z0, b.Z0), Math.Max(u.Z1, b.Z1), Math.Min(u.Y0, b.Y0), Math.Max(u.Y1, b.Y1), Math.Min(u.X0, b.X0), Math.Max(u.X1, b.X1));
        return union;
    }
}
