using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Labels;

namespace GuidedNet.Imaging.Tests;

public sealed class OrganStatisticsTests
{
    // Image values x + 10y on a 10x8x6 grid of 2 x 1 x 3 mm at (10, 20, 30); organ 1 is the box x 2–4,
    // y 1–3, z 1–2 (18 voxels of values 12,13,14,22,...,34, twice each); organ 2 is the column x = 9.
    [Fact]
    public void Volume_intensities_box_and_edge_contact_match_a_hand_computation()
    {
        var affine = new Affine(new double[,] { { 2, 0, 0, 10 }, { 0, 1, 0, 20 }, { 0, 0, 3, 30 }, { 0, 0, 0, 1 } });
        var image = new Volume(10, 8, 6, new float[480], affine);
        var mask = new Volume(10, 8, 6, new float[480], affine);
        for (int z = 0; z < 6; z++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 10; x++)
                {
                    image[x, y, z] = x + 10 * y;
                    if (x is >= 2 and <= 4 && y is >= 1 and <= 3 && z is >= 1 and <= 2) mask[x, y, z] = 1;
                    if (x == 9 && y == 4 && z == 3) mask[x, y, z] = 2;
                }
        var organs = OrganStatistics.Compute(image, mask, LabelTable.FromNames(["background", "liver", "spleen", "pancreas"], 4));
        Assert.Equal(2, organs.Count);
        var liver = organs[0];
        Assert.Equal(("liver", 18L), (liver.Name, liver.Voxels));
        Assert.Equal(18 * 6 / 1000.0, liver.VolumeMl, 12);
        Assert.Equal(23, liver.IntensityMean, 12);
        Assert.Equal(Math.Sqrt(2.0 / 3 + 100 * 2.0 / 3), liver.IntensityStd, 12);
        Assert.Equal(12, liver.IntensityP5, 12);
        Assert.Equal(34, liver.IntensityP95, 12);
        Assert.Equal(new[] { 14.0, 21, 33 }, liver.BoundingBoxMinMm);
        Assert.Equal(new[] { 18.0, 23, 36 }, liver.BoundingBoxMaxMm);
        Assert.False(liver.TouchesEdge);
        Assert.Equal(("spleen", 1L, true), (organs[1].Name, organs[1].Voxels, organs[1].TouchesEdge));
        Assert.Equal(49, organs[1].IntensityP95, 12);
    }
}
