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
