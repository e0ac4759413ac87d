using System.Text.Json;
using GuidedNet.Evaluation;
using GuidedNet.Imaging.Numpy;
using GuidedNet.TestSupport;

namespace GuidedNet.Tests;

public class MetricsTests
{
    [Fact]
    public void Metrics_equal_the_authors_medpy_values()
    {
        var prediction = Reference.Npy("metric_pred");
        var truth = Reference.Npy("metric_gt");
        using var manifest = JsonDocument.Parse(File.ReadAllText(Reference.File("manifest.json")));
        var m = manifest.RootElement.GetProperty("metrics");
        var spacing = m.GetProperty("spacing_zyx_mm").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var results = SegmentationMetrics.Compute(prediction.AsInt(), truth.AsInt(),
            (int)truth.Shape[0], (int)truth.Shape[1], (int)truth.Shape[2], (spacing[0], spacing[1], spacing[2]), new[] { 1, 2, 3 });

        foreach (var expected in m.GetProperty("per_class").EnumerateObject())
        {
            var actual = results.Single(r => r.Label == int.Parse(expected.Name));
            Assert.False(actual.Absent);
            Assert.Equal(expected.Value.GetProperty("dice").GetDouble(), actual.Dice!.Value, 1e-9);
            Assert.Equal(expected.Value.GetProperty("jaccard").GetDouble(), actual.Jaccard!.Value, 1e-9);
            if (expected.Value.TryGetProperty("hd95_mm", out var hd95))
            {
                Assert.Equal(hd95.GetDouble(), actual.Hd95!.Value, 1e-4);
                Assert.Equal(expected.Value.GetProperty("hd_mm").GetDouble(), actual.Hd!.Value, 1e-4);
                Assert.Equal(expected.Value.GetProperty("asd_mm").GetDouble(), actual.Asd!.Value, 1e-4);
                Assert.Equal(expected.Value.GetProperty("assd_mm").GetDouble(), actual.Assd!.Value, 1e-4);
            }
            else
            {
                Assert.Null(actual.Hd95);
                Assert.Null(actual.Asd);
            }
        }
    }

    // By hand, on one slice of 5 rows by 8 columns (every voxel of a one-slice mask is surface), spacing
    // 2 mm along x: truth at columns 1–4 of row 2; prediction at columns 2–6 of row 2, or of row 3 (1 mm off).
    // Row 2: prediction surface distances 0,0,0,2,4 mm; truth's 2,0,0,0 mm.
    // Row 3: prediction 1,1,1,√5,√17 mm; truth √5,1,1,1 mm.
    [Theory]
    [InlineData(2, 1.0, 6.0 / 9)]
    [InlineData(2, 2.0, 8.0 / 9)]
    [InlineData(2, 3.9, 8.0 / 9)]
    [InlineData(2, 4.0, 1.0)]
    [InlineData(3, 0.5, 0.0)]
    [InlineData(3, 1.0, 6.0 / 9)]
    [InlineData(3, 2.3, 8.0 / 9)]
    [InlineData(3, 4.2, 1.0)]
    public void Normalised_surface_dice_counts_the_surface_within_the_tolerance_of_the_other(int predictionRow, double toleranceMm, double expected)
    {
        var truth = new int[5 * 8];
        var prediction = new int[5 * 8];
        for (int x = 1; x <= 4; x++) truth[2 * 8 + x] = 1;
        for (int x = 2; x <= 6; x++) prediction[predictionRow * 8 + x] = 1;
        var m = SegmentationMetrics.Compute(prediction, truth, 1, 5, 8, (3, 1, 2), [1], toleranceMm)[0];
        Assert.Equal(expected, m.Nsd!.Value, 12);
    }

    [Fact]
    public void Normalised_surface_dice_is_zero_when_one_side_is_empty_and_absent_when_both_are()
    {
        var empty = new int[27];
        var one = new int[27];
        one[13] = 1;
        var r = SegmentationMetrics.Compute(empty, one, 3, 3, 3, (1, 1, 1), [1, 2]);
        Assert.Equal(0.0, r[0].Nsd);
        Assert.Null(r[1].Nsd);
        Assert.Equal(1.0, SegmentationMetrics.Compute(one, one, 3, 3, 3, (1, 1, 1), [1])[0].Nsd);
    }

    [Fact]
    public void A_class_absent_from_both_is_absent_not_zero_or_one()
    {
        var a = new int[27];
        a[13] = 1;
        var r = SegmentationMetrics.Compute(a, a, 3, 3, 3, (1, 1, 1), new[] { 1, 2 });
        Assert.Equal(1.0, r[0].Dice);
        Assert.Equal(0.0, r[0].Hd);
        Assert.True(r[1].Absent);
        Assert.Null(r[1].Dice);
    }

    [Fact]
    public void Distance_transform_is_exact_with_anisotropic_spacing()
    {
        int d = 7, h = 9, w = 11;
        var features = new bool[d * h * w];
        features[(2 * h + 3) * w + 4] = true;
        features[(6 * h + 8) * w + 0] = true;
        var squared = DistanceTransform.SquaredDistances(features, d, h, w, (2.5, 0.8, 1.3));
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double a = Math.Pow((z - 2) * 2.5, 2) + Math.Pow((y - 3) * 0.8, 2) + Math.Pow((x - 4) * 1.3, 2);
                    double b = Math.Pow((z - 6) * 2.5, 2) + Math.Pow((y - 8) * 0.8, 2) + Math.Pow(x * 1.3, 2);
                    Assert.Equal(Math.Min(a, b), squared[(z * h + y) * w + x], 9);
                }
    }
}
