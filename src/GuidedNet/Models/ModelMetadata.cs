using System.Text.Json;
using System.Text.Json.Serialization;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Labels;
using GuidedNet.Training;

namespace GuidedNet.Models;

/// <summary>
/// What <c>predict</c> needs to use a model correctly, stored beside the weights in a model file
/// (<c>model.json</c>).
/// </summary>
public sealed record ModelMetadata
{
    public int FormatVersion { get; init; } = 1;
    public int NumClasses { get; init; }
    public int BaseChannels { get; init; } = 16;

    /// <summary>Class names by label value (index 0 is background).</summary>
    public string[]? ClassNames { get; init; }

    /// <summary>
    /// The model's label table: its own class names, else (the authors' weights, which carry none)
    /// the organ names of its task preset, else <c>class_N</c>.
    /// </summary>
    public LabelTable Labels() => LabelTable.FromNames(ClassNames ?? LabelTable.PresetNames(Preset, NumClasses) ?? [], NumClasses);

    /// <summary>Preset name: flare22, amos or none.</summary>
    public string Preset { get; init; } = "none";

    /// <summary>Target spacing (x, y, z) in mm; null means the scans' own spacing.</summary>
    public double[]? TargetSpacing { get; init; }

    /// <summary>Clip low, clip high, mean, standard deviation; null means no intensity change.</summary>
    public double[]? Normalization { get; init; }

    /// <summary>
    /// <c>ct</c> (the <see cref="Normalization"/> numbers), <c>zscore</c> or <c>zscore-nonzero</c>
    /// (per case, for channels that are not CT); null in files written before per-case normalisation existed.
    /// </summary>
    public string? NormalizationScheme { get; init; }

    /// <summary>Patch size (D, H, W) the model was trained with; a good default for prediction.</summary>
    public int[] Patch { get; init; } = { 64, 128, 128 };

    /// <summary>How many networks the file holds (GuidedNet and CPS train two).</summary>
    public int Networks { get; init; } = 1;

    /// <summary>
    /// The network predict uses alone: the one with the better validation Dice at the kept
    /// checkpoint (1 in files written before both networks were validated). <c>--ensemble</c> averages both.
    /// </summary>
    public int PreferredNetwork { get; init; } = 1;

    /// <summary>
    /// Classes whose largest connected component alone is kept after prediction (nnU-Net's
    /// post-processing), as decided on the validation split; null or empty: none.
    /// </summary>
    public int[]? KeepLargestComponent { get; init; }

    /// <summary>
    /// The fast parts <c>--fast</c> takes with this model (<c>bf16+body+overlap</c>, <c>exact</c>, …),
    /// as its calibration on labelled cases decided (<see cref="Inference.FastModeCalibration"/>);
    /// null: not calibrated, so <c>--fast</c> takes <see cref="Inference.FastMode.Baseline"/>.
    /// </summary>
    public string? FastParts { get; init; }

    /// <summary>
    /// Refuses metadata no trained model has, before a network is built from it: a hostile file
    /// could otherwise ask for a network of any size. The message names the file and the field.
    /// </summary>
    public void Validate(string path)
    {
        void Check(bool ok, string field, string rule)
        {
            if (!ok) throw new InvalidDataException($"{path}: {field} {rule}");
        }
        Check(FormatVersion == 1, "formatVersion", "must be 1");
        Check(NumClasses >= 2 && NumClasses <= TrainingLimits.MaxClasses, "numClasses", $"must be within [2, {TrainingLimits.MaxClasses}]");
        Check(BaseChannels >= 1 && BaseChannels <= TrainingLimits.MaxBaseChannels, "baseChannels", $"must be within [1, {TrainingLimits.MaxBaseChannels}]");
        Check(Networks is 1 or 2, "networks", "must be 1 or 2");
        Check(PreferredNetwork >= 1 && PreferredNetwork <= Networks, "preferredNetwork", "must name one of the file's networks");
        Check(Patch is { Length: 3 } && Patch.All(p => p >= TrainingLimits.SizeMultiple && p <= TrainingLimits.MaxPatchEdge && p % TrainingLimits.SizeMultiple == 0),
            "patch", $"must be three multiples of {TrainingLimits.SizeMultiple} of at most {TrainingLimits.MaxPatchEdge}");
        Check(Preset is "flare22" or "amos" or "auto" or "none" or "raw", "preset", "must be flare22, amos, auto or none");
        Check(TargetSpacing is null || (TargetSpacing.Length == 3 && TargetSpacing.All(v => v >= GeometryLimits.MinSpacingMm && v <= GeometryLimits.MaxSpacingMm)),
            "targetSpacing", $"must be three spacings within {GeometryLimits.MinSpacingMm}–{GeometryLimits.MaxSpacingMm} mm");
        Check(Normalization is null || (Normalization.Length == 4 && Normalization.All(double.IsFinite) && Normalization[0] < Normalization[1] && Normalization[3] > 0),
            "normalization", "must be four finite numbers: clip low < clip high, mean, standard deviation > 0");
        Check(NormalizationScheme is null or "ct" or "zscore" or "zscore-nonzero", "normalizationScheme", "must be ct, zscore or zscore-nonzero");
        Check(NormalizationScheme is not ("zscore" or "zscore-nonzero") || Normalization is null,
            "normalizationScheme", "a per-case z-score has no dataset-wide normalization numbers");
        Check(KeepLargestComponent is null || (KeepLargestComponent.All(k => k >= 1 && k < NumClasses) && KeepLargestComponent.Distinct().Count() == KeepLargestComponent.Length),
            "keepLargestComponent", $"must list distinct foreground classes (1..{NumClasses - 1})");
        Check(FastParts is null || IsFastParts(FastParts), "fastParts", $"must be 'exact', 'all' or parts joined by '+' ({string.Join(", ", Inference.FastMode.PartNames)})");
        Check(ClassNames is null || (ClassNames.Length == NumClasses && ClassNames.All(n => n is { Length: <= 128 })),
            "classNames", "must name each class in at most 128 characters");
    }

    private static bool IsFastParts(string parts)
    {
        if (parts.Length > 64) return false;
        try
        {
            return !Inference.FastMode.Parse(parts).FollowsModel;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
