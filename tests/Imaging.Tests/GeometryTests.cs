using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;

namespace GuidedNet.Imaging.Tests;

public class GeometryTests
{
    private static Volume Ramp(int x, int y, int z, Affine affine) =>
        new(x, y, z, Enumerable.Range(0, x * y * z).Select(i => (float)i).ToArray(), affine);

    [Fact]
    public void Flare_direction_is_flipped_along_x_and_z_as_the_reference_script_does()
    {
        // ITK direction (1,0,0, 0,-1,0, 0,0,-1) in LPS is NIfTI diag(-1, 1, -1) in RAS.
        var affine = new Affine(new double[,] { { -0.8, 0, 0, 100 }, { 0, 0.8, 0, -50 }, { 0, 0, -2.5, 60 }, { 0, 0, 0, 1 } });
        var volume = Ramp(4, 3, 5, affine);
        var r = AxisReorientation.ToCanonical(affine);
        Assert.Equal(new[] { 0, 1, 2 }, r.SourceAxis);
        Assert.Equal(new[] { true, false, true }, r.Flip);
        var canonical = r.Apply(volume);
        Assert.Equal(volume[3, 1, 4], canonical[0, 1, 0]);
        Assert.Equal(volume[0, 2, 0], canonical[3, 2, 4]);
        // Every voxel keeps its world position.
        for (int x = 0; x < 4; x++)
            for (int z = 0; z < 5; z++)
            {
                var expected = affine.Apply(3 - x, 1, 4 - z);
                var actual = canonical.Affine.Apply(x, 1, z);
                Assert.True(Math.Abs(expected.X - actual.X) + Math.Abs(expected.Y - actual.Y) + Math.Abs(expected.Z - actual.Z) < 1e-9);
            }
        Assert.True(canonical.Affine[0, 0] > 0 && canonical.Affine[1, 1] > 0 && canonical.Affine[2, 2] > 0);
    }

    [Fact]
    public void Permuted_oblique_axes_reorient_and_invert_exactly()
    {
        double c = Math.Cos(0.2), s = Math.Sin(0.2);
        // i runs mostly inferior, j mostly left (rotated), k mostly anterior.
        var affine = new Affine(new double[,]
        {
            { 0, -1.2 * c, 0.9 * s, 5 }, { 0, 1.2 * s, 0.9 * c, 7 }, { -3, 0, 0, 11 }, { 0, 0, 0, 1 },
        });
        var volume = Ramp(6, 5, 4, affine);
        var r = AxisReorientation.ToCanonical(affine);
        var canonical = r.Apply(volume);
        Assert.Equal((5, 4, 6), (canonical.SizeX, canonical.SizeY, canonical.SizeZ));
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 5; j++)
                for (int k = 0; k < 4; k++)
                {
                    float value = volume[i, j, k];
                    var world = affine.Apply(i, j, k);
                    // Find the voxel of the canonical volume with the same value; it must sit at the same world point.
                    int index = Array.IndexOf(canonical.Voxels, value);
                    int cx = index % 5, cy = index / 5 % 4, cz = index / 20;
                    var w2 = canonical.Affine.Apply(cx, cy, cz);
                    Assert.True(Math.Abs(world.X - w2.X) < 1e-9 && Math.Abs(world.Y - w2.Y) < 1e-9 && Math.Abs(world.Z - w2.Z) < 1e-9);
                }
        var back = r.Inverse().Apply(canonical);
        Assert.Equal(volume.Voxels, back.Voxels);
        Assert.True(back.Affine.ApproximatelyEquals(affine, 1e-12));
    }

    [Fact]
    public void New_size_follows_the_reference_rounding()
    {
        var volume = new Volume(10, 10, 7, new float[700], Affine.Scaling(0.8, 0.8, 5));
        var size = Resampler.SizeForSpacing(volume, new Vector3d(1.22250766, 1.22250766, 2.5));
        Assert.Equal((7, 7, 14), size); // round(8/1.2225)=7, round(35/2.5)=14
    }

    [Fact]
    public void Linear_resampling_reproduces_a_linear_ramp_inside_the_volume()
    {
        int n = 20;
        var voxels = new float[n * 4 * 4];
        for (int i = 0; i < voxels.Length; i++) voxels[i] = 3f * (i % n) + 1;
        var volume = new Volume(n, 4, 4, voxels, Affine.Scaling(1, 1, 1));
        var up = Resampler.ToSize(volume, 50, 4, 4, Interpolation.Linear);
        for (int o = 2; o < 48; o++)
        {
            double x = (o + 0.5) * n / 50.0 - 0.5;
            Assert.Equal(3 * x + 1, up[o, 2, 2], 4);
        }
    }

    [Fact]
    public void Cubic_spline_interpolates_samples_and_preserves_constants()
    {
        var rng = new Random(1);
        int n = 16;
        var voxels = Enumerable.Range(0, n * 3 * 3).Select(_ => (float)rng.NextDouble()).ToArray();
        var volume = new Volume(n, 3, 3, voxels, Affine.Scaling(1, 1, 1));
        // Upsampling by 3 puts output 3i+1 exactly on input sample i: an interpolating spline returns the sample.
        var up = Resampler.ToSize(volume, 3 * n, 3, 3, Interpolation.Cubic);
        for (int i = 0; i < n; i++) Assert.Equal(volume[i, 1, 1], up[3 * i + 1, 1, 1], 4);

        var flat = new Volume(n, 3, 3, Enumerable.Repeat(7.5f, n * 9).ToArray(), Affine.Scaling(1, 1, 1));
        Assert.All(Resampler.ToSize(flat, 11, 5, 2, Interpolation.Cubic).Voxels, v => Assert.Equal(7.5f, v, 4));
    }

    [Fact]
    public void Resampled_grid_covers_the_same_physical_extent()
    {
        var affine = new Affine(new double[,] { { 0.8, 0, 0, -10 }, { 0, 0.8, 0, 20 }, { 0, 0, 2, 5 }, { 0, 0, 0, 1 } });
        var volume = new Volume(10, 10, 10, new float[1000], affine);
        var r = Resampler.ToSize(volume, 20, 5, 10, Interpolation.Nearest);
        // The outer faces of the grids coincide: voxel −0.5 of both maps to the same world point.
        var a = affine.Apply(-0.5, -0.5, -0.5);
        var b = r.Affine.Apply(-0.5, -0.5, -0.5);
        Assert.Equal(a.X, b.X, 9);
        Assert.Equal(a.Y, b.Y, 9);
        Assert.Equal(a.Z, b.Z, 9);
        Assert.Equal(0.4, r.Spacing.X, 9);
        Assert.Equal(1.6, r.Spacing.Y, 9);
    }

    [Fact]
    public void Nearest_keeps_label_values()
    {
        var rng = new Random(3);
        var volume = new Volume(9, 9, 9, Enumerable.Range(0, 729).Select(_ => (float)rng.Next(0, 5)).ToArray(), Affine.Identity);
        var r = Resampler.ToSize(volume, 13, 7, 20, Interpolation.Nearest);
        Assert.All(r.Voxels, v => Assert.Contains(v, new[] { 0f, 1f, 2f, 3f, 4f }));
    }
}
