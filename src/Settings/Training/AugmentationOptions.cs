namespace GuidedNet.Training;

/// <summary>
/// Data augmentation of training patches. <see cref="Reference"/> is the authors' (a random
/// in-plane rot90 and flip, then the crop): every probability is zero. <see cref="NnUNet"/> is the
/// product's recipe for real data, nnU-Net's default transforms with its probabilities and ranges:
/// rotation and scaling in 3D, optional elastic deformation, Gaussian noise and blur, brightness,
/// contrast, low-resolution simulation, gamma, and mirroring on every axis. With any probability
/// above zero the sampler uses these transforms instead of the reference's rot90 and flip.
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>Per sample: rotate about all three axes by angles drawn in ±<see cref="MaxRotationDegrees"/>.</summary>
    public double RotationProbability { get; init; }
    public double MaxRotationDegrees { get; init; } = 30;

    /// <summary>Per sample: zoom by one factor in [<see cref="MinScale"/>, <see cref="MaxScale"/>] (above 1 shows a smaller region larger).</summary>
    public double ScaleProbability { get; init; }
    public double MinScale { get; init; } = 0.7;
    public double MaxScale { get; init; } = 1.4;

    /// <summary>Per sample: a smooth random displacement field of up to <see cref="ElasticMagnitudeVoxels"/> voxels (off in nnU-Net's default).</summary>
    public double ElasticProbability { get; init; }
    public double ElasticMagnitudeVoxels { get; init; } = 4;

    /// <summary>Per sample: additive Gaussian noise with a variance drawn in [0, <see cref="MaxNoiseVariance"/>].</summary>
    public double NoiseProbability { get; init; }
    public double MaxNoiseVariance { get; init; } = 0.1;

    /// <summary>Per sample: Gaussian blur with σ drawn in [0.5, 1] voxels.</summary>
    public double BlurProbability { get; init; }

    /// <summary>Per sample: intensities multiplied by a factor in [0.75, 1.25].</summary>
    public double BrightnessProbability { get; init; }

    /// <summary>Per sample: contrast scaled by a factor in [0.75, 1.25] about the mean, within the patch's range.</summary>
    public double ContrastProbability { get; init; }

    /// <summary>Per sample: down-sampled by a factor in [0.5, 1] (nearest) and brought back (linear).</summary>
    public double LowResolutionProbability { get; init; }

    /// <summary>Per sample: gamma in [0.7, 1.5] on the patch rescaled to [0, 1], mean and spread restored; on the inverted patch with <see cref="InvertedGammaProbability"/>.</summary>
    public double GammaProbability { get; init; }
    public double InvertedGammaProbability { get; init; }

    /// <summary>Per axis and sample: mirror the patch.</summary>
    public double MirrorProbability { get; init; }

    /// <summary>The authors' augmentation: rot90, flip and crop, nothing else.</summary>
    public static AugmentationOptions Reference { get; } = new();

    /// <summary>nnU-Net's defaults (its data augmentation for 3D full-resolution training).</summary>
    public static AugmentationOptions NnUNet { get; } = new()
    {
        RotationProbability = 0.2, ScaleProbability = 0.2, NoiseProbability = 0.1, BlurProbability = 0.2,
        BrightnessProbability = 0.15, ContrastProbability = 0.15, LowResolutionProbability = 0.25,
        GammaProbability = 0.3, InvertedGammaProbability = 0.1, MirrorProbability = 0.5,
    };

    public static readonly IReadOnlyList<string> Names = ["nnunet", "reference"];

    /// <summary><c>nnunet</c> | <c>reference</c> (the command line's and the request's spelling).</summary>
    public static AugmentationOptions FromName(string name) => name.ToLowerInvariant() switch
    {
        "nnunet" => NnUNet,
        "reference" => Reference,
        _ => throw new TrainingSettingException("augmentation", $"must be {string.Join(", ", Names)}"),
    };

    /// <summary>True when any nnU-Net transform can fire (the sampler then replaces rot90 and flip).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEnabled =>
        new[] { RotationProbability, ScaleProbability, ElasticProbability, NoiseProbability, BlurProbability, BrightnessProbability,
            ContrastProbability, LowResolutionProbability, GammaProbability, InvertedGammaProbability, MirrorProbability }.Any(p => p > 0);

    public void Validate()
    {
        static void Check(bool ok, string field, string rule)
        {
            if (!ok) throw new TrainingSettingException("augmentation." + field, rule);
        }
        foreach (var (name, p) in new[]
                 {
                     ("rotationProbability", RotationProbability), ("scaleProbability", ScaleProbability), ("elasticProbability", ElasticProbability),
                     ("noiseProbability", NoiseProbability), ("blurProbability", BlurProbability), ("brightnessProbability", BrightnessProbability),
                     ("contrastProbability", ContrastProbability), ("lowResolutionProbability", LowResolutionProbability),
                     ("gammaProbability", GammaProbability), ("invertedGammaProbability", InvertedGammaProbability), ("mirrorProbability", MirrorProbability),
                 })
            Check(p >= 0 && p <= 1, name, "must be in [0, 1]");
        Check(MaxRotationDegrees >= 0 && MaxRotationDegrees <= 180, "maxRotationDegrees", "must be in [0, 180]");
        Check(MinScale > 0.1 && MinScale <= MaxScale && MaxScale <= 10, "scale", "needs 0.1 < minScale ≤ maxScale ≤ 10");
        Check(ElasticMagnitudeVoxels >= 0 && ElasticMagnitudeVoxels <= 32, "elasticMagnitudeVoxels", "must be in [0, 32]");
        Check(MaxNoiseVariance >= 0 && MaxNoiseVariance <= 10, "maxNoiseVariance", "must be in [0, 10]");
    }
}
