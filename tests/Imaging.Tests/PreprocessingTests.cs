using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Preprocessing;
using GuidedNet.TestSupport;

namespace GuidedNet.Imaging.Tests;

public class PreprocessingTests
{
    [Fact]
    public void Flare22_normalisation_clips_then_standardises()
    {
        var n = PreprocessingPlan.Flare22.Normalization!;
        var result = n.Apply(new[] { -1000f, -22f, 214.68231f, 325f, 2000f });
        Assert.Equal((-22 - 214.68231) / 100.240135, result[0], 5);
        Assert.Equal(result[0], result[1]);
        Assert.Equal(0, result[2], 5);
        Assert.Equal((325 - 214.68231) / 100.240135, result[3], 5);
        Assert.Equal(result[3], result[4]);
    }

    [Fact]
    public void Statistics_come_from_labeled_foreground_only()
    {
        var image = new Volume(10, 1, 1, new[] { -1000f, 0, 1, 2, 3, 4, 5, 6, 7, 1000 }, Affine.Identity);
        var label = new Volume(10, 1, 1, new[] { 0f, 1, 1, 1, 2, 2, 2, 1, 1, 0 }, Affine.Identity);
        var stats = IntensityNormalization.FromLabeledForeground(new[] { (image, label) });
        Assert.Equal(3.5, stats.Mean, 10);
        Assert.Equal(Math.Sqrt(5.25), stats.StandardDeviation, 10);
        Assert.Equal(0.035, stats.ClipLow, 10);   // numpy.percentile(0..7, 0.5)
        Assert.Equal(6.965, stats.ClipHigh, 10);  // numpy.percentile(0..7, 99.5)
    }

    [Fact]
    public void Prediction_in_model_grid_maps_back_onto_the_scans_own_grid_and_affine()
    {
        // A flipped, permuted scan at 0.7 × 0.9 × 3 mm; the FLARE22 plan reorients and resamples it.
        var affine = new Affine(new double[,] { { 0, 0, -0.7, 40 }, { 0.9, 0, 0, -30 }, { 0, -3, 0, 100 }, { 0, 0, 0, 1 } });
        int sx = 40, sy = 12, sz = 50;
        var labels = new float[sx * sy * sz];
        for (int z = 0; z < sz; z++)
            for (int y = 0; y < sy; y++)
                for (int x = 0; x < sx; x++)
                {
                    var w = affine.Apply(x, y, z);
                    double r = Math.Sqrt(Math.Pow(w.X - 25, 2) + Math.Pow(w.Y + 10, 2) + Math.Pow(w.Z - 80, 2));
                    labels[x + sx * (y + sy * z)] = r < 8 ? 2 : r < 14 ? 1 : 0;
                }
        var scan = new Volume(sx, sy, sz, labels.Select(v => v * 100f).ToArray(), affine);
        var labelVolume = scan.WithVoxels(labels);

        var pre = new CasePreprocessor(PreprocessingPlan.Flare22);
        var prepared = pre.Prepare(scan);
        var modelGridLabels = pre.PrepareLabels(labelVolume);
        Assert.True(prepared.Image.SameGrid(modelGridLabels));
        Assert.Equal(1.22250766, prepared.Image.Spacing.X, 1);
        Assert.True(prepared.Image.Affine[0, 0] > 0 && prepared.Image.Affine[1, 1] > 0 && prepared.Image.Affine[2, 2] > 0);

        var restored = prepared.LabelsToOriginal(modelGridLabels.Voxels);
        Assert.True(restored.SameGrid(scan));
        Assert.True(restored.Affine.ApproximatelyEquals(affine, 0));
        long agree = 0, foreground = 0, overlap = 0, restoredForeground = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] == restored.Voxels[i]) agree++;
            if (labels[i] > 0) foreground++;
            if (restored.Voxels[i] > 0) restoredForeground++;
            if (labels[i] > 0 && restored.Voxels[i] > 0) overlap++;
        }
        Assert.True(agree > 0.97 * labels.Length, $"only {agree} of {labels.Length} voxels agree");
        Assert.True(2.0 * overlap / (foreground + restoredForeground) > 0.95);
    }

    [Fact]
    public void Raw_plan_leaves_the_stored_array_untouched()
    {
        var scan = NiftiReader.Read(Reference.File("nifti/ct_int16_scaled.nii.gz"));
        var prepared = new CasePreprocessor(PreprocessingPlan.Raw).Prepare(scan);
        Assert.Same(scan.Voxels, prepared.Image.Voxels);
        var restored = prepared.LabelsToOriginal(scan.Voxels);
        Assert.Equal(scan.Voxels, restored.Voxels);
    }
}
