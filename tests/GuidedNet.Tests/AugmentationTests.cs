using GuidedNet.Data;
using GuidedNet.Data.Augmentation;
using GuidedNet.Training;

namespace GuidedNet.Tests;

public class AugmentationTests
{
    private static readonly int[] Patch = { 32, 32, 32 };

    /// <summary>
    /// 48³ voxels, one off-centre box of class 1 (z 10–21, y 14–29, x 20–27). The image is textured
    /// so intensity transforms have something to change: 0.6–1.0 inside the box, 0–0.2 outside.
    /// </summary>
    private static TrainingCase Box()
    {
        const int n = 48;
        var image = new float[n * n * n];
        var labels = new byte[n * n * n];
        for (int z = 0; z < n; z++)
            for (int y = 0; y < n; y++)
                for (int x = 0; x < n; x++)
                {
                    bool inside = z is >= 10 and < 22 && y is >= 14 and < 30 && x is >= 20 and < 28;
                    image[(z * n + y) * n + x] = inside ? 0.6f + 0.4f * (x % 4) / 3 : 0.1f * (y % 3);
                    labels[(z * n + y) * n + x] = (byte)(inside ? 1 : 0);
                }
        return new TrainingCase("box", n, n, n, image, labels);
    }

    /// <summary>Enables the nnU-Net path without any transform firing (a probability no draw is below).</summary>
    private static readonly AugmentationOptions Nothing = new() { MirrorProbability = double.Epsilon };

    public static TheoryData<string> Transforms => new()
    {
        "rotation", "scale", "elastic", "mirror", "noise", "blur", "brightness", "contrast", "lowResolution", "gamma", "invertedGamma",
    };

    private static AugmentationOptions Only(string transform) => transform switch
    {
        "rotation" => Nothing with { RotationProbability = 1 },
        "scale" => Nothing with { ScaleProbability = 1 },
        "elastic" => Nothing with { ElasticProbability = 1 },
        "mirror" => Nothing with { MirrorProbability = 1 },
        "noise" => Nothing with { NoiseProbability = 1 },
        "blur" => Nothing with { BlurProbability = 1 },
        "brightness" => Nothing with { BrightnessProbability = 1 },
        "contrast" => Nothing with { ContrastProbability = 1 },
        "lowResolution" => Nothing with { LowResolutionProbability = 1 },
        "gamma" => Nothing with { GammaProbability = 1 },
        _ => Nothing with { InvertedGammaProbability = 1 },
    };

    private static TrainingBatch Sample(AugmentationOptions options, int iteration)
    {
        var box = Box();
        return new PatchSampler([box], [box.WithoutLabels()], Patch, 1, 0, seed: 3, foregroundFraction: 1, augmentation: options).Sample(iteration);
    }

    /// <summary>Mean (z, y, x) of the voxels selected.</summary>
    private static double[] Centroid(Func<int, bool> selected)
    {
        var sum = new double[3];
        int count = 0;
        for (int i = 0; i < Patch[0] * Patch[1] * Patch[2]; i++)
        {
            if (!selected(i)) continue;
            sum[0] += i / (Patch[1] * Patch[2]);
            sum[1] += i / Patch[2] % Patch[1];
            sum[2] += i % Patch[2];
            count++;
        }
        Assert.True(count > 0, "nothing selected");
        return sum.Select(s => s / count).ToArray();
    }

    [Theory]
    [MemberData(nameof(Transforms))]
    public void Each_transform_changes_the_patch_and_the_label_centroid_moves_with_the_image(string transform)
    {
        int changed = 0;
        for (int iteration = 0; iteration < 6; iteration++)
        {
            var plain = Sample(Nothing, iteration);
            var augmented = Sample(Only(transform), iteration);
            if (!plain.Images.SequenceEqual(augmented.Images)) changed++;

            // The box in the image: voxels brighter than halfway between the means inside and outside the label.
            var images = augmented.Images;
            var labels = augmented.Labels;
            double inside = Enumerable.Range(0, images.Length).Where(i => labels[i] == 1).Average(i => images[i]);
            double outside = Enumerable.Range(0, images.Length).Where(i => labels[i] == 0).Average(i => images[i]);
            // Aligned labels mark the bright box: with labels that missed a move, inside and outside would mix.
            Assert.True(inside - outside > 0.4, $"{transform}, iteration {iteration}: inside {inside:F3}, outside {outside:F3}");
            if (transform == "noise") continue; // noise moves nothing, and its speckle would pull a thresholded centroid to the patch centre
            double threshold = (inside + outside) / 2;
            var ofLabels = Centroid(i => labels[i] == 1);
            var ofImage = Centroid(i => images[i] > threshold);
            double distance = Math.Sqrt(ofLabels.Zip(ofImage, (a, b) => (a - b) * (a - b)).Sum());
            // Low resolution moves edges by up to half a coarse voxel (a fine voxel at zoom ½), as nnU-Net's does.
            Assert.True(distance < (transform == "lowResolution" ? 1.5 : 1.0), $"{transform}, iteration {iteration}: label centroid {string.Join(",", ofLabels.Select(v => v.ToString("F2")))} " +
                                        $"vs image {string.Join(",", ofImage.Select(v => v.ToString("F2")))}");
        }
        Assert.True(changed >= 5, $"{transform} changed only {changed} of 6 patches");
    }

