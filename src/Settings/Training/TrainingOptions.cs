namespace GuidedNet.Training;

public enum TrainingMode
{
    /// <summary>Two networks, CGMM-corrected pseudo-labels, KT-CPS (the paper).</summary>
    GuidedNet,
    /// <summary>Labeled cases only, one network, CE + Dice: the lower bound.</summary>
    Supervised,
    /// <summary>Two networks with plain cross pseudo supervision (no CGMM, no class weights).</summary>
    Cps,
}

/// <summary>Everything a training run is configured by; presets fill it, options override it.</summary>
public sealed record TrainingOptions
{
    public string Preset { get; init; } = "auto";
    public TrainingMode Mode { get; init; } = TrainingMode.GuidedNet;
    public int? NumClasses { get; init; }
    public int Iterations { get; init; } = 20_000;
    public int[] Patch { get; init; } = { 64, 128, 128 };
    public int BatchSize { get; init; } = 8;
    public int LabeledBatchSize { get; init; } = 4;
    public int BaseChannels { get; init; } = 16;
    public double BaseLearningRate { get; init; } = 0.1;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 1e-4;
    public double Lambda { get; init; } = 0.3;
    public double Consistency { get; init; } = 0.1;

    /// <summary>Iterations over which the consistency/CPS weight ramps up (reference: 30,000).</summary>
    public int RampupIterations { get; init; } = ReferenceRampupIterations;

    /// <summary>Labeled cases used as labeled (the rest of the labeled cases join the unlabeled pool); null = all.</summary>
    public int? LabeledCases { get; init; }
    public double? LabeledFraction { get; init; }

    /// <summary>Fraction of labeled cases held out for validation (never trained on), or explicit case names.</summary>
    public double ValidationFraction { get; init; } = 0.2;
    public string[]? ValidationCases { get; init; }

    /// <summary>
    /// Fraction of labeled patches centred on a voxel of a class present in the case (nnU-Net's
    /// foreground oversampling): ⅓ for the product's <c>auto</c> recipe, 0 (uniform crops, the
    /// reference's sampler) for the reference presets.
    /// </summary>
    public double ForegroundFraction { get; init; } = 1.0 / 3;

    /// <summary>
    /// Intensity normalisation of the <c>auto</c> preset: <c>auto</c> chooses by the dataset's
    /// modality as nnU-Net does (CT: clip and z-score with the labeled foreground's statistics;
    /// anything else: z-score per case); <c>ct</c>, <c>zscore</c> or <c>zscore-nonzero</c> force one.
    /// The reference presets keep their own.
    /// </summary>
    public string Normalization { get; init; } = "auto";

    public static readonly IReadOnlyList<string> Normalizations = ["auto", "ct", "zscore", "zscore-nonzero"];

    /// <summary>nnU-Net's transforms for the product's <c>auto</c> recipe; the authors' rot90 and flip for the reference presets.</summary>
    public AugmentationOptions Augmentation { get; init; } = AugmentationOptions.NnUNet;

    /// <summary>
    /// The number format of the training step: <c>fp32</c> (exact, the reference's), <c>bf16</c>
    /// (the networks compute forward and backward on bf16 copies of fp32 master weights, which the
    /// optimiser updates; losses stay fp32) or <c>tf32</c> (CUDA only: fp32 with TF32 matrix
    /// products). Validation always predicts in fp32.
    /// </summary>
    public string Precision { get; init; } = "fp32";

    public static readonly IReadOnlyList<string> Precisions = ["fp32", "bf16", "tf32"];

    /// <summary>
    /// After training, measure on the validation cases which of fast prediction's parts keep the
    /// kept model's masks within the fast-mode bounds, and record them in the model (what its
    /// <c>--fast</c> then takes).
    /// </summary>
    public bool CalibrateFastMode { get; init; } = true;

    public int ValidateEvery { get; init; } = 200;
    public int CheckpointEvery { get; init; } = 200;
    public long Seed { get; init; } = 1337;

    public static TrainingOptions Flare22 => new()
    {
        Preset = "flare22", NumClasses = 14, Patch = new[] { 64, 128, 128 }, BatchSize = 8, LabeledBatchSize = 4,
        Iterations = 20_000, Lambda = 0.3, Consistency = 0.1, ForegroundFraction = 0, Augmentation = AugmentationOptions.Reference,
    };

    public static TrainingOptions Amos => Flare22 with { Preset = "amos", NumClasses = 16 };

    /// <summary>150 iterations per ramp "epoch" × 200 epochs, as the reference computes it.</summary>
    public const int ReferenceRampupIterations = 30_000;

    public static readonly IReadOnlyList<string> Presets = ["auto", "flare22", "amos"];

    public static readonly IReadOnlyList<string> Modes = ["guidednet", "supervised", "cps"];

    public static TrainingOptions FromPreset(string preset) => preset.ToLowerInvariant() switch
    {
        "flare22" => Flare22,
        "amos" => Amos,
        "auto" => new TrainingOptions(),
        _ => throw new TrainingSettingException("preset", $"must be {string.Join(", ", Presets)}"),
    };

