using GuidedNet.Training;

namespace GuidedNet.Data.Augmentation;

/// <summary>
/// nnU-Net's intensity augmentation of one image patch [D·H·W], in its order: Gaussian noise,
/// Gaussian blur, brightness, contrast, low-resolution simulation, inverted gamma, gamma. They
/// change intensities only, never where anything is, so the labels need no change.
/// </summary>
public static class IntensityTransforms
{
    public static void Apply(AugmentationOptions options, int[] patch, Span<float> image, DeterministicRandom rng)
    {
        if (rng.NextDouble() < options.NoiseProbability) AddNoise(image, Math.Sqrt(rng.NextDouble() * options.MaxNoiseVariance), rng);
        if (rng.NextDouble() < options.BlurProbability) Blur(image, patch, 0.5 + rng.NextDouble() * 0.5);
        if (rng.NextDouble() < options.BrightnessProbability) Multiply(image, 0.75 + rng.NextDouble() * 0.5);
        if (rng.NextDouble() < options.ContrastProbability) Contrast(image, 0.75 + rng.NextDouble() * 0.5);
        if (rng.NextDouble() < options.LowResolutionProbability) LowResolution(image, patch, 0.5 + rng.NextDouble() * 0.5);
        if (rng.NextDouble() < options.InvertedGammaProbability) Gamma(image, DrawGamma(rng), inverted: true);
        if (rng.NextDouble() < options.GammaProbability) Gamma(image, DrawGamma(rng), inverted: false);
    }

    /// <summary>nnU-Net's gamma draw: below 1 or above 1 with equal chance, in [0.7, 1.5].</summary>
    private static double DrawGamma(DeterministicRandom rng) =>
        rng.NextDouble() < 0.5 ? 0.7 + rng.NextDouble() * 0.3 : 1 + rng.NextDouble() * 0.5;

