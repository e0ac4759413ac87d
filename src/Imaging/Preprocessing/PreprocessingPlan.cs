using GuidedNet.Imaging.Geometry;

namespace GuidedNet.Imaging.Preprocessing;

/// <summary>
/// How a scan is brought into the grid and intensity range a model was trained on.
/// A plan with no target spacing and no normalisation, and without reorientation, is the
/// reference's "raw" behaviour: the stored array goes to the network unchanged.
/// </summary>
public sealed record PreprocessingPlan
{
    public string Name { get; init; } = "none";
    public int? NumClasses { get; init; }
    public bool ReorientToCanonical { get; init; }

    /// <summary>Target voxel spacing in mm as (x, y, z); null keeps the scan's spacing.</summary>
    public Vector3d? TargetSpacing { get; init; }

    public Interpolation ImageInterpolation { get; init; } = Interpolation.Cubic;
    public IntensityNormalization? Normalization { get; init; }

    /// <summary>Per-case z-score for channels that are not CT; a plan has this or <see cref="Normalization"/>, never both.</summary>
    public PerCaseNormalization? PerCaseNormalization { get; init; }

    /// <summary>How intensities are normalised: <c>ct</c>, <c>zscore</c>, <c>zscore-nonzero</c>, or null for none.</summary>
    public string? NormalizationScheme => PerCaseNormalization?.Scheme ?? (Normalization is null ? null : Preprocessing.PerCaseNormalization.CtScheme);

    /// <summary>
    /// FLARE22 as the authors prepared it (reference README §6): RAS orientation, spacing
    /// 1.22250766 × 1.22250766 × 2.5 mm with cubic splines, clip to [−22, 325] HU and
    /// z-normalise with mean 214.68231, standard deviation 100.240135. 14 classes.
    /// </summary>
    public static PreprocessingPlan Flare22 { get; } = new()
    {
        Name = "flare22",
        NumClasses = 14,
        ReorientToCanonical = true,
        TargetSpacing = new Vector3d(1.22250766, 1.22250766, 2.5),
        ImageInterpolation = Interpolation.Cubic,
        Normalization = new IntensityNormalization(-22, 325, 214.68231, 100.240135),
    };

    /// <summary>
    /// AMOS: 16 classes, same orientation and spacing handling as FLARE22. The authors give no
    /// intensity statistics: they come from the training data's labeled foreground
    /// (<see cref="IntensityNormalization.FromLabeledForeground"/>) and travel in the model file.
    /// </summary>
    public static PreprocessingPlan Amos { get; } = new()
    {
        Name = "amos",
        NumClasses = 16,
        ReorientToCanonical = true,
        TargetSpacing = new Vector3d(1.22250766, 1.22250766, 2.5),
        ImageInterpolation = Interpolation.Cubic,
    };

    /// <summary>The scan exactly as stored: no reorientation, resampling or intensity change.</summary>
    public static PreprocessingPlan Raw { get; } = new() { Name = "none" };

    /// <summary>
    /// Planned from a dataset as nnU-Net does (median spacing, labeled-foreground statistics): only
    /// the orientation is fixed here; spacing and normalisation come with the model.
    /// </summary>
    public static PreprocessingPlan Auto { get; } = new() { Name = "auto", ReorientToCanonical = true };

    /// <summary>The names <see cref="FromName"/> takes, as help texts list them.</summary>
    public const string PresetChoices = "flare22 | amos | auto | none";

    public static PreprocessingPlan FromName(string name) => name.ToLowerInvariant() switch
    {
        "flare22" => Flare22,
        "amos" => Amos,
        "auto" => Auto,
        "none" or "raw" => Raw,
        _ => throw new ArgumentException($"unknown preset '{name}' (expected {PresetChoices})"),
    };
}
