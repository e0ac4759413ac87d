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
    public int RampupIterations { get; init; } = Schedules.ReferenceRampupIterations;

    /// <summary>Labeled cases used as labeled (the rest of the labeled cases join the unlabeled pool); null = all.</summary>
    public int? LabeledCases { get; init; }
    public double? LabeledFraction { get; init; }

    /// <summary>Fraction of labeled cases held out for validation (never trained on), or explicit case names.</summary>
    public double ValidationFraction { get; init; } = 0.2;
    public string[]? ValidationCases { get; init; }

    public int ValidateEvery { get; init; } = 200;
    public int CheckpointEvery { get; init; } = 200;
    public long Seed { get; init; } = 1337;

    public static TrainingOptions Flare22 => new()
    {
        Preset = "flare22", NumClasses = 14, Patch = new[] { 64, 128, 128 }, BatchSize = 8, LabeledBatchSize = 4,
        Iterations = 20_000, Lambda = 0.3, Consistency = 0.1,
    };

    public static TrainingOptions Amos => Flare22 with { Preset = "amos", NumClasses = 16 };

    public static TrainingOptions FromPreset(string preset) => preset.ToLowerInvariant() switch
    {
        "flare22" => Flare22,
        "amos" => Amos,
        "auto" => new TrainingOptions(),
        _ => throw new ArgumentException($"unknown preset '{preset}' (flare22, amos, auto)"),
    };

    /// <summary><c>guidednet</c> | <c>supervised</c> | <c>cps</c> (the command line's and the pipeline's spelling).</summary>
    public static TrainingMode ParseMode(string mode) => mode.ToLowerInvariant() switch
    {
        "guidednet" => TrainingMode.GuidedNet,
        "supervised" => TrainingMode.Supervised,
        "cps" => TrainingMode.Cps,
        _ => throw new ArgumentException($"mode must be guidednet, supervised or cps, not '{mode}'"),
    };

    public int UnlabeledBatchSize => Mode == TrainingMode.Supervised ? 0 : BatchSize - LabeledBatchSize;

    public void Validate()
    {
        if (Iterations < 1) throw new ArgumentException("iterations must be positive");
        if (Patch.Length != 3 || Patch.Any(p => p <= 0 || p % Network.UNet3D.SizeMultiple != 0))
            throw new ArgumentException($"patch {string.Join(",", Patch)} must be three positive multiples of {Network.UNet3D.SizeMultiple}");
        if (LabeledBatchSize < 1) throw new ArgumentException("a batch needs at least one labeled sample");
        if (Mode != TrainingMode.Supervised && LabeledBatchSize >= BatchSize)
            throw new ArgumentException($"{Mode} needs unlabeled samples in the batch: batch {BatchSize}, labeled {LabeledBatchSize}");
        if (Mode == TrainingMode.GuidedNet && BatchSize - LabeledBatchSize != LabeledBatchSize)
            throw new ArgumentException("GuidedNet pairs each unlabeled sample with a labeled one (the reference's CGMM): use as many unlabeled as labeled samples per batch");
        if (LabeledCases is < 1) throw new ArgumentException("--labeled must be at least 1");
        if (LabeledFraction is not null and (<= 0 or > 1)) throw new ArgumentException("--labeled-fraction must be in (0, 1]");
        if (LabeledCases is not null && LabeledFraction is not null) throw new ArgumentException("give --labeled or --labeled-fraction, not both");
        if (ValidationFraction is < 0 or >= 1) throw new ArgumentException("validation fraction must be in [0, 1)");
        if (ValidateEvery < 1 || CheckpointEvery < 1) throw new ArgumentException("validation and checkpoint intervals must be positive");
        if (BaseChannels < 1) throw new ArgumentException("base channels must be positive");
        if (RampupIterations < 1) throw new ArgumentException("ramp-up iterations must be positive");
    }
}