    public static void AddNoise(Span<float> image, double sigma, DeterministicRandom rng)
    {
        for (int i = 0; i < image.Length; i++)
        {
            // Box–Muller: one normal draw from two uniforms.
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            image[i] += (float)(sigma * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
    }

    public static void Multiply(Span<float> image, double factor)
    {
        for (int i = 0; i < image.Length; i++) image[i] = (float)(image[i] * factor);
    }

    /// <summary>Scales the spread about the mean by <paramref name="factor"/>, clipped to the patch's original range (nnU-Net's preserve_range).</summary>
    public static void Contrast(Span<float> image, double factor)
    {
        if (image.IsEmpty) return;
        double mean = 0;
        float min = float.MaxValue, max = float.MinValue;
        foreach (float v in image)
        {
            mean += v;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        mean /= image.Length;
        for (int i = 0; i < image.Length; i++) image[i] = Math.Clamp((float)((image[i] - mean) * factor + mean), min, max);
    }

    /// <summary>
    /// Gamma on the patch rescaled to [0, 1], back to its range, then its mean and standard
    /// deviation restored (nnU-Net's retain_stats); inverted: on the negated patch.
    /// </summary>
    public static void Gamma(Span<float> image, double gamma, bool inverted)
    {
        if (image.IsEmpty) return;
        double sign = inverted ? -1 : 1;
        double mean = 0, min = double.MaxValue, max = double.MinValue;
        foreach (float raw in image)
        {
            double v = sign * raw;
            mean += v;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        mean /= image.Length;
        double variance = 0;
        foreach (float raw in image) variance += (sign * raw - mean) * (sign * raw - mean);
        double std = Math.Sqrt(variance / image.Length);
        double range = max - min;
        if (range <= 0) return;
        double newMean = 0;
        for (int i = 0; i < image.Length; i++)
        {
            double v = Math.Pow((sign * image[i] - min) / range, gamma) * range + min;
            image[i] = (float)v;
            newMean += v;
        }
        newMean /= image.Length;
        double newVariance = 0;
        foreach (float v in image) newVariance += (v - newMean) * (v - newMean);
        double newStd = Math.Sqrt(newVariance / image.Length);
        double scale = newStd > 1e-8 ? std / newStd : 1;
        for (int i = 0; i < image.Length; i++) image[i] = (float)(sign * ((image[i] - newMean) * scale + mean));
    }

    /// <summary>Separable Gaussian blur with σ in voxels, zero outside the patch borders handled by renormalising the kernel.</summary>
    public static void Blur(Span<float> image, int[] patch, double sigma)
    {
        int radius = (int)Math.Ceiling(3 * sigma);
        var kernel = new double[2 * radius + 1];
        for (int k = -radius; k <= radius; k++) kernel[k + radius] = Math.Exp(-0.5 * k * k / (sigma * sigma));
        var buffer = image.ToArray();
        var line = new double[patch.Max()];
        for (int axis = 0; axis < 3; axis++)
        {
            int n = patch[axis];
            int stride = axis == 0 ? patch[1] * patch[2] : axis == 1 ? patch[2] : 1;
            int lines = buffer.Length / n;
            for (int l = 0; l < lines; l++)
            {
                // The first voxel of line l: every index of the two other axes, in order.
                int start = axis == 0 ? l : axis == 1 ? l / patch[2] * patch[1] * patch[2] + l % patch[2] : l * patch[2];
                for (int i = 0; i < n; i++) line[i] = buffer[start + i * stride];
                for (int i = 0; i < n; i++)
                {
                    double sum = 0, weight = 0;
                    for (int k = Math.Max(-radius, -i); k <= Math.Min(radius, n - 1 - i); k++)
                    {
                        sum += kernel[k + radius] * line[i + k];
                        weight += kernel[k + radius];
                    }
                    buffer[start + i * stride] = (float)(sum / weight);
                }
            }
        }
        buffer.CopyTo(image);
    }

    /// <summary>Down-samples by <paramref name="zoom"/> with the nearest voxel, then back to the patch size linearly (nnU-Net's SimulateLowResolution).</summary>
    public static void LowResolution(Span<float> image, int[] patch, double zoom)
    {
        var small = patch.Select(p => Math.Max(1, (int)Math.Round(p * zoom))).ToArray();
        var coarse = new float[small[0] * small[1] * small[2]];
        // Each coarse voxel takes the fine voxel nearest its centre (centres aligned: (i + 0.5) / n in both grids).
        int Nearest(int index, int axis) => Math.Clamp((int)Math.Round((index + 0.5) * patch[axis] / small[axis] - 0.5), 0, patch[axis] - 1);
        int i = 0;
        for (int z = 0; z < small[0]; z++)
        {
            int sz = Nearest(z, 0);
            for (int y = 0; y < small[1]; y++)
            {
                int sy = Nearest(y, 1);
                for (int x = 0; x < small[2]; x++, i++)
                    coarse[i] = image[(sz * patch[1] + sy) * patch[2] + Nearest(x, 2)];
            }
        }
        // Back up: align voxel centres, (i + 0.5) / n in both grids.
        double Coordinate(int index, int axis) => Math.Clamp((index + 0.5) * small[axis] / patch[axis] - 0.5, 0, small[axis] - 1);
        i = 0;
        for (int z = 0; z < patch[0]; z++)
        {
            double cz = Coordinate(z, 0);
            int z0 = (int)cz, z1 = Math.Min(z0 + 1, small[0] - 1);
            double fz = cz - z0;
            for (int y = 0; y < patch[1]; y++)
            {
                double cy = Coordinate(y, 1);
                int y0 = (int)cy, y1 = Math.Min(y0 + 1, small[1] - 1);
                double fy = cy - y0;
                for (int x = 0; x < patch[2]; x++, i++)
                {
                    double cx = Coordinate(x, 2);
                    int x0 = (int)cx, x1 = Math.Min(x0 + 1, small[2] - 1);
                    double fx = cx - x0;
                    float At(int a, int b, int c) => coarse[(a * small[1] + b) * small[2] + c];
                    double front = (1 - fy) * ((1 - fx) * At(z0, y0, x0) + fx * At(z0, y0, x1)) + fy * ((1 - fx) * At(z0, y1, x0) + fx * At(z0, y1, x1));
                    double back = (1 - fy) * ((1 - fx) * At(z1, y0, x0) + fx * At(z1, y0, x1)) + fy * ((1 - fx) * At(z1, y1, x0) + fx * At(z1, y1, x1));
                    image[i] = (float)((1 - fz) * front + fz * back);
                }
            }
        }
    }
}
