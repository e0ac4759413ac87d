namespace GuidedNet.Imaging.Labels;

/// <summary>
/// What a mask says about one organ of its scan, TotalSegmentator's <c>--statistics</c> and
/// more: its size, the scan's intensities inside it (HU for CT), where it lies in world (RAS)
/// millimetres, and whether it touches the edge of the scan — then it may be cut off and its
/// volume is a lower bound.
/// </summary>
public sealed record OrganStatistics(
    int Label,
    string Name,
    long Voxels,
    double VolumeMl,
    double IntensityMean,
    double IntensityStd,
    double IntensityP5,
    double IntensityP95,
    double[] BoundingBoxMinMm,
    double[] BoundingBoxMaxMm,
    bool TouchesEdge)
{
    /// <summary>Statistics of every label of <paramref name="labels"/> present in <paramref name="mask"/> (same grid as the image).</summary>
    public static IReadOnlyList<OrganStatistics> Compute(Volume image, Volume mask, LabelTable labels)
    {
        if (!image.SameGrid(mask)) throw new ArgumentException($"the mask ({mask}) and the image ({image}) differ in size");
        var byValue = labels.Entries.ToDictionary(e => e.Value);
        var values = new Dictionary<int, List<float>>();
        var boxes = new Dictionary<int, int[]>(); // x0, x1, y0, y1, z0, z1
        for (int z = 0, i = 0; z < mask.SizeZ; z++)
            for (int y = 0; y < mask.SizeY; y++)
                for (int x = 0; x < mask.SizeX; x++, i++)
                {
                    int label = (int)mask.Voxels[i];
                    if (label == 0 || !byValue.ContainsKey(label)) continue;
                    if (!values.TryGetValue(label, out var list))
                    {
                        values[label] = list = new List<float>();
                        boxes[label] = [x, x, y, y, z, z];
                    }
                    list.Add(image.Voxels[i]);
                    var b = boxes[label];
                    b[0] = Math.Min(b[0], x); b[1] = Math.Max(b[1], x);
                    b[2] = Math.Min(b[2], y); b[3] = Math.Max(b[3], y);
                    b[4] = Math.Min(b[4], z); b[5] = Math.Max(b[5], z);
                }
        var spacing = image.Spacing;
        double voxelMl = spacing.X * spacing.Y * spacing.Z / 1000.0;
        return values.Keys.Order().Select(label =>
        {
            // Sorted in place as float: the organ's voxels are held once (a whole-body organ can be 10⁸ of them).
            var sorted = values[label];
            sorted.Sort();
            double mean = sorted.Sum(v => (double)v) / sorted.Count;
            double std = Math.Sqrt(sorted.Sum(v => (v - mean) * (v - mean)) / sorted.Count);
            var b = boxes[label];
            // The world box of the voxel centres: the extremes over the index box's eight corners.
            var corners = (from x in new[] { b[0], b[1] } from y in new[] { b[2], b[3] } from z in new[] { b[4], b[5] } select image.Affine.Apply(x, y, z)).ToList();
            double[] min = [corners.Min(c => c.X), corners.Min(c => c.Y), corners.Min(c => c.Z)];
            double[] max = [corners.Max(c => c.X), corners.Max(c => c.Y), corners.Max(c => c.Z)];
            bool edge = b[0] == 0 || b[2] == 0 || b[4] == 0 || b[1] == mask.SizeX - 1 || b[3] == mask.SizeY - 1 || b[5] == mask.SizeZ - 1;
            return new OrganStatistics(label, byValue[label].Name, sorted.Count, sorted.Count * voxelMl, mean, std,
                Statistics.Percentile(sorted, 5), Statistics.Percentile(sorted, 95), min, max, edge);
        }).ToList();
    }
}
