namespace GuidedNet.Pipeline.Contracts;

/// <summary>
/// The body of <c>POST /api/datasets/&lt;name&gt;/train</c>: what <c>guidednet train</c> takes,
/// with the pipeline's defaults. Unset values fall back to the preset's.
/// </summary>
public sealed record TrainRequest
{
    public string Preset { get; init; } = "auto";
    public string Mode { get; init; } = "guidednet";
    public int? Labeled { get; init; }
    public double? LabeledFraction { get; init; }
    public double ValidationFraction { get; init; } = 0.2;
    public int? Iterations { get; init; }
    public int[]? Patch { get; init; }
    public int? Batch { get; init; }
    public int? LabeledBatch { get; init; }
    public int? BaseChannels { get; init; }
    public int? RampupIterations { get; init; }
    public int? ValidateEvery { get; init; }
    public int? CheckpointEvery { get; init; }
    public int Seed { get; init; } = 1337;

    /// <summary>Overrides <c>Promotion:Margin</c> for this run.</summary>
    public double? PromotionMargin { get; init; }

    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Check(Preset is "auto" or "flare22" or "amos", $"preset must be auto, flare22 or amos, not '{Preset}'");
        Check(Mode is "guidednet" or "supervised" or "cps", $"mode must be guidednet, supervised or cps, not '{Mode}'");
        Check(Labeled is null || LabeledFraction is null, "give labeled or labeledFraction, not both");
        Check(Labeled is null or > 0, "labeled must be positive");
        Check(LabeledFraction is null or > 0 and <= 1, "labeledFraction must be in (0, 1]");
        Check(ValidationFraction is >= 0 and < 1, "validationFraction must be in [0, 1)");
        Check(Iterations is null or > 0, "iterations must be positive");
        Check(Patch is null || (Patch.Length == 3 && Patch.All(p => p >= 16 && p % 16 == 0)),
            "patch must be three positive multiples of 16 (the U-Net halves the resolution four times)");
        Check(Batch is null or > 0 && LabeledBatch is null or > 0, "batch sizes must be positive");
        Check(BaseChannels is null or > 0, "baseChannels must be positive");
        Check(PromotionMargin is null or >= -1 and <= 1, "promotionMargin must be within [-1, 1]");
    }
}

/// <summary>Input of the train orchestration.</summary>
public sealed record TrainRunInput(string Dataset, string Version, TrainRequest Request);

/// <summary>Output of the train orchestration.</summary>
public sealed record TrainRunResult(string Dataset, string Version, string ModelPrefix, int Cases, int Quarantined,
    double? ValidationMeanDice, double? ProductionMeanDice, bool Promoted, string Decision);

/// <summary>One case of a dataset by blob path.</summary>
public sealed record CaseRef(string Name, string ImagePath, string? LabelPath);

/// <summary>The outcome of validating one case: accepted, or quarantined with the reason.</summary>
public sealed record CaseCheck(string Name, bool Accepted, string? Reason);

/// <summary>
/// <c>datasets/&lt;name&gt;/manifests/&lt;version&gt;.json</c>: the cases one training run used, by
/// path and content hash, and those it quarantined — what "new cases since" is measured against.
/// </summary>
public sealed record DatasetManifest(string Dataset, string Version, DateTime CreatedUtc, int NumClasses,
    IReadOnlyList<CaseRef> Cases, IReadOnlyList<CaseCheck> Quarantined);

/// <summary><c>models/&lt;name&gt;/&lt;version&gt;/metrics.json</c>: validation figures the worker writes last.</summary>
public sealed record ModelMetrics(string Version, double? ValidationMeanDice, int BestIteration, int Iterations,
    Dictionary<string, double?> DiceByClass, double WallSeconds);

/// <summary><c>models/&lt;name&gt;/production.json</c>: which version serves predictions, and what it was trained on.</summary>
public sealed record ProductionModel(string Dataset, string Version, string ModelPath, double? ValidationMeanDice,
    string ManifestPath, DateTime PromotedUtc, TrainRequest Request);
