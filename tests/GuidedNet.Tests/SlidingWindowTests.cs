using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Imaging.Numpy;
using GuidedNet.TestSupport;
using static TorchSharp.torch;

namespace GuidedNet.Tests;

public class SlidingWindowTests
{
    private static SlidingWindowOptions ReferenceOptions() => new()
    {
        Patch = new[] { 16, 32, 32 },
        Stride = new[] { 8, 16, 16 },
    };

    [Fact]
    public void Uniform_averaging_reproduces_the_reference_scores_and_labels()
    {
        using var model = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        var volume = Reference.Npy("sw_volume");
        var expectedScores = Reference.Npy("sw_scores");
        var expectedLabels = Reference.Npy("sw_labels").AsInt();
        var predictor = new SlidingWindowPredictor(model.Network, CPU, ReferenceOptions());
        var result = predictor.Predict(volume.AsFloat(), (int)volume.Shape[0], (int)volume.Shape[1], (int)volume.Shape[2], keepScores: true);

        Assert.Equal(expectedScores.Count, result.Scores!.LongLength);
        double maxError = 0;
        for (long i = 0; i < expectedScores.Count; i++) maxError = Math.Max(maxError, Math.Abs(result.Scores[i] - expectedScores.Values[i]));
        Assert.True(maxError <= 1e-4, $"scores differ by up to {maxError}");
        Assert.Equal(expectedLabels, result.Labels.Select(b => (int)b).ToArray());
        // 24x40x50 with patch 16x32x32 and strides 8/16/16: 2 x 2 x 3 windows.
        Assert.Equal(12, result.Windows);
    }

    [Fact]
    public void Window_starts_clamp_the_last_window_to_the_end()
    {
        Assert.Equal(new[] { 0, 8 }, SlidingWindowPredictor.WindowStarts(24, 16, 8));
        Assert.Equal(new[] { 0, 16, 18 }, SlidingWindowPredictor.WindowStarts(50, 32, 16));
        Assert.Equal(new[] { 0, 16 }, SlidingWindowPredictor.WindowStarts(80, 64, 32));
        Assert.Equal(new[] { 0 }, SlidingWindowPredictor.WindowStarts(32, 32, 16));
    }

