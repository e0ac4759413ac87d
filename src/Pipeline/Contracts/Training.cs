using GuidedNet.Pipeline.Storage;
using GuidedNet.Training;

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

    /// <summary>Fraction of labeled patches centred on foreground (default: the preset's, ⅓ for auto).</summary>
    public double? ForegroundFraction { get; init; }

    /// <summary><c>auto</c> (by the dataset's modality), <c>ct</c>, <c>zscore</c> or <c>zscore-nonzero</c>.</summary>
    public string? Normalization { get; init; }

    /// <summary><c>nnunet</c> or <c>reference</c> (default: the preset's, nnU-Net's for auto).</summary>
    public string? Augmentation { get; init; }

    /// <summary>Unlabeled cases this run may use (default: the project's pool setting).</summary>
    public int? MaxUnlabeled { get; init; }

    /// <summary><c>newest</c> or <c>oldest</c>: which unlabeled cases a capped pool keeps (default: the project's).</summary>
    public string? KeepUnlabeled { get; init; }

    public int Seed { get; init; } = 1337;

    /// <summary><c>fp32</c>, <c>bf16</c> or <c>tf32</c> (CUDA workers): the training step's number format (default fp32).</summary>
    public string? Precision { get; init; }

    /// <summary>Overrides <c>Promotion:Margin</c> for this run.</summary>
    public double? PromotionMargin { get; init; }

    /// <summary>
    /// Checks the request with every rule the worker applies (<see cref="TrainingOptions.Validate"/>
    /// on the preset's values with this request on top), so a request the worker would refuse is
    /// refused with 400 before anything runs. Throws <see cref="TrainingSettingException"/> naming
    /// the field, never echoing its value.
    /// </summary>
    public void Validate()
    {
        if (PromotionMargin is { } margin && !(margin >= -1 && margin <= 1))
            throw new TrainingSettingException("promotionMargin", "must be within [-1, 1]");
        if (MaxUnlabeled is { } max && (max < 0 || max > PoolPolicy.Limit))
            throw new TrainingSettingException("maxUnlabeled", $"must be within [0, {PoolPolicy.Limit}]");
        if (KeepUnlabeled is { } keep) PoolPolicy.ParseOrder(keep);
        ToOptions(numClasses: null);
    }

    /// <summary>The request on top of its preset, validated; the class count comes from the dataset's manifest.</summary>
    public TrainingOptions ToOptions(int? numClasses)
    {
        var options = TrainingOptions.FromPreset(Preset ?? throw new TrainingSettingException("preset", "must not be null"));
        var mode = TrainingOptions.ParseMode(Mode ?? throw new TrainingSettingException("mode", "must not be null"));
        options = options with
        {
            Mode = mode,
            NumClasses = numClasses ?? options.NumClasses,
            LabeledCases = Labeled,
            LabeledFraction = LabeledFraction,
            ValidationFraction = ValidationFraction,
            Iterations = Iterations ?? options.Iterations,
            Patch = Patch ?? options.Patch,
            BatchSize = Batch ?? options.BatchSize,
            LabeledBatchSize = LabeledBatch ?? options.LabeledBatchSize,
            BaseChannels = BaseChannels ?? options.BaseChannels,
            RampupIterations = RampupIterations ?? options.RampupIterations,
            ValidateEvery = ValidateEvery ?? options.ValidateEvery,
            CheckpointEvery = CheckpointEvery ?? options.CheckpointEvery,
            ForegroundFraction = ForegroundFraction ?? options.ForegroundFraction,
            Normalization = Normalization ?? options.Normalization,
            Augmentation = Augmentation is null ? options.Augmentation : AugmentationOptions.FromName(Augmentation),
            Seed = Seed,
            Precision = Precision ?? options.Precision,
        };
        if (mode == TrainingMode.Supervised && Batch is null) options = options with { BatchSize = options.LabeledBatchSize };
        options.Validate();
        return options;
    }
}

/// <summary>Output of the train orchestration.</summary>
public sealed record TrainRunResult(string Dataset, string Version, string ModelPrefix, int Cases, int Quarantined,
    double? ValidationMeanDice, double? ProductionMeanDice, bool Promoted, string Decision);

/// <summary>Every file the listing found under one case name; validation accepts exactly one image and at most one label.</summary>
/// <param name="Added">when the newest of its images arrived (the unlabeled pool's order)</param>
public sealed record CaseFiles(string Name, IReadOnlyList<BlobPin> Images, IReadOnlyList<BlobPin> Labels, DateTimeOffset? Added = null);

/// <summary>One accepted case: the exact image and label bytes that were validated.</summary>
public sealed record CaseRef(string Name, BlobPin Image, BlobPin? Label);

public enum CaseOutcome
{
    Accepted,

    /// <summary>Bad: its files were moved to the quarantine with the reason.</summary>
    Quarantined,

    /// <summary>Changed while it was being checked: left in place for the next run, which sees it as changed.</summary>
    Skipped,
}

/// <summary>The outcome of validating one case, with its pinned files when accepted.</summary>
public sealed record CaseCheck(string Name, CaseOutcome Outcome, string? Reason, CaseRef? Case = null);

/// <summary>
/// <c>datasets/&lt;name&gt;/manifests/&lt;version&gt;.json</c>: the cases one training run used, each pinned
/// by ETag and content hash (the worker downloads exactly those bytes), and those it quarantined or
/// skipped — what "new or changed cases since" is measured against.
/// </summary>
/// <param name="OutsidePool">unlabeled cases the pool policy left out of this run (known, not new)</param>
public sealed record DatasetManifest(string Dataset, string Version, DateTime CreatedUtc, int NumClasses, BlobPin DatasetJson,
    IReadOnlyList<CaseRef> Cases, IReadOnlyList<CaseCheck> Quarantined, IReadOnlyList<CaseCheck> Skipped, IReadOnlyList<string>? OutsidePool = null);

/// <summary><c>models/&lt;name&gt;/&lt;version&gt;/metrics.json</c>: validation figures the worker writes last.</summary>
/// <param name="Cases">how many cases trained as labeled, as unlabeled, and validated (null in metrics written before they were counted)</param>
/// <param name="KeepLargestComponent">Classes whose largest connected component alone the model keeps (post-processing decided on validation).</param>
/// <param name="FastParts">What <c>Worker__Fast=fast</c> runs with this model, as its validation cases decided (null: not calibrated)</param>
/// <param name="FastPartsReason">Why, in a sentence</param>
public sealed record ModelMetrics(string Version, double? ValidationMeanDice, int BestIteration, int Iterations,
    Dictionary<string, double?> DiceByClass, double WallSeconds, CaseCounts? Cases = null, string[]? KeepLargestComponent = null,
    string? FastParts = null, string? FastPartsReason = null);

public sealed record CaseCounts(int Labeled, int Unlabeled, int Validation);

/// <summary><c>models/&lt;name&gt;/production.json</c>: which version serves predictions, and what it was trained on.</summary>
public sealed record ProductionModel(string Dataset, string Version, string ModelPath, double? ValidationMeanDice,
    string ManifestPath, DateTime PromotedUtc, TrainRequest Request);

/// <summary>
/// <c>models/&lt;name&gt;/active-run.json</c>: the one training run of a dataset that may be active;
/// written create-only or over a holder that has ended, so two requests never both start.
/// </summary>
public sealed record ActiveTrainingRun(string Dataset, string Run, DateTime RequestedUtc);