    [Fact]
    public void Without_a_transform_firing_the_patch_is_an_exact_crop_centred_on_the_drawn_voxel()
    {
        var batch = Sample(Nothing, 0);
        var box = Box();
        // Identity: trilinear reads at whole voxel positions are the voxels themselves, so every value
        // is one of the case's and each lies on the side of the box its label says.
        var values = box.ReadImage().ToHashSet();
        for (int i = 0; i < batch.Images.Length; i++)
        {
            Assert.Contains(batch.Images[i], values);
            Assert.True(batch.Labels[i] == 1 ? batch.Images[i] >= 0.6f : batch.Images[i] <= 0.2f, $"voxel {i}: {batch.Images[i]} with label {batch.Labels[i]}");
        }
        Assert.InRange(batch.Labels.Count(l => l == 1), 1, box.ReadLabels().Count(l => l == 1));
    }

    [Fact]
    public void Mirroring_reverses_every_axis_of_the_patch_exactly()
    {
        var box = Box();
        double[] centre = { 20, 21.5, 23 };
        var image = new float[32 * 32 * 32];
        var labels = new long[image.Length];
        var voxels = box.Read(box.All, new CaseBuffer());
        SpatialTransform.Identity.Apply(box, voxels, centre, Patch, image, labels);
        var mirrored = new float[image.Length];
        var mirroredLabels = new long[image.Length];
        SpatialTransform.Draw(new AugmentationOptions { MirrorProbability = 1 }, Patch, new DeterministicRandom(1)).Apply(box, voxels, centre, Patch, mirrored, mirroredLabels);
        for (int z = 0; z < 32; z++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                {
                    int i = (z * 32 + y) * 32 + x, j = ((31 - z) * 32 + 31 - y) * 32 + 31 - x;
                    Assert.Equal(image[j], mirrored[i]);
                    Assert.Equal(labels[j], mirroredLabels[i]);
                }
        Assert.Contains(1L, labels);
    }

    [Fact]
    public void Augmented_batches_depend_only_on_seed_and_iteration()
    {
        var box = Box();
        PatchSampler Sampler() => new([box], [box.WithoutLabels()], Patch, 1, 1, seed: 9, foregroundFraction: 1.0 / 3, augmentation: AugmentationOptions.NnUNet);
        var first = Sampler();
        var batches = Enumerable.Range(0, 5).Select(first.Sample).ToList();
        var resumed = Sampler();
        Assert.Equal(batches[4].Images, resumed.Sample(4).Images);
        Assert.Equal(batches[4].Labels, resumed.Sample(4).Labels);
        Assert.NotEqual(batches[3].Images, batches[4].Images);
    }

    [Fact]
    public void Intensity_transforms_keep_the_properties_nnunet_gives_them()
    {
        var rng = new DeterministicRandom(5);
        var ramp = Enumerable.Range(0, 32 * 32 * 32).Select(i => (float)(i % 32) / 31).ToArray();

        // Contrast: spread scaled about the mean, never beyond the original range.
        var contrast = ramp.ToArray();
        IntensityTransforms.Contrast(contrast, 1.25);
        Assert.Equal(0f, contrast.Min());
        Assert.Equal(1f, contrast.Max());
        Assert.True(Std(contrast) > Std(ramp));

        // Gamma keeps mean and standard deviation (retain_stats) and the order of intensities.
        foreach (bool inverted in new[] { false, true })
        {
            var gamma = ramp.ToArray();
            IntensityTransforms.Gamma(gamma, 1.5, inverted);
            Assert.Equal(ramp.Average(), gamma.Average(), 4);
            Assert.Equal(Std(ramp), Std(gamma), 4);
            Assert.NotEqual(ramp[5], gamma[5], 3);
            Assert.True(gamma[10] > gamma[9]);
        }

        // Blur and low resolution keep a constant constant; blur smooths noise.
        var constant = Enumerable.Repeat(0.7f, ramp.Length).ToArray();
        IntensityTransforms.Blur(constant, Patch, 1.0);
        Assert.All(constant, v => Assert.Equal(0.7f, v, 5));
        IntensityTransforms.LowResolution(constant, Patch, 0.5);
        Assert.All(constant, v => Assert.Equal(0.7f, v, 5));
        var noisy = new float[ramp.Length];
        IntensityTransforms.AddNoise(noisy, 0.3, rng);
        Assert.Equal(0.3, Std(noisy), 2);
        IntensityTransforms.Blur(noisy, Patch, 1.0);
        Assert.True(Std(noisy) < 0.1, $"{Std(noisy)}");

        // Low resolution blocks detail: a ramp along x at half resolution has fewer distinct values per row.
        var coarse = ramp.ToArray();
        IntensityTransforms.LowResolution(coarse, Patch, 0.5);
        Assert.NotEqual(ramp, coarse);
        Assert.Equal(ramp.Average(), coarse.Average(), 1);
    }

    private static double Std(float[] values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length);
    }

    [Fact]
    public void Options_are_bounded_and_the_reference_presets_keep_the_reference_augmentation()
    {
        Assert.False(TrainingOptions.Flare22.Augmentation.IsEnabled);
        Assert.False(TrainingOptions.Amos.Augmentation.IsEnabled);
        Assert.True(new TrainingOptions().Augmentation.IsEnabled);
        var error = Assert.Throws<TrainingSettingException>(() => (new TrainingOptions() with { Augmentation = AugmentationOptions.NnUNet with { GammaProbability = 1.5 } }).Validate());
        Assert.Equal("augmentation.gammaProbability", error.Field);
        Assert.Throws<TrainingSettingException>(() => AugmentationOptions.FromName("heavy"));
        Assert.Same(AugmentationOptions.Reference, AugmentationOptions.FromName("reference"));
    }
}