    /// <summary><c>guidednet</c> | <c>supervised</c> | <c>cps</c> (the command line's and the pipeline's spelling).</summary>
    public static TrainingMode ParseMode(string mode) => mode.ToLowerInvariant() switch
    {
        "guidednet" => TrainingMode.GuidedNet,
        "supervised" => TrainingMode.Supervised,
        "cps" => TrainingMode.Cps,
        _ => throw new TrainingSettingException("mode", $"must be {string.Join(", ", Modes)}"),
    };

    public int UnlabeledBatchSize => Mode == TrainingMode.Supervised ? 0 : BatchSize - LabeledBatchSize;

    /// <summary>
    /// Throws <see cref="TrainingSettingException"/> for the first setting out of bounds
    /// (<see cref="TrainingLimits"/>) or inconsistent with the mode. Every path to a training run
    /// calls this: the command line, the HTTP API (through the request) and the worker.
    /// </summary>
    public void Validate()
    {
        static void Check(bool ok, string field, string rule)
        {
            if (!ok) throw new TrainingSettingException(field, rule);
        }
        static void Within(long value, long min, long max, string field) =>
            Check(value >= min && value <= max, field, $"must be within [{min}, {max}]");

        Within(Iterations, 1, TrainingLimits.MaxIterations, "iterations");
        Check(Patch is { Length: 3 } && Patch.All(p => p >= TrainingLimits.SizeMultiple && p <= TrainingLimits.MaxPatchEdge && p % TrainingLimits.SizeMultiple == 0),
            "patch", $"must be three multiples of {TrainingLimits.SizeMultiple} (the U-Net halves the resolution four times) of at most {TrainingLimits.MaxPatchEdge}");
        long patchVoxels = (long)Patch[0] * Patch[1] * Patch[2];
        Check(patchVoxels <= TrainingLimits.MaxPatchVoxels, "patch", $"must hold at most {TrainingLimits.MaxPatchVoxels} voxels");
        Within(BatchSize, 1, TrainingLimits.MaxBatch, "batch");
        Check(BatchSize * patchVoxels <= TrainingLimits.MaxBatchVoxels, "batch", $"the batch × the patch must hold at most {TrainingLimits.MaxBatchVoxels} voxels");
        Within(LabeledBatchSize, 1, BatchSize, "labeledBatch");
        if (Mode != TrainingMode.Supervised)
            Check(LabeledBatchSize < BatchSize, "labeledBatch", $"{Mode} needs unlabeled samples in the batch: the labeled batch must be smaller than the batch");
        if (Mode == TrainingMode.GuidedNet)
            Check(BatchSize == 2 * LabeledBatchSize, "labeledBatch",
                "GuidedNet pairs each unlabeled sample with a labeled one (the reference's CGMM): the batch must hold as many unlabeled as labeled samples");
        Within(BaseChannels, 1, TrainingLimits.MaxBaseChannels, "baseChannels");
        if (NumClasses is { } classes) Within(classes, 2, TrainingLimits.MaxClasses, "numClasses");
        if (LabeledCases is { } labeled) Within(labeled, 1, TrainingLimits.MaxLabeledCases, "labeled");
        if (LabeledFraction is { } fraction) Check(fraction > 0 && fraction <= 1, "labeledFraction", "must be in (0, 1]");
        Check(LabeledCases is null || LabeledFraction is null, "labeled", "give labeled or labeledFraction, not both");
        Check(ValidationFraction >= 0 && ValidationFraction < 1, "validationFraction", "must be in [0, 1)");
        Check(ForegroundFraction >= 0 && ForegroundFraction <= 1, "foregroundFraction", "must be in [0, 1]");
        Check(Normalization is not null && Normalizations.Contains(Normalization), "normalization", $"must be {string.Join(", ", Normalizations)}");
        Check(Precision is not null && Precisions.Contains(Precision), "precision", $"must be {string.Join(", ", Precisions)}");
        Check(Augmentation is not null, "augmentation", "must be given");
        Augmentation!.Validate();
        Within(ValidateEvery, 1, TrainingLimits.MaxInterval, "validateEvery");
        Within(CheckpointEvery, 1, TrainingLimits.MaxInterval, "checkpointEvery");
        Within(RampupIterations, 1, TrainingLimits.MaxInterval, "rampupIterations");
        Check(BaseLearningRate > 0 && double.IsFinite(BaseLearningRate), "learningRate", "must be finite and positive");
        Check(Momentum >= 0 && Momentum < 1, "momentum", "must be in [0, 1)");
        Check(WeightDecay >= 0 && WeightDecay < 1, "weightDecay", "must be in [0, 1)");
        Check(Lambda >= 0 && double.IsFinite(Lambda), "lambda", "must be finite and not negative");
        Check(Consistency >= 0 && double.IsFinite(Consistency), "consistency", "must be finite and not negative");
    }
}
