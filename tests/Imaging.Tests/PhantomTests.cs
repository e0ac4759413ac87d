using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Synthetic;

namespace GuidedNet.Imaging.Tests;

/// <summary>The synthetic phantoms at a fixed, clinical spacing: that grid, the body in air, the anatomy in world millimetres.</summary>
public sealed class PhantomTests
{
    [Fact]
    public void A_fixed_spacing_gives_that_grid_with_the_body_in_a_field_of_view_of_air()
    {
        var options = new PhantomOptions { Classes = 4, Size = (128, 128, 40), RandomOrientation = false, SpacingMm = new Vector3d(2, 2, 4) };
        var (image, label) = new PhantomGenerator(options).Generate(3);
        Assert.Equal(2, image.Spacing.X, 9);
        Assert.Equal(2, image.Spacing.Y, 9);
        Assert.Equal(4, image.Spacing.Z, 9);
        Assert.True(image.Voxels[0] < -800, $"corner: {image.Voxels[0]} HU"); // 256 mm across: the corners are outside the body
        int centre = (20 * 128 + 64) * 128 + 64;
        Assert.True(image.Voxels[centre] > -300, $"centre: {image.Voxels[centre]} HU");
        // The same case at the default, body-spanning grid holds the same organs (in world mm, the
        // same seed): each class's volume agrees within the resampling error.
        var (_, spanning) = new PhantomGenerator(options with { SpacingMm = null, Size = (96, 80, 52) }).Generate(3);
        double Ml(Volume v, int k) => v.Voxels.Count(x => x == k) * v.Spacing.X * v.Spacing.Y * v.Spacing.Z / 1000;
        for (int k = 1; k < 4; k++) Assert.InRange(Ml(label, k) / Ml(spanning, k), 0.8, 1.25);
        Assert.Throws<ArgumentException>(() => new PhantomGenerator(options with { SpacingMm = new Vector3d(0, 1, 1) }));
    }
}