    [Fact]
    public void Volume_smaller_than_the_patch_is_padded_centred_and_cropped()
    {
        using var model = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        var full = Reference.Npy("sw_volume");
        // Take a 10 x 40 x 20 crop: smaller than the 16 x 32 x 32 patch along z and x.
        int d = 10, h = 40, w = 20;
        var crop = new float[d * h * w];
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    crop[(z * h + y) * w + x] = (float)full.Values[(z * 40 + y) * 50 + x];
        var predictor = new SlidingWindowPredictor(model.Network, CPU, ReferenceOptions());
        var result = predictor.Predict(crop, d, h, w, keepScores: true);

        // The same computed by hand: pad centred with zeros to 16 x 40 x 32 (3 before and after in z, 6 in x).
        int pd = 16, pw = 32, bz = 3, bx = 6;
        var padded = new float[pd * h * pw];
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    padded[((z + bz) * h + y) * pw + x + bx] = crop[(z * h + y) * w + x];
        var reference = predictor.Predict(padded, pd, h, pw, keepScores: true);
        int k = model.Network.NumClasses;
        for (int c = 0; c < k; c++)
            for (int z = 0; z < d; z++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        Assert.Equal(reference.Scores![((c * pd + z + bz) * h + y) * pw + x + bx], result.Scores![((c * d + z) * h + y) * w + x]);
    }

    [Fact]
    public void Gaussian_weighting_is_the_weighted_mean_of_the_single_window_predictions()
    {
        using var model = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        var volume = Reference.Npy("sw_volume");
        float[] data = volume.AsFloat();
        (int d, int h, int w) = ((int)volume.Shape[0], (int)volume.Shape[1], (int)volume.Shape[2]);
        int[] patch = { 16, 32, 32 };
        var options = ReferenceOptions();
        options.Gaussian = true;
        var gaussian = new SlidingWindowPredictor(model.Network, CPU, options).Predict(data, d, h, w, keepScores: true);
        options.WindowsPerBatch = 5;
        var batched = new SlidingWindowPredictor(model.Network, CPU, options).Predict(data, d, h, w, keepScores: true);

        // Expected: every window predicted alone (a volume the size of the patch is one window),
        // weighted by exp(-((i - (n-1)/2)^2 / (2 (n/8)^2))) per axis.
        int k = 14;
        var sum = new double[k * d * h * w];
        var weight = new double[d * h * w];
        var single = new SlidingWindowPredictor(model.Network, CPU, ReferenceOptions());
        double G(int i, int n) => Math.Exp(-0.5 * Math.Pow((i - (n - 1) / 2.0) / (n / 8.0), 2));
        foreach (int zs in SlidingWindowPredictor.WindowStarts(d, 16, 8))
            foreach (int ys in SlidingWindowPredictor.WindowStarts(h, 32, 16))
                foreach (int xs in SlidingWindowPredictor.WindowStarts(w, 32, 16))
                {
                    var crop = new float[16 * 32 * 32];
                    for (int z = 0; z < 16; z++)
                        for (int y = 0; y < 32; y++)
                            for (int x = 0; x < 32; x++)
                                crop[(z * 32 + y) * 32 + x] = data[((zs + z) * h + ys + y) * w + xs + x];
                    var p = single.Predict(crop, 16, 32, 32, keepScores: true).Scores!;
                    for (int z = 0; z < 16; z++)
                        for (int y = 0; y < 32; y++)
                            for (int x = 0; x < 32; x++)
                            {
                                double g = G(z, 16) * G(y, 32) * G(x, 32) / (G(7, 16) * G(15, 32) * G(15, 32));
                                long v = ((long)(zs + z) * h + ys + y) * w + xs + x;
                                weight[v] += g;
                                for (int c = 0; c < k; c++) sum[c * weight.Length + v] += g * p[((c * 16 + z) * 32 + y) * 32 + x];
                            }
                }
        double maxError = 0;
        for (long i = 0; i < sum.LongLength; i++)
            maxError = Math.Max(maxError, Math.Abs(sum[i] / weight[i % weight.Length] - gaussian.Scores![i]));
        Assert.True(maxError < 1e-5, $"gaussian average differs by {maxError}");
        double batchError = gaussian.Scores!.Zip(batched.Scores!).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(batchError < 1e-5, $"batched windows differ by {batchError}");
    }

    [Fact]
    public void Mirroring_tta_averages_the_eight_flipped_predictions()
    {
        using var model = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        var volume = Reference.Npy("sw_volume");
        int d = 16, h = 32, w = 32, k = 14;
        var data = new float[d * h * w];
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    data[(z * h + y) * w + x] = (float)volume.Values[(z * 40 + y) * 50 + x];
        var options = ReferenceOptions();
        options.MirrorTta = true;
        var tta = new SlidingWindowPredictor(model.Network, CPU, options).Predict(data, d, h, w, keepScores: true).Scores!;

        var plain = new SlidingWindowPredictor(model.Network, CPU, ReferenceOptions());
        var expected = new double[tta.Length];
        for (int mask = 0; mask < 8; mask++)
        {
            bool fz = (mask & 1) != 0, fy = (mask & 2) != 0, fx = (mask & 4) != 0;
            int Map(int z, int y, int x) => ((fz ? d - 1 - z : z) * h + (fy ? h - 1 - y : y)) * w + (fx ? w - 1 - x : x);
            var flipped = new float[data.Length];
            for (int z = 0; z < d; z++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        flipped[Map(z, y, x)] = data[(z * h + y) * w + x];
            var p = plain.Predict(flipped, d, h, w, keepScores: true).Scores!;
            for (int c = 0; c < k; c++)
                for (int z = 0; z < d; z++)
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++)
                            expected[c * data.Length + (z * h + y) * w + x] += p[c * data.Length + Map(z, y, x)] / 8.0;
        }
        double maxError = expected.Zip(tta).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(maxError < 1e-5, $"TTA differs from the mean of flipped predictions by {maxError}");
        AssertProbabilities(tta, k);
    }

    private static void AssertProbabilities(float[] scores, int classes)
    {
        long voxels = scores.LongLength / classes;
        for (long v = 0; v < voxels; v += 97)
        {
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += scores[c * voxels + v];
            Assert.Equal(1.0, sum, 4);
        }
    }
}
