using GuidedNet.Pipeline.Storage;

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

/// <summary>Output of the train orchestration.</summary>
public sealed record TrainRunResult(string Dataset, string Version, string ModelPrefix, int Cases, int Quarantined,
    double? ValidationMeanDice, double? ProductionMeanDice, bool Promoted, string Decision);

/// <summary>Every file the listing found under one case name; validation accepts exactly one image and at most one label.</summary>
public sealed record CaseFiles(string Name, IReadOnlyList<BlobPin> Images, IReadOnlyList<BlobPin> Labels);

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
public sealed record DatasetManifest(string Dataset, string Version, DateTime CreatedUtc, int NumClasses, BlobPin DatasetJson,
    IReadOnlyList<CaseRef> Cases, IReadOnlyList<CaseCheck> Quarantined, IReadOnlyList<CaseCheck> Skipped);

/// <summary><c>models/&lt;name&gt;/&lt;version&gt;/metrics.json</c>: validation figures the worker writes last.</summary>
public sealed record ModelMetrics(string Version, double? ValidationMeanDice, int BestIteration, int Iterations,
    Dictionary<string, double?> DiceByClass, double WallSeconds);

/// <summary><c>models/&lt;name&gt;/production.json</c>: which version serves predictions, and what it was trained on.</summary>
public sealed record ProductionModel(string Dataset, string Version, string ModelPath, double? ValidationMeanDice,
    string ManifestPath, DateTime PromotedUtc, TrainRequest Request);

/// <summary>
/// <c>models/&lt;name&gt;/active-run.json</c>: the one training run of a dataset that may be active;
/// written create-only or over a holder that has ended, so two requests never both start.
/// </summary>
public sealed record ActiveTrainingRun(string Dataset, string Run, DateTime RequestedUtc);
