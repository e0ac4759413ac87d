using GuidedNet.Imaging.Geometry;

namespace GuidedNet.Imaging.Preprocessing;

/// <summary>A scan in the model's grid, with what is needed to map results back to the scan.</summary>
public sealed class PreprocessedCase
{
    internal PreprocessedCase(Volume image, Volume original, AxisReorientation reorientation, int[] reorientedSize)
    {
        Image = image;
        Original = original;
        Reorientation = reorientation;
        ReorientedSize = reorientedSize;
    }

    /// <summary>The network's input grid: voxels in (z, y, x) C order.</summary>
    public Volume Image { get; }

    /// <summary>The scan as read (its grid and header are where results must land).</summary>
    public Volume Original { get; }

    public AxisReorientation Reorientation { get; }
    public int[] ReorientedSize { get; }

    /// <summary>
    /// The exact inverse for label maps: nearest-neighbour back to the reoriented scan's size,
    /// then the inverse axis permutation and flips — the result is on the scan's own grid and
    /// carries its affine and header.
    /// </summary>
    public Volume LabelsToOriginal(float[] labels)
    {
        var inModelGrid = Image.WithVoxels(labels);
        var resampled = Resampler.ToSize(inModelGrid, ReorientedSize[0], ReorientedSize[1], ReorientedSize[2], Interpolation.Nearest);
        var restored = Reorientation.Inverse().Apply(resampled);
        return new Volume(Original.SizeX, Original.SizeY, Original.SizeZ, restored.Voxels, Original.Affine, Original.SourceHeader);
    }
}

/// <summary>Applies a <see cref="PreprocessingPlan"/> to images and their label maps.</summary>
public sealed class CasePreprocessor(PreprocessingPlan plan)
{
    public PreprocessingPlan Plan { get; } = plan;

    public PreprocessedCase Prepare(Volume image)
    {
        var reorientation = Plan.ReorientToCanonical
            ? AxisReorientation.ToCanonical(image.Affine)
            : new AxisReorientation(new[] { 0, 1, 2 }, new bool[3]);
        var reoriented = reorientation.Apply(image);
        var resampled = Plan.TargetSpacing is { } spacing
            ? Resampler.ToSpacing(reoriented, spacing, Plan.ImageInterpolation)
            : reoriented;
        if (Plan.Normalization is not null && Plan.PerCaseNormalization is not null)
            throw new InvalidOperationException($"plan '{Plan.Name}' has both a dataset-wide and a per-case normalisation");
        var normalized = Plan.Normalization is { } norm ? resampled.WithVoxels(norm.Apply(resampled.Voxels))
            : Plan.PerCaseNormalization is { } perCase ? resampled.WithVoxels(perCase.Apply(resampled.Voxels))
            : resampled;
        return new PreprocessedCase(normalized, image, reorientation,
            new[] { reoriented.SizeX, reoriented.SizeY, reoriented.SizeZ });
    }

    /// <summary>A label map brought into the same grid as its image (nearest neighbour).</summary>
    public Volume PrepareLabels(Volume labels)
    {
        var reoriented = Plan.ReorientToCanonical ? AxisReorientation.ToCanonical(labels.Affine).Apply(labels) : labels;
        return Plan.TargetSpacing is { } spacing ? Resampler.ToSpacing(reoriented, spacing, Interpolation.Nearest) : reoriented;
    }
}
